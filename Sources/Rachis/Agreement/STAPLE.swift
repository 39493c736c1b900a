import Foundation

/// STAPLE (Warfield, Zou and Wells, "Simultaneous Truth and Performance Level Estimation", IEEE TMI 2004) for
/// binary masks: an EM estimate of the hidden true segmentation T and of each rater j's sensitivity p_j and
/// specificity q_j from the raters' decisions D_ij ∈ {0, 1} at voxels i.
///
/// E-step, with γ_i = P(T_i = 1) the prior:
///
///     a_i = γ_i · Π_j p_j^D_ij · (1 − p_j)^(1 − D_ij)
///     b_i = (1 − γ_i) · Π_j q_j^(1 − D_ij) · (1 − q_j)^D_ij
///     W_i = a_i / (a_i + b_i)                              soft consensus P(T_i = 1 | D, p, q)
///
/// (computed from log a_i and log b_i, so that many raters cannot underflow), M-step:
///
///     p_j = Σ_i W_i·D_ij / Σ_i W_i
///     q_j = Σ_i (1 − W_i)·(1 − D_ij) / Σ_i (1 − W_i)
///
/// Starting from p_j = q_j = `initialPerformance`, the two steps alternate until no p_j or q_j moves by more than
/// `tolerance` (converged), or for `maxIterations` rounds. The consensus returned is a final E-step with the
/// returned p and q, so the three are consistent. p_j and q_j are kept in [ε, 1 − ε] (ε = 1e-10) so that a rater
/// who is always right does not put log 0 into the E-step.
///
/// The prior: `.raterMean` is one global γ, the mean over raters of the fraction of voxels they label 1 (ITK's
/// default); `.global(γ)` a given one; `.perVoxel` a spatial prior (e.g. an atlas), one γ_i per voxel. The
/// prior is not re-estimated. Voxels where every rater agrees take part (the paper's default); with a large
/// agreed background they mostly raise the specificities.
public struct STAPLE: Sendable {
    public enum Prior: Sendable, Equatable {
        case raterMean
        case global(Double)
        case perVoxel([Double])
    }

    public var prior: Prior
    public var tolerance: Double
    public var maxIterations: Int
    public var initialPerformance: Double

    public init(prior: Prior = .raterMean, tolerance: Double = 1e-6, maxIterations: Int = 200, initialPerformance: Double = 0.99) {
        (self.prior, self.tolerance, self.maxIterations, self.initialPerformance) = (prior, tolerance, maxIterations, initialPerformance)
    }

    public struct Result: Sendable, Equatable {
        /// W_i per voxel.
        public var consensus: [Double]
        /// p_j per rater.
        public var sensitivity: [Double]
        /// q_j per rater.
        public var specificity: [Double]
        /// EM rounds run (E-step + M-step each).
        public var iterations: Int
        public var converged: Bool
        /// The global prior used (the mean of γ_i for a per-voxel prior).
        public var priorForeground: Double
    }

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case noRater
        case sizeMismatch(rater: Int, expected: Int, found: Int)
        case invalidPrior(String)

        public var description: String {
            switch self {
            case .noRater: "STAPLE needs at least one rater"
            case let .sizeMismatch(rater, expected, found): "STAPLE: rater \(rater) has \(found) voxels, expected \(expected)"
            case let .invalidPrior(message): "STAPLE: \(message)"
            }
        }
    }

    static let epsilon = 1e-10

    /// - Parameter decisions: one mask per rater (`true` = the rater labels the voxel), all the same size.
    public func callAsFunction(_ decisions: [[Bool]]) throws(Error) -> Result {
        guard let first = decisions.first else { throw .noRater }
        let n = first.count
        for (j, d) in decisions.enumerated() where d.count != n { throw .sizeMismatch(rater: j, expected: n, found: d.count) }
        let raters = decisions.count
        let gamma: [Double]
        switch prior {
        case .raterMean:
            let labelled = decisions.reduce(0) { $0 + $1.reduce(0) { $0 + ($1 ? 1 : 0) } }
            gamma = [n == 0 ? 0.5 : Double(labelled) / Double(n * raters)]
        case let .global(g):
            guard (0...1).contains(g) else { throw .invalidPrior("the global prior must lie in [0, 1], found \(g)") }
            gamma = [g]
        case let .perVoxel(values):
            guard values.count == n else { throw .invalidPrior("the per-voxel prior has \(values.count) values for \(n) voxels") }
            guard values.allSatisfy({ (0...1).contains($0) }) else { throw .invalidPrior("every per-voxel prior must lie in [0, 1]") }
            gamma = values
        }
        var p = [Double](repeating: Self.clamp(initialPerformance), count: raters)
        var q = p
        var weights = [Double](repeating: 0, count: n)
        func eStep() {
            let logP = p.map { Foundation.log($0) }, log1mP = p.map { Foundation.log(1 - $0) }
            let logQ = q.map { Foundation.log($0) }, log1mQ = q.map { Foundation.log(1 - $0) }
            let logGamma = gamma.map { Foundation.log($0) }, log1mGamma = gamma.map { Foundation.log(1 - $0) }
            for i in 0..<n {
                var la = gamma.count == 1 ? logGamma[0] : logGamma[i]
                var lb = gamma.count == 1 ? log1mGamma[0] : log1mGamma[i]
                for j in 0..<raters {
                    if decisions[j][i] { la += logP[j]; lb += log1mQ[j] } else { la += log1mP[j]; lb += logQ[j] }
                }
                // W = 1 / (1 + exp(lb − la)), with γ = 0 or 1 giving −∞ on one side.
                weights[i] = la == -.infinity ? 0 : lb == -.infinity ? 1 : 1 / (1 + Foundation.exp(lb - la))
            }
        }
        var iterations = 0, converged = false
        while iterations < maxIterations {
            eStep()
            iterations += 1
            let sumW = weights.reduce(0, +), sumNotW = Double(n) - sumW
            var change = 0.0
            for j in 0..<raters {
                var hit = 0.0, reject = 0.0
                let d = decisions[j]
                for i in 0..<n { if d[i] { hit += weights[i] } else { reject += 1 - weights[i] } }
                let newP = Self.clamp(sumW > 0 ? hit / sumW : p[j]), newQ = Self.clamp(sumNotW > 0 ? reject / sumNotW : q[j])
                change = Swift.max(change, abs(newP - p[j]), abs(newQ - q[j]))
                (p[j], q[j]) = (newP, newQ)
            }
            if change <= tolerance {
                converged = true
                break
            }
        }
        eStep()
        return Result(consensus: weights, sensitivity: p, specificity: q, iterations: iterations, converged: converged,
                      priorForeground: gamma.reduce(0, +) / Double(gamma.count))
    }

    static func clamp(_ x: Double) -> Double { Swift.min(Swift.max(x, epsilon), 1 - epsilon) }
}
