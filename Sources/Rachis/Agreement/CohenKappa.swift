/// Cohen's kappa: agreement of two raters on categorical items beyond what chance would give.
///
/// Over N items rated by both raters a and b with classes in 0..<K:
///
///     p_o = (1/N)·Σᵢ [aᵢ = bᵢ]                        observed agreement
///     p_e = Σ_c (n_a(c)/N)·(n_b(c)/N)                 chance agreement from each rater's class frequencies
///     κ   = (p_o − p_e) / (1 − p_e)
///
/// κ = 1 is perfect agreement, 0 what chance gives, negative less. Undefined (NaN) with no item, and when
/// p_e = 1 (both raters give the same single class to every item: no variation to agree on beyond chance).
public struct CohenKappa: Codable, Equatable, Sendable {
    /// Items rated by both.
    public var items: Int
    @NaNAsNull public var observedAgreement: Double
    @NaNAsNull public var chanceAgreement: Double
    @NaNAsNull public var kappa: Double

    public init(_ a: [Int], _ b: [Int]) {
        precondition(a.count == b.count, "both raters must rate the same items")
        items = a.count
        guard !a.isEmpty else {
            (observedAgreement, chanceAgreement, kappa) = (.nan, .nan, .nan)
            return
        }
        let n = Double(a.count)
        var countA: [Int: Int] = [:], countB: [Int: Int] = [:], agree = 0
        for (x, y) in zip(a, b) {
            countA[x, default: 0] += 1
            countB[y, default: 0] += 1
            if x == y { agree += 1 }
        }
        let po = Double(agree) / n
        let pe = countA.reduce(0.0) { $0 + Double($1.value) / n * Double(countB[$1.key] ?? 0) / n }
        observedAgreement = po
        chanceAgreement = pe
        kappa = pe >= 1 - 1e-12 ? .nan : (po - pe) / (1 - pe)
    }
}
