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
/// prior is not re-estimated. With a global prior W_i depends on voxel i's ratings only, so the EM runs over the
/// distinct rating patterns weighted by their voxel counts (at most 2^raters of them): the cost per round does not
/// grow with the volume. Voxels where every rater agrees take part (the paper's default); with a large
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
        case tooManyRaters(Int)

        public var description: String {
            switch self {
            case .noRater: "STAPLE needs at least one rater"
            case let .sizeMismatch(rater, expected, found): "STAPLE: rater \(rater) has \(found) voxels, expected \(expected)"
            case let .invalidPrior(message): "STAPLE: \(message)"
            case let .tooManyRaters(count): "STAPLE: \(count) raters, at most 64"
            }
        }
    }

    static let epsilon = 1e-10

    /// - Parameter decisions: one mask per rater (`true` = the rater labels the voxel), all the same size; at most 64.
    public func callAsFunction(_ decisions: [[Bool]]) throws(Error) -> Result {
        guard let first = decisions.first else { throw .noRater }
        let n = first.count
        for (j, d) in decisions.enumerated() where d.count != n { throw .sizeMismatch(rater: j, expected: n, found: d.count) }
        let raters = decisions.count
        guard raters <= 64 else { throw .tooManyRaters(raters) }
        // Each voxel's ratings as a bit pattern (bit j: rater j says 1).
        var patterns = [UInt64](repeating: 0, count: n)
        for j in 0..<raters {
            let bit = UInt64(1) << UInt64(j)
            let d = decisions[j]
            for i in 0..<n where d[i] { patterns[i] |= bit }
        }
        // The EM runs over units: with one global prior, W depends on a voxel's pattern only, so a unit is a
        // pattern with its voxel count (at most 2^raters units, however large the volume); with a per-voxel prior
        // a unit is a voxel.
        var unitPattern: [UInt64] = [], unitCount: [Double] = [], unitGamma: [Double] = []
        var unitOfVoxel = [Int](repeating: 0, count: n)
        let globalGamma: Double?
        switch prior {
        case .raterMean:
            let labelled = patterns.reduce(0) { $0 + $1.nonzeroBitCount }
            globalGamma = n == 0 ? 0.5 : Double(labelled) / Double(n * raters)
        case let .global(g):
            guard (0...1).contains(g) else { throw .invalidPrior("the global prior must lie in [0, 1], found \(g)") }
            globalGamma = g
        case let .perVoxel(values):
            guard values.count == n else { throw .invalidPrior("the per-voxel prior has \(values.count) values for \(n) voxels") }
            guard values.allSatisfy({ (0...1).contains($0) }) else { throw .invalidPrior("every per-voxel prior must lie in [0, 1]") }
            globalGamma = nil
            (unitPattern, unitCount, unitGamma) = (patterns, [Double](repeating: 1, count: n), values)
            unitOfVoxel = Array(0..<n)
        }
        if let globalGamma {
            var index: [UInt64: Int] = [:]
            for i in 0..<n {
                if let u = index[patterns[i]] {
                    unitCount[u] += 1
                    unitOfVoxel[i] = u
                } else {
                    index[patterns[i]] = unitPattern.count
                    unitOfVoxel[i] = unitPattern.count
                    unitPattern.append(patterns[i])
                    unitCount.append(1)
                    unitGamma.append(globalGamma)
                }
            }
        }
        let units = unitPattern.count
        var p = [Double](repeating: Self.clamp(initialPerformance), count: raters)
        var q = p
        var weights = [Double](repeating: 0, count: units)
        func eStep() {
            let logP = p.map { Foundation.log($0) }, log1mP = p.map { Foundation.log(1 - $0) }
            let logQ = q.map { Foundation.log($0) }, log1mQ = q.map { Foundation.log(1 - $0) }
            for u in 0..<units {
                var la = Foundation.log(unitGamma[u]), lb = Foundation.log(1 - unitGamma[u])
                let pattern = unitPattern[u]
                for j in 0..<raters {
                    if pattern & (UInt64(1) << UInt64(j)) != 0 { la += logP[j]; lb += log1mQ[j] } else { la += log1mP[j]; lb += logQ[j] }
                }
                // W = 1 / (1 + exp(lb − la)), with γ = 0 or 1 giving −∞ on one side.
                weights[u] = la == -.infinity ? 0 : lb == -.infinity ? 1 : 1 / (1 + Foundation.exp(lb - la))
            }
        }
        var iterations = 0, converged = false
        while iterations < maxIterations {
            eStep()
            iterations += 1
            var sumW = 0.0
            for u in 0..<units { sumW += unitCount[u] * weights[u] }
            let sumNotW = Double(n) - sumW
            var change = 0.0
            for j in 0..<raters {
                var hit = 0.0, reject = 0.0
                let bit = UInt64(1) << UInt64(j)
                for u in 0..<units {
                    if unitPattern[u] & bit != 0 { hit += unitCount[u] * weights[u] } else { reject += unitCount[u] * (1 - weights[u]) }
                }
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
        return Result(consensus: unitOfVoxel.map { weights[$0] }, sensitivity: p, specificity: q, iterations: iterations,
                      converged: converged, priorForeground: globalGamma ?? unitGamma.reduce(0, +) / Double(Swift.max(n, 1)))
    }

    static func clamp(_ x: Double) -> Double { Swift.min(Swift.max(x, epsilon), 1 - epsilon) }
}
