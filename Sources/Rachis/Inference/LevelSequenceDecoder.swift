import Foundation

/// Assigns levels to vertebrae jointly, as an anatomically ordered sequence, rather than each on its own.
///
/// The vertebrae come sorted cranial to caudal; each has a probability over the 27 levels of
/// `VertebraLevel.anatomicalIDs` (C1 … T12, T13, L1 … L6, S). A labelling gives every vertebra a level, strictly
/// increasing along the spine (no level used twice). Its score is
///
///     Π_i max(p_i(ℓ_i), floor) · Π_i ψ(ℓ_{i−1}, ℓ_i)
///     ψ(a, b) = σ^(regular levels strictly between a and b) · (τ if b is T13 or L6, else 1)
///
/// so consecutive levels cost nothing, skipping a regular level (a missed vertebra, say) costs `skipProbability` σ
/// per level, skipping T13 or L6 is free (most spines have neither), and landing on one costs
/// `transitionalProbability` τ. One vertebra's level has the prior `startPrior` (where fields of view start, from
/// the training subjects, smoothed), or none (any level alike) when it is nil: the first vertebra's, or with
/// `priorOnFirstWhole` the first one the field of view does not cut (`decode`'s `priorRow`). Without a prior, a field
/// of view with no boundary in view (all thoracic, say) scores every window of its region the same, and the most
/// cranial one (T1 …) wins.
///
/// `decode` returns the best labelling (Viterbi, in log space) and each vertebra's posterior marginal over levels
/// (forward–backward under the same potentials), which is the identification confidence of a level.
public struct LevelSequenceDecoder: Sendable {
    public var skipProbability: Double
    public var transitionalProbability: Double
    /// Probabilities below this count as this, so that one confident-zero does not veto a labelling.
    public var floor: Double
    /// Prior probability of each level (`levelCount`, summing to 1) for the vertebra `decode` is told (`priorRow`);
    /// nil: uniform.
    public var startPrior: [Double]?
    /// `startPrior` is about the most cranial vertebra that the field of view does not cut
    /// (`Checkpoint.TrainingData.firstWholeLevelCounts`), not the most cranial one (`firstLevelCounts`): a vertebra
    /// cut to a sliver at the edge is often not detected, which would put the count one level above what the
    /// decoder sees.
    public var priorOnFirstWhole = false

    public static let levelCount = VertebraLevel.anatomicalIDs.count
    /// Anatomical positions of T13 and L6.
    static let optional: Set<Int> = [VertebraLevel.anatomicalIDs.firstIndex(of: 28)!, VertebraLevel.anatomicalIDs.firstIndex(of: 25)!]

    public init(skipProbability: Double = 0.02, transitionalProbability: Double = 0.1, floor: Double = 1e-6, startPrior: [Double]? = nil) {
        (self.skipProbability, self.transitionalProbability, self.floor, self.startPrior) = (skipProbability, transitionalProbability, floor, startPrior)
    }

    /// The start prior from counts of the most cranial level of training subjects (one per `levelCount` level), with
    /// add-one (Laplace) smoothing so that no level is ruled out; nil for nil, all-zero or mis-sized counts.
    public static func startPrior(counts: [Int]?) -> [Double]? {
        guard let counts, counts.count == levelCount, counts.allSatisfy({ $0 >= 0 }), counts.contains(where: { $0 > 0 }) else { return nil }
        let total = Double(counts.reduce(0, +) + levelCount)
        return counts.map { Double($0 + 1) / total }
    }

    public struct Result: Equatable, Sendable {
        /// Anatomical position (index into `VertebraLevel.anatomicalIDs`) per vertebra.
        public var positions: [Int]
        /// `marginals[i][k]`: posterior probability that vertebra i has level k.
        public var marginals: [[Double]]
        /// Natural log of the best labelling's score.
        public var logScore: Double

