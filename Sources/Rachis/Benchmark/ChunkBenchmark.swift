import Foundation
import HDF5

/// Measures how the HDF5 layout of the volumes (chunk shape, gzip level) trades file size against read speed for
/// the loader's access pattern: `rachis bench chunks`. The images and vertebra labels of a dataset's subjects are
/// written into one scratch file per layout, then read back whole and as random training crops (hyperslabs).
public struct ChunkBenchmark: Sendable {
    public struct Layout: Codable, Sendable, Equatable {
        /// Chunk extent along D, H, W (clamped to the volume); the channel axis always has chunks of 1.
        public var chunks: [Int]
        /// nil: no compression; else shuffle + deflate at this level.
        public var gzipLevel: Int?

        public init(chunks: [Int], gzipLevel: Int?) { (self.chunks, self.gzipLevel) = (chunks, gzipLevel) }

        public var name: String {
            chunks.map(String.init).joined(separator: "x") + (gzipLevel.map { " gzip \($0)" } ?? " raw")
        }

        func chunkShape(_ shape: [Int]) -> [Int] {
            let volume = Array(shape.suffix(3))
            let clamped = zip(chunks, volume).map { Swift.max(1, Swift.min($0, $1)) }
            return [Int](repeating: 1, count: shape.count - 3) + clamped
        }
    }

    public struct Row: Codable, Sendable {
        public var layout: Layout
        public var name: String
        public var fileMB: Double
        /// Uncompressed voxel data over file size.
        public var compressionRatio: Double
        public var writeMBPerSecond: Double
        public var wholeMBPerSecond: Double
        public var cropMBPerSecond: Double
        public var cropsPerSecond: Double
    }

    public struct Result: Codable, Sendable {
        public var dataset: String
        public var subjects: Int
        public var volumeShape: [Int]
        public var cropShape: [Int]
        public var crops: Int
        /// Voxel data (float32 image and uint8 labels) written per layout.
        public var dataMB: Double
        public var rows: [Row]
    }

    /// The layouts compared by default: the one Rachis writes (16x64x64, gzip 4) and its neighbours.
    public static let defaultLayouts: [Layout] = [
        Layout(chunks: [16, 64, 64], gzipLevel: nil),
        Layout(chunks: [16, 64, 64], gzipLevel: 1),
        Layout(chunks: [16, 64, 64], gzipLevel: DatasetFile.volumeGzipLevel),
        Layout(chunks: [1, 1024, 1024], gzipLevel: DatasetFile.volumeGzipLevel),
        Layout(chunks: [8, 32, 32], gzipLevel: DatasetFile.volumeGzipLevel),
        Layout(chunks: [1024, 1024, 1024], gzipLevel: DatasetFile.volumeGzipLevel),
        Layout(chunks: [1024, 1024, 1024], gzipLevel: nil),
    ]

    public var layouts: [Layout]
    public var subjects: Int
    public var cropShape: [Int]
    public var crops: Int
    public var seed: UInt64

    public init(layouts: [Layout] = defaultLayouts, subjects: Int = 8, cropShape: [Int] = [16, 64, 64], crops: Int = 100, seed: UInt64 = 0) {
        (self.layouts, self.subjects, self.cropShape, self.crops, self.seed) = (layouts, subjects, cropShape, crops, seed)
    }

    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    public func run(_ url: URL, scratch: URL = FileManager.default.temporaryDirectory) throws -> Result {
        let reader = try DatasetReader(url: url)
        let ids = Array(reader.subjectIDs.prefix(subjects))
        let volumes: [(image: [Float], imageShape: [Int], labels: [UInt8])] = try ids.map { id in
            let subject = try reader.subject(id)
            return (subject.image, [subject.image.count / subject.geometry.voxelCount] + subject.geometry.shape, subject.vertebraLabels)
        }
        let dataBytes = volumes.reduce(0) { $0 + $1.image.count * 4 + $1.labels.count }
        let dataMB = Double(dataBytes) / 1e6
        var rows: [Row] = []
        for layout in layouts {
            let file = scratch.appendingPathComponent("rachis-chunks-\(UUID().uuidString).h5")
            defer { try? FileManager.default.removeItem(at: file) }
            let write = try Self.seconds {
                let h5 = try File.create(at: file)
                for (k, v) in volumes.enumerated() {
                    let group = try h5.createGroup("s\(k)")
                    try group.createDataset("image", values: v.image, shape: v.imageShape,
                                            options: DatasetOptions(chunks: layout.chunkShape(v.imageShape), gzipLevel: layout.gzipLevel))
                    let shape = Array(v.imageShape.suffix(3))
                    try group.createDataset("labels", values: v.labels, shape: shape,
                                            options: DatasetOptions(chunks: layout.chunkShape(shape), gzipLevel: layout.gzipLevel))
                }
                try h5.close()
            }
            let fileBytes = (try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.doubleValue ?? .nan
            let h5 = try File.open(file)
            let whole = try Self.seconds {
                for k in volumes.indices {
                    _ = try h5.openDataset("s\(k)/image").read(as: Float.self)
                    _ = try h5.openDataset("s\(k)/labels").read(as: UInt8.self)
                }
            }
            var rng = SplitMix64(seed: seed, stream: 0xc4)
            var cropBytes = 0
            let cropTime = try Self.seconds {
                for _ in 0..<crops {
                    let k = Int(rng.next() % UInt64(volumes.count))
                    let imageShape = volumes[k].imageShape, shape = Array(imageShape.suffix(3))
                    let size = (0..<3).map { Swift.min(cropShape[$0], shape[$0]) }
                    let offset = (0..<3).map { Int(rng.next() % UInt64(shape[$0] - size[$0] + 1)) }
                    let image = try h5.openDataset("s\(k)/image").read(as: Float.self, offset: [0] + offset, count: [imageShape[0]] + size)
                    let labels = try h5.openDataset("s\(k)/labels").read(as: UInt8.self, offset: offset, count: size)
                    cropBytes += image.values.count * 4 + labels.values.count
                }
            }
            try h5.close()
            rows.append(Row(layout: layout, name: layout.name, fileMB: fileBytes / 1e6, compressionRatio: Double(dataBytes) / fileBytes,
                            writeMBPerSecond: dataMB / write, wholeMBPerSecond: dataMB / whole,
                            cropMBPerSecond: Double(cropBytes) / 1e6 / cropTime, cropsPerSecond: Double(crops) / cropTime))
        }
        return Result(dataset: url.path, subjects: ids.count, volumeShape: volumes.first.map { Array($0.imageShape.suffix(3)) } ?? [],
                      cropShape: cropShape, crops: crops, dataMB: dataMB, rows: rows)
    }
}

extension ChunkBenchmark.Result {
    public var table: String {
        var lines = [
            String(format: "%d subjects of %@ voxels from %@, %.1f MB of voxel data; %d random %@ crops",
                   subjects, volumeShape.map(String.init).joined(separator: "x"), dataset, dataMB, crops, cropShape.map(String.init).joined(separator: "x")),
            "layout (D x H x W chunks)     file MB   ratio   write MB/s   whole MB/s   crop MB/s   crops/s",
        ]
        for row in rows {
            lines.append(row.name.padding(toLength: 28, withPad: " ", startingAt: 0)
                         + String(format: "%9.1f %7.2f %12.1f %12.1f %11.1f %9.1f", row.fileMB, row.compressionRatio, row.writeMBPerSecond,
                                  row.wholeMBPerSecond, row.cropMBPerSecond, row.cropsPerSecond))
        }
        return lines.joined(separator: "\n")
    }
}
