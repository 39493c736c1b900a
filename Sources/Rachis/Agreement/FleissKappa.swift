/// Fleiss' kappa: agreement of n raters on N categorical items (the raters may differ from item to item, but
/// every item gets n ratings).
///
/// With n_ij the number of raters who put item i in class j (Σ_j n_ij = n):
///
///     P_i  = (Σ_j n_ij² − n) / (n·(n − 1))            agreement on item i (pairs of raters that agree)
///     P̄    = (1/N)·Σᵢ P_i
///     p_j  = (1/(N·n))·Σᵢ n_ij                        share of all ratings in class j
///     P̄_e  = Σ_j p_j²
///     κ    = (P̄ − P̄_e) / (1 − P̄_e)
///
/// Undefined (NaN) with no item, fewer than 2 raters, or P̄_e = 1 (every rating in one class).
public struct FleissKappa: Codable, Equatable, Sendable {
    public var items: Int
    public var raters: Int
    @NaNAsNull public var meanAgreement: Double
    @NaNAsNull public var chanceAgreement: Double
    @NaNAsNull public var kappa: Double
    /// p_j by class index (0..<K), K the largest class seen + 1.
    public var classShares: [Double]

    /// - Parameter counts: one row per item, n_ij per class; every row sums to the same n.
    public init(counts: [[Int]]) {
        items = counts.count
        let n = counts.first?.reduce(0, +) ?? 0
        raters = n
        precondition(counts.allSatisfy { $0.reduce(0, +) == n }, "every item needs the same number of ratings")
        let classes = counts.map(\.count).max() ?? 0
        guard items > 0, n >= 2 else {
            (meanAgreement, chanceAgreement, kappa, classShares) = (.nan, .nan, .nan, [])
            return
        }
        let (N, nd) = (Double(items), Double(n))
        let pBar = counts.reduce(0.0) { sum, row in
            sum + (Double(row.reduce(0) { $0 + $1 * $1 }) - nd) / (nd * (nd - 1))
        } / N
        let shares = (0..<classes).map { j in Double(counts.reduce(0) { $0 + ($1.indices.contains(j) ? $1[j] : 0) }) / (N * nd) }
        let pe = shares.reduce(0) { $0 + $1 * $1 }
        meanAgreement = pBar
        chanceAgreement = pe
        classShares = shares
        kappa = pe >= 1 - 1e-12 ? .nan : (pBar - pe) / (1 - pe)
    }

    /// From the raw ratings: `ratings[i]` holds the class each rater gave item i (all rows the same length).
    public init(ratings: [[Int]]) {
        let classes = (ratings.flatMap { $0 }.max() ?? -1) + 1
        self.init(counts: ratings.map { row in
            var counts = [Int](repeating: 0, count: classes)
            for c in row { counts[c] += 1 }
            return counts
        })
    }
}
