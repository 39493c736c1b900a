import Foundation
import Torch

/// The log-barrier extension of Kervadec et al. ("Constrained deep networks: Lagrangian optimization via
/// log-barrier extensions", 2019) for a constraint z ≤ 0:
///
///     ψ_t(z) = −log(−z) / t                          if z ≤ −1/t²
///     ψ_t(z) = t·z − log(1/t²)/t + 1/t               otherwise
///
/// The second branch is the tangent of the first at z = −1/t², so value and slope (t) are continuous there; ψ_t
/// is defined, convex and increasing for every z (a violated constraint costs t per unit of violation), and
/// approaches the hard barrier (0 for z ≤ 0, ∞ otherwise) as t grows. Its derivative is −1/(t·z) on the first
/// branch and t on the second. Kervadec et al. start at t = 5 and multiply t by 1.1 every epoch.
public struct LogBarrier: Sendable, Equatable {
    public var t: Double

    public init(t: Double = 5) {
        precondition(t > 0, "the log-barrier needs t > 0")
        self.t = t
    }

    /// z ≤ −1/t²: where the barrier is the logarithm.
    public var joint: Double { -1 / (t * t) }

    /// ψ_t(z) element-wise, differentiable. The logarithm is evaluated on z clamped to the first branch, so the
    /// branch that is not taken cannot put a NaN into the gradient.
    public func callAsFunction(_ z: Tensor) throws -> Tensor {
        let inside = try z.le(joint)
        let logBranch = try z.clamp(max: joint).neg().log() * (-1 / t)
        let linearBranch = try z * t + (-Foundation.log(1 / (t * t)) / t + 1 / t)
        return try logBranch.where(inside, else: linearBranch)
    }

    /// ψ_t(z) for one number.
    public func value(_ z: Double) -> Double {
        z <= joint ? -Foundation.log(-z) / t : t * z - Foundation.log(1 / (t * t)) / t + 1 / t
    }

    /// dψ_t/dz for one number.
    public func derivative(_ z: Double) -> Double {
        z <= joint ? -1 / (t * z) : t
    }
}