        public var levelIDs: [Int] { positions.map { VertebraLevel.anatomicalIDs[$0] } }
    }

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case tooMany(Int)
        case badRow(index: Int, count: Int)
        public var description: String {
            switch self {
            case let .tooMany(n): "\(n) vertebrae cannot take distinct levels: there are \(LevelSequenceDecoder.levelCount)"
            case let .badRow(index, count): "vertebra \(index) has \(count) level probabilities, expected \(LevelSequenceDecoder.levelCount)"
            }
        }
    }

    /// log ψ(a, b) for a < b.
    func logTransition(_ a: Int, _ b: Int) -> Double {
        var value = Self.optional.contains(b) ? log(transitionalProbability) : 0
        if b > a + 1 {
            for m in (a + 1)..<b where !Self.optional.contains(m) { value += log(skipProbability) }
        }
        return value
    }

    /// - Parameters:
    ///   - probabilities: one row of `levelCount` probabilities per vertebra, cranial to caudal.
    ///   - priorRow: the vertebra `startPrior` applies to (nil or out of range: none).
    public func decode(_ probabilities: [[Double]], priorRow: Int? = 0) throws(Error) -> Result {
        let n = probabilities.count, k = Self.levelCount
        guard n <= k else { throw .tooMany(n) }
        for (i, row) in probabilities.enumerated() where row.count != k { throw .badRow(index: i, count: row.count) }
        if n == 0 { return Result(positions: [], marginals: [], logScore: 0) }
        var emission = probabilities.map { row in row.map { log(Swift.max($0, floor)) } }
        if let startPrior, startPrior.count == k, let row = priorRow, (0..<n).contains(row) {
            for level in 0..<k { emission[row][level] += log(Swift.max(startPrior[level], floor)) }
        }
        var transition = [[Double]](repeating: [Double](repeating: -.infinity, count: k), count: k)
        for a in 0..<k { for b in (a + 1)..<Swift.max(a + 1, k) { transition[a][b] = logTransition(a, b) } }

        // Viterbi.
        var best = emission[0]
        var back = [[Int]](repeating: [Int](repeating: -1, count: k), count: n)
        for i in 1..<Swift.max(1, n) {
            var next = [Double](repeating: -.infinity, count: k)
            for b in 0..<k {
                for a in 0..<b where best[a] > -.infinity {
                    let s = best[a] + transition[a][b]
                    if s > next[b] { (next[b], back[i][b]) = (s, a) }
                }
                next[b] += emission[i][b]
            }
            best = next
        }
        var last = best.indices.max { best[$0] < best[$1] }!
        let logScore = best[last]
        var positions = [Int](repeating: 0, count: n)
        for i in stride(from: n - 1, through: 0, by: -1) {
            positions[i] = last
            if i > 0 { last = back[i][last] }
        }

        // Forward–backward in log space.
        var alpha = [[Double]](repeating: [Double](repeating: -.infinity, count: k), count: n)
        var beta = alpha
        alpha[0] = emission[0]
        for i in 1..<Swift.max(1, n) {
            for b in 0..<k {
                alpha[i][b] = Self.logSumExp((0..<b).map { alpha[i - 1][$0] + transition[$0][b] }) + emission[i][b]
            }
        }
        beta[n - 1] = [Double](repeating: 0, count: k)
        for i in stride(from: n - 2, through: 0, by: -1) {
            for a in 0..<k {
                beta[i][a] = Self.logSumExp(((a + 1)..<Swift.max(a + 1, k)).map { transition[a][$0] + emission[i + 1][$0] + beta[i + 1][$0] })
            }
        }
        let logZ = Self.logSumExp(alpha[n - 1])
        // Clamped: rounding in log space can give 1 + 1e-14, which is not a probability (the prediction schema rejects it).
        let marginals = (0..<n).map { i in (0..<k).map { Swift.min(1, exp(alpha[i][$0] + beta[i][$0] - logZ)) } }
        return Result(positions: positions, marginals: marginals, logScore: logScore)
    }

    static func logSumExp(_ values: [Double]) -> Double {
        guard let m = values.max(), m > -.infinity else { return -.infinity }
        return m + log(values.reduce(0) { $0 + exp($1 - m) })
    }
}
