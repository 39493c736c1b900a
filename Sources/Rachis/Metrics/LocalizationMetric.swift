/// A vertebra found or annotated in one subject: its VerSe level and centroid in millimetres.
public struct VertebraPoint: Equatable, Sendable {
    public var levelID: Int
    public var centroidMM: [Double]

    public init(levelID: Int, centroidMM: [Double]) { (self.levelID, self.centroidMM) = (levelID, centroidMM) }

    /// From a continuous voxel index and the voxel spacing: `centroidMM[i] = voxel[i]·spacingMM[i]` (a frame
    /// aligned with the array, which is all distances need).
    public init(levelID: Int, voxel: [Double], spacingMM: [Double]) {
        self.init(levelID: levelID, centroidMM: zip(voxel, spacingMM).map { $0 * $1 })
    }

    func distanceMM(to other: VertebraPoint) -> Double {
        zip(centroidMM, other.centroidMM).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
    }
}

/// Localization and identification over subjects, accumulated then aggregated.
///
/// - Localization distance: for each ground-truth vertebra with a predicted vertebra of the same level, the
///   Euclidean distance between the two centroids in mm.
/// - Identification rate, VerSe's rule exactly (`get_hits` in utils/eval_utilities.py of github.com/anjany/verse):
///   one centroid per level on each side (a level given twice keeps its last centroid, as VerSe's
///   `prepare_ctd_array` does); let L be the levels present in both the truth and the prediction. The predicted
///   vertebra of level l ∈ L is a hit when, among the true centroids of the levels in L, the nearest to it is the
///   one of level l (ties go to the lower level id, numpy's `argmin`) and it lies at most `maximumDistanceMM`
///   (20 mm) away. Levels only in the truth are misses, levels only in the prediction are ignored. The rate is the
///   hits over the ground-truth vertebrae, pooled over subjects.
/// - Strict identification rate (Rachis's earlier rule, kept as a second figure): as above, but the nearest true
///   centroid is searched among all true levels, not only those the prediction also names; each true vertebra
///   counts at most once. With one prediction per level and no ties it is never above the VerSe rate: a true
///   vertebra the prediction skipped can still be the nearest and turn a VerSe hit into a miss.
/// - The same figures over the whole vertebrae alone (`LocalizationResult.whole`): the true vertebrae the field of
///   view does not cut. Hits and distances are those above (every true vertebra still takes part in VerSe's
///   nearest-centroid rule); only the vertebrae counted change. A vertebra the field of view cuts to a sliver (a
///   spinous process's tip in a corner) has a centroid only of its visible part, which no reader could place.
public struct LocalizationMetric: Sendable {
    public var maximumDistanceMM: Double
    private(set) var distancesMM: [Double] = []
    private(set) var identified = 0
    private(set) var identifiedStrict = 0
    private(set) var truthCount = 0
    private(set) var predictedCount = 0
    private(set) var wholeDistancesMM: [Double] = []
    private(set) var wholeIdentified = 0
    private(set) var wholeTruthCount = 0

    public init(maximumDistanceMM: Double = 20) { self.maximumDistanceMM = maximumDistanceMM }

    /// Adds one subject. `cutLevels`: the level ids of the true vertebrae the field of view cuts (left out of the
    /// whole-vertebra figures).
    public mutating func add(predicted: [VertebraPoint], truth: [VertebraPoint], cutLevels: Set<Int> = []) {
        truthCount += truth.count
        predictedCount += predicted.count
        for t in truth {
            let whole = !cutLevels.contains(t.levelID)
            if whole { wholeTruthCount += 1 }
            if let d = predicted.filter({ $0.levelID == t.levelID }).map({ $0.distanceMM(to: t) }).min() {
                distancesMM.append(d)
                if whole { wholeDistancesMM.append(d) }
            }
        }
        let hits = Self.verseHits(predicted: predicted, truth: truth, maximumDistanceMM: maximumDistanceMM)
        identified += hits.count
        wholeIdentified += hits.filter { !cutLevels.contains($0) }.count
        identifiedStrict += Self.strictHits(predicted: predicted, truth: truth, maximumDistanceMM: maximumDistanceMM).count
    }

