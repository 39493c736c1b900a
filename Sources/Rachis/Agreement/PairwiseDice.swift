/// Dice between raters, pair by pair: how much two raters' masks of one label overlap.
///
/// For raters a and b and a label value ℓ, with A = {v : labelsₐ[v] = ℓ} and B = {v : label_b[v] = ℓ}:
///
///     Dice(a, b; ℓ) = 2·|A ∩ B| / (|A| + |B|)
///
/// NaN when both masks are empty (nothing to agree on), 0 when only one is. The mean over the pairs a < b is
/// NaN-aware (`nanMean`): pairs where both raters left the label out do not count.
public enum PairwiseDice {
    /// One pair of raters (indices into the subject's raters, `first < second`) and their Dice.
    public struct Pair: Codable, Equatable, Sendable {
        public var raters: [Int]
        @NaNAsNull public var dice: Double

        public init(raters: [Int], dice: Double) { (self.raters, self.dice) = (raters, dice) }
    }

    /// Dice of every label value in `labels` for every pair of raters, in one pass per pair:
    /// `result[label][pairIndex]`, pairs in the order (0,1), (0,2), …, (1,2), ….
    public static func dice(_ volumes: [[UInt8]], labels: [UInt8]) -> [UInt8: [Pair]] {
        var result: [UInt8: [Pair]] = [:]
        for label in labels { result[label] = [] }
        var wanted = [Bool](repeating: false, count: 256)
        for label in labels { wanted[Int(label)] = true }
        for a in volumes.indices {
            for b in volumes.indices where b > a {
                var both = [Int](repeating: 0, count: 256), countA = both, countB = both
                let (x, y) = (volumes[a], volumes[b])
                precondition(x.count == y.count, "rater volumes differ in size")
                for i in x.indices {
                    let (u, v) = (Int(x[i]), Int(y[i]))
                    countA[u] += 1
                    countB[v] += 1
                    if u == v { both[u] += 1 }
                }
                for label in labels {
                    let l = Int(label), total = countA[l] + countB[l]
                    result[label]!.append(Pair(raters: [a, b], dice: total == 0 ? .nan : 2 * Double(both[l]) / Double(total)))
                }
            }
        }
        return result
    }

    /// Dice of two binary masks (non-zero is inside): NaN when both are empty.
    public static func dice(_ a: [Bool], _ b: [Bool]) -> Double {
        precondition(a.count == b.count, "masks differ in size")
        var both = 0, total = 0
        for i in a.indices {
            if a[i] { total += 1 }
            if b[i] { total += 1 }
            if a[i] && b[i] { both += 1 }
        }
        return total == 0 ? .nan : 2 * Double(both) / Double(total)
    }
}
