import Foundation

/// How much of one decision's attribution lies in the vertebra that decision is about.
///
/// R is the relevance map summed over channels, M the vertebra's region (grown by `marginMM` when given), N the
/// number of voxels, R⁺ = max(R, 0):
///
/// - `massInsidePositive` = Σ_{v∈M} R⁺_v / Σ_v R⁺_v (NaN when R⁺ is 0 everywhere)
/// - `massInsideAbsolute` = Σ_{v∈M} |R_v| / Σ_v |R_v| (NaN when R is 0 everywhere)
/// - `rankAccuracy` = |top_{|M|}(R) ∩ M| / |M|: of the |M| most relevant voxels, the fraction inside (relevance
///   rank accuracy, Arras et al. 2022)
/// - `pointingGame` = 1 when the voxel of maximum R lies in M, else 0 (Zhang et al. 2018)
/// - `topKIntersection` = |top_k(R) ∩ M| / k with k = `topK` voxels
/// - `auc` = the ROC AUC of R as a score for membership of M (Mann–Whitney U; ties count half); NaN when M is
///   empty or the whole volume
///
/// Every metric is NaN when M is empty: an empty region says nothing, so it is neither a pass nor a failure.
/// Ties in the top-k rankings go to the lower voxel index.
public struct AttributionConsistency: Codable, Equatable, Sendable {
    @NaNAsNull public var massInsidePositive: Double
    @NaNAsNull public var massInsideAbsolute: Double
    @NaNAsNull public var rankAccuracy: Double
    @NaNAsNull public var pointingGame: Double
    @NaNAsNull public var topKIntersection: Double
    @NaNAsNull public var auc: Double
    /// Voxels in M.
    public var maskVoxels: Int

    public static func compute(relevance: [Float], mask: [Bool], topK: Int) -> AttributionConsistency {
        precondition(relevance.count == mask.count, "relevance and mask differ in size")
        let inside = mask.reduce(0) { $0 + ($1 ? 1 : 0) }
        guard inside > 0 else {
            return AttributionConsistency(massInsidePositive: .nan, massInsideAbsolute: .nan, rankAccuracy: .nan, pointingGame: .nan,
                                          topKIntersection: .nan, auc: .nan, maskVoxels: 0)
        }
        var positiveIn = 0.0, positiveAll = 0.0, absoluteIn = 0.0, absoluteAll = 0.0
        for (r, m) in zip(relevance, mask) {
            let p = Double(max(r, 0)), a = Double(abs(r))
            positiveAll += p
            absoluteAll += a
            if m { positiveIn += p; absoluteIn += a }
        }
        let order = relevance.indices.sorted { relevance[$0] > relevance[$1] || (relevance[$0] == relevance[$1] && $0 < $1) }
        func fractionInTop(_ k: Int) -> Double {
            let k = min(k, order.count)
            return Double(order.prefix(k).reduce(0) { $0 + (mask[$1] ? 1 : 0) }) / Double(k)
        }
        return AttributionConsistency(
            massInsidePositive: positiveAll > 0 ? positiveIn / positiveAll : .nan,
            massInsideAbsolute: absoluteAll > 0 ? absoluteIn / absoluteAll : .nan,
            rankAccuracy: fractionInTop(inside),
            pointingGame: mask[order[0]] ? 1 : 0,
            topKIntersection: fractionInTop(max(1, topK)),
            auc: ClassificationMetric.auc(scores: relevance.map(Double.init), positive: mask),
            maskVoxels: inside)
    }

    /// The region grown by `marginMM` (`RegionMargin`): every voxel within that distance (centre to centre, in mm)
    /// of a region voxel.
    public static func grow(_ mask: [Bool], shape: [Int], spacingMM: [Double], marginMM: Double) -> [Bool] {
        RegionMargin(marginMM: marginMM).grow(mask, shape: shape, spacingMM: spacingMM)
    }
}
