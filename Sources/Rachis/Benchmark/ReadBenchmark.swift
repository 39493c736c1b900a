import Foundation

/// Measures how fast a dataset file is read: whole subjects, and random training-sized crops (hyperslabs of the
/// image and the vertebra labels), in MB of voxel data per second.
public struct ReadBenchmark: Sendable {
    public struct Result: Codable, Sendable {
        public var file: String
        public var wholeSubjects: Int
        public var wholeMB: Double
        public var wholeSeconds: Double
        public var crops: Int
        public var cropShape: [Int]
        public var cropMB: Double
        public var cropSeconds: Double
        public var wholeMBPerSecond: Double { wholeMB / Swift.max(wholeSeconds, 1e-9) }
        public var cropMBPerSecond: Double { cropMB / Swift.max(cropSeconds, 1e-9) }
        public var cropsPerSecond: Double { Double(crops) / Swift.max(cropSeconds, 1e-9) }
    }

    public var cropShape: [Int]
    public var crops: Int
    public var seed: UInt64

    public init(cropShape: [Int], crops: Int, seed: UInt64 = 0) {
        (self.cropShape, self.crops, self.seed) = (cropShape, crops, seed)
    }

    public func run(_ url: URL) throws -> Result {
        let reader = try DatasetReader(url: url)
        var wholeBytes = 0
        let clock = ContinuousClock()
        let wholeTime = try clock.measure {
            for id in reader.subjectIDs {
                let subject = try reader.subject(id)
                // float32 image plus the four uint8 label and mask volumes
                wholeBytes += subject.image.count * 4 + 4 * subject.vertebraLabels.count
            }
        }
        var rng = SplitMix64(seed: seed, stream: 0xbe4c)
        var cropBytes = 0
        let geometries = try reader.subjectIDs.map { try reader.geometry(of: $0).shape }
        let cropTime = try clock.measure {
            for _ in 0..<crops {
                let k = Int(rng.next() % UInt64(reader.subjectIDs.count))
                let shape = geometries[k]
                let size = (0..<3).map { Swift.min(cropShape[$0], shape[$0]) }
                let offset = (0..<3).map { Int(rng.next() % UInt64(shape[$0] - size[$0] + 1)) }
                let image = try reader.imageCrop(reader.subjectIDs[k], offset: offset, size: size)
                let labels = try reader.volumeCrop(reader.subjectIDs[k], "labels/vertebrae", offset: offset, size: size)
                cropBytes += image.count * 4 + labels.count
            }
        }
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
        return Result(file: url.path, wholeSubjects: reader.subjectIDs.count, wholeMB: Double(wholeBytes) / 1e6,
                      wholeSeconds: seconds(wholeTime), crops: crops, cropShape: cropShape, cropMB: Double(cropBytes) / 1e6,
                      cropSeconds: seconds(cropTime))
    }
}
