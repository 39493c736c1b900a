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
/// - Identification rate (VerSe): a predicted vertebra identifies a ground-truth vertebra when the nearest
///   ground-truth centroid to it has the same level and lies within `maximumDistanceMM` (20 mm). The rate is the
///   fraction of ground-truth vertebrae identified (each at most once), so missed vertebrae count against it.
public struct LocalizationMetric: Sendable {
    public var maximumDistanceMM: Double
    private(set) var distancesMM: [Double] = []
    private(set) var identified = 0
    private(set) var truthCount = 0
    private(set) var predictedCount = 0

    public init(maximumDistanceMM: Double = 20) { self.maximumDistanceMM = maximumDistanceMM }

    /// Adds one subject.
    public mutating func add(predicted: [VertebraPoint], truth: [VertebraPoint]) {
        truthCount += truth.count
        predictedCount += predicted.count
        for t in truth {
            if let p = predicted.filter({ $0.levelID == t.levelID }).min(by: { $0.distanceMM(to: t) < $1.distanceMM(to: t) }) {
                distancesMM.append(p.distanceMM(to: t))
            }
        }
        var done = Set<Int>()
        for p in predicted {
            guard let nearest = truth.indices.min(by: { truth[$0].distanceMM(to: p) < truth[$1].distanceMM(to: p) }) else { continue }
            if truth[nearest].levelID == p.levelID, truth[nearest].distanceMM(to: p) <= maximumDistanceMM, done.insert(nearest).inserted {
                identified += 1
            }
        }
    }

    public func aggregate() -> LocalizationResult {
        let sorted = distancesMM.sorted()
        let median = sorted.isEmpty ? Double.nan
            : sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        return LocalizationResult(meanDistanceMM: nanMean(distancesMM).mean, medianDistanceMM: median,
                                  distanceCount: distancesMM.count,
                                  identificationRate: truthCount == 0 ? .nan : Double(identified) / Double(truthCount),
                                  identifiedCount: identified, truthCount: truthCount, predictedCount: predictedCount)
    }

    public mutating func reset() { self = LocalizationMetric(maximumDistanceMM: maximumDistanceMM) }
}

public struct LocalizationResult: Codable, Equatable, Sendable {
    /// NaN when no ground-truth vertebra had a prediction of its level.
    @NaNAsNull public var meanDistanceMM: Double
    @NaNAsNull public var medianDistanceMM: Double
    public var distanceCount: Int
    /// NaN when there was no ground-truth vertebra.
    @NaNAsNull public var identificationRate: Double
    public var identifiedCount: Int
    public var truthCount: Int
    public var predictedCount: Int
}