    /// The level ids VerSe's `get_hits` counts as identified (see the type's doc), ascending.
    public static func verseHits(predicted: [VertebraPoint], truth: [VertebraPoint], maximumDistanceMM: Double = 20) -> [Int] {
        // One centroid per level, the last one given, as VerSe's (level id - 1)-indexed arrays hold them.
        var truthByLevel: [Int: VertebraPoint] = [:], predictedByLevel: [Int: VertebraPoint] = [:]
        for t in truth { truthByLevel[t.levelID] = t }
        for p in predicted { predictedByLevel[p.levelID] = p }
        let shared = truthByLevel.keys.filter { predictedByLevel[$0] != nil }.sorted()
        return shared.filter { level in
            let p = predictedByLevel[level]!
            // numpy's argmin: the first minimum in ascending level id order.
            var nearest = shared[0], best = p.distanceMM(to: truthByLevel[nearest]!)
            for other in shared.dropFirst() {
                let d = p.distanceMM(to: truthByLevel[other]!)
                if d < best { (nearest, best) = (other, d) }
            }
            return nearest == level && best <= maximumDistanceMM
        }
    }

    /// The level ids the strict rule counts as identified (see the type's doc), ascending.
    public static func strictHits(predicted: [VertebraPoint], truth: [VertebraPoint], maximumDistanceMM: Double = 20) -> [Int] {
        var done = Set<Int>()
        for p in predicted {
            guard let nearest = truth.indices.min(by: { truth[$0].distanceMM(to: p) < truth[$1].distanceMM(to: p) }) else { continue }
            if truth[nearest].levelID == p.levelID, truth[nearest].distanceMM(to: p) <= maximumDistanceMM {
                done.insert(nearest)
            }
        }
        return done.map { truth[$0].levelID }.sorted()
    }

    public func aggregate() -> LocalizationResult {
        let sorted = distancesMM.sorted()
        let median = sorted.isEmpty ? Double.nan
            : sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        let rate = { (hits: Int, count: Int) in count == 0 ? Double.nan : Double(hits) / Double(count) }
        return LocalizationResult(meanDistanceMM: nanMean(distancesMM).mean, medianDistanceMM: median,
                                  distanceCount: distancesMM.count,
                                  identificationRate: rate(identified, truthCount), identifiedCount: identified,
                                  strictIdentificationRate: rate(identifiedStrict, truthCount), strictIdentifiedCount: identifiedStrict,
                                  truthCount: truthCount, predictedCount: predictedCount,
                                  whole: .init(identificationRate: rate(wholeIdentified, wholeTruthCount), identifiedCount: wholeIdentified,
                                               truthCount: wholeTruthCount, meanDistanceMM: nanMean(wholeDistancesMM).mean,
                                               distanceCount: wholeDistancesMM.count))
    }

    public mutating func reset() { self = LocalizationMetric(maximumDistanceMM: maximumDistanceMM) }
}

public struct LocalizationResult: Codable, Equatable, Sendable {
    /// NaN when no ground-truth vertebra had a prediction of its level.
    @NaNAsNull public var meanDistanceMM: Double
    @NaNAsNull public var medianDistanceMM: Double
    public var distanceCount: Int
    /// VerSe's `get_hits` rule (`LocalizationMetric`); NaN when there was no ground-truth vertebra.
    @NaNAsNull public var identificationRate: Double
    public var identifiedCount: Int
    /// The strict rule (nearest among all true levels); NaN when there was no ground-truth vertebra.
    @NaNAsNull public var strictIdentificationRate: Double
    public var strictIdentifiedCount: Int
    public var truthCount: Int
    public var predictedCount: Int
    /// The identification rate and mean distance over the true vertebrae the field of view does not cut (nil in
    /// evaluations written before schema version 3).
    public var whole: WholeVertebrae?

    public struct WholeVertebrae: Codable, Equatable, Sendable {
        /// Hits (VerSe's rule, among all true vertebrae) of whole vertebrae over the whole true vertebrae; NaN when none.
        @NaNAsNull public var identificationRate: Double
        public var identifiedCount: Int
        public var truthCount: Int
        /// NaN when no whole true vertebra had a prediction of its level.
        @NaNAsNull public var meanDistanceMM: Double
        public var distanceCount: Int
    }
}
