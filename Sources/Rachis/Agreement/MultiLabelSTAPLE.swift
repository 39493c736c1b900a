import Foundation

/// Multi-label STAPLE (Warfield, Zou and Wells 2004, section II.C): each rater j is described by a confusion
/// matrix θ_j[s′][s] = P(rater j says s′ | the truth is s) over the labels 0..<L, and the EM estimates θ and the
/// per-voxel posterior of the true label.
///
/// E-step, with f(s) the prior of label s:
///
///     W_i(s) = f(s) · Π_j θ_j[D_ij][s]  /  Σ_s′ f(s′) · Π_j θ_j[D_ij][s′]
///
/// M-step:
///
///     θ_j[s′][s] = Σ_{i : D_ij = s′} W_i(s) / Σ_i W_i(s)
///
/// θ starts at `initialPerformance` on the diagonal and the rest spread evenly over the other labels; the steps
/// alternate until no θ entry moves by more than `tolerance`, or for `maxIterations` rounds, and a final E-step
/// gives the consensus. The prior f is the raters' mean label frequency (fixed). Entries are kept ≥ ε = 1e-10
/// so that log 0 never enters. As with `STAPLE`, W_i depends only on voxel i's ratings, so the EM runs over the
/// distinct rating tuples weighted by their voxel counts. With L = 2 it is binary STAPLE: θ_j[1][1] = p_j,
/// θ_j[0][0] = q_j.
public struct MultiLabelSTAPLE: Sendable {
    public var tolerance: Double
    public var maxIterations: Int
    public var initialPerformance: Double

    public init(tolerance: Double = 1e-6, maxIterations: Int = 200, initialPerformance: Double = 0.99) {
        (self.tolerance, self.maxIterations, self.initialPerformance) = (tolerance, maxIterations, initialPerformance)
    }

    public struct Result: Sendable, Equatable {
        /// W_i(s), voxel-major: `consensus[i * labels + s]`.
        public var consensus: [Double]
        public var labels: Int
        /// θ_j[s′][s] per rater j.
        public var confusion: [[[Double]]]
        public var iterations: Int
        public var converged: Bool
        /// f(s).
        public var prior: [Double]

        /// θ_j[s][s]: how often rater j finds label s where it is.
        public func sensitivity(rater j: Int, label s: Int) -> Double { confusion[j][s][s] }

        /// The most probable label per voxel (ties to the lowest label).
        public var labelMap: [Int] {
            (0..<(consensus.count / Swift.max(labels, 1))).map { i in
                (0..<labels).max { consensus[i * labels + $0] < consensus[i * labels + $1] || (consensus[i * labels + $0] == consensus[i * labels + $1] && $0 > $1) }!
            }
        }
    }

    /// - Parameters:
    ///   - decisions: one label volume per rater, all the same size.
    ///   - labels: L; every value must be below it.
    public func callAsFunction(_ decisions: [[UInt8]], labels: Int) throws(STAPLE.Error) -> Result {
        guard let first = decisions.first else { throw .noRater }
        let n = first.count, raters = decisions.count
        for (j, d) in decisions.enumerated() where d.count != n { throw .sizeMismatch(rater: j, expected: n, found: d.count) }
        guard labels >= 2 else { throw .invalidPrior("multi-label STAPLE needs at least 2 labels, found \(labels)") }
        // Units: distinct rating tuples with their voxel counts; label frequencies for the prior.
        var index: [[UInt8]: Int] = [:]
        var tuples: [[UInt8]] = [], counts: [Double] = [], unitOfVoxel = [Int](repeating: 0, count: n)
        var frequency = [Double](repeating: 0, count: labels)
        for i in 0..<n {
            let tuple = decisions.map { $0[i] }
            for v in tuple {
                guard Int(v) < labels else { throw .invalidPrior("label \(v) found, but only \(labels) labels") }
                frequency[Int(v)] += 1
            }
            if let u = index[tuple] {
                counts[u] += 1
                unitOfVoxel[i] = u
            } else {
                index[tuple] = tuples.count
                unitOfVoxel[i] = tuples.count
                tuples.append(tuple)
                counts.append(1)
            }
        }
        let prior = frequency.map { n == 0 ? 1 / Double(labels) : $0 / Double(n * raters) }
        let logPrior = prior.map { Foundation.log(Swift.max($0, STAPLE.epsilon)) }
        let off = (1 - initialPerformance) / Double(labels - 1)
        var theta = [[[Double]]](repeating: (0..<labels).map { a in (0..<labels).map { b in a == b ? initialPerformance : off } }, count: raters)
        let units = tuples.count
        var w = [Double](repeating: 0, count: units * labels)
        func eStep() {
            let logTheta = theta.map { $0.map { $0.map { Foundation.log(Swift.max($0, STAPLE.epsilon)) } } }
            var scores = [Double](repeating: 0, count: labels)
            for u in 0..<units {
                for s in 0..<labels {
                    var score = logPrior[s]
                    for j in 0..<raters { score += logTheta[j][Int(tuples[u][j])][s] }
                    scores[s] = score
                }
                let top = scores.max()!
                let total = scores.reduce(0) { $0 + Foundation.exp($1 - top) }
                for s in 0..<labels { w[u * labels + s] = Foundation.exp(scores[s] - top) / total }
            }
        }
        var iterations = 0, converged = false
        while iterations < maxIterations {
            eStep()
            iterations += 1
            var mass = [Double](repeating: 0, count: labels)
            for u in 0..<units { for s in 0..<labels { mass[s] += counts[u] * w[u * labels + s] } }
            var change = 0.0
            for j in 0..<raters {
                var next = [[Double]](repeating: [Double](repeating: 0, count: labels), count: labels)
                for u in 0..<units {
                    let said = Int(tuples[u][j])
                    for s in 0..<labels { next[said][s] += counts[u] * w[u * labels + s] }
                }
                for a in 0..<labels {
                    for s in 0..<labels {
                        let value = mass[s] > 0 ? Swift.max(next[a][s] / mass[s], STAPLE.epsilon) : theta[j][a][s]
                        change = Swift.max(change, abs(value - theta[j][a][s]))
                        next[a][s] = value
                    }
                }
                theta[j] = next
            }
            if change <= tolerance {
                converged = true
                break
            }
        }
        eStep()
        var consensus = [Double](repeating: 0, count: n * labels)
        for i in 0..<n { for s in 0..<labels { consensus[i * labels + s] = w[unitOfVoxel[i] * labels + s] } }
        return Result(consensus: consensus, labels: labels, confusion: theta, iterations: iterations, converged: converged, prior: prior)
    }
}
