import Synchronization
import Foundation
import HDF5
import Testing

struct DatasetTests {
    @Test func stringDatasetsRoundTripWholeAndByHyperslab() throws {
        try withTemporaryDirectory { folder in
            let url = folder.appendingPathComponent("strings.h5")
            let names = ["C1", "T12", "L5", "", "Lendenwirbelsäule", "腰椎", "sacrum"]
            do {
                let file = try File.create(at: url)
                let dataset = try file.createDataset("tables/names", strings: names)
                #expect(try dataset.elementType == .string)
            }
            let file = try File.open(url, mode: .readWrite)
            let dataset = try file.openDataset("tables/names")
            #expect(try dataset.readStrings() == HDF5Array(values: names, shape: [7]))
            #expect(try dataset.readStrings(offset: [1], count: [3], stride: [2]).values == ["T12", "", "腰椎"])
            try dataset.write(["T13", "S1"], offset: [1], count: [2])
            #expect(try dataset.readStrings().values == ["C1", "T13", "S1", "", "Lendenwirbelsäule", "腰椎", "sacrum"])
        }
    }

    @Test func chunkedGzipDatasetAppliesShuffleAndDeflate() throws {
        try withTemporaryDirectory { folder in
            let url = folder.appendingPathComponent("compressed.h5")
            let shape = [1, 32, 64, 64]
            let volume = (0..<shape.reduce(1, *)).map { Float(($0 / 64) % 7) }
            do {
                let file = try File.create(at: url)
                try file.createDataset("image", values: volume, shape: shape,
                                       options: DatasetOptions(chunks: [1, 16, 32, 32], gzipLevel: 4))
            }
            let file = try File.open(url)
            let dataset = try file.openDataset("image")
            #expect(try dataset.filters == [.shuffle, .deflate(level: 4)])
            #expect(try dataset.chunks == [1, 16, 32, 32])
            #expect(try dataset.read(as: Float.self).values == volume)
            let bytes = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as! Int
            #expect(bytes < volume.count * 4 / 20, "compressed file is \(bytes) bytes")

            let plain = try File.create(at: folder.appendingPathComponent("plain.h5"))
            let contiguous = try plain.createDataset("image", values: volume, shape: shape)
            #expect(try contiguous.filters == [])
            #expect(try contiguous.chunks == nil)
        }
    }

    /// Hyperslabs that cross chunk boundaries, with strides, type conversion and writes, against the same selection
    /// taken from the whole array in Swift (the memory space has the selection's shape, so HDF5 maps chunks by
    /// hyperslab; this checks that every element still lands where a flat row-major copy puts it).
    @Test func hyperslabsAcrossChunksMatchTheWholeArray() throws {
        try withTemporaryDirectory { folder in
            let url = folder.appendingPathComponent("chunks.h5")
            let shape = [2, 13, 17, 11]
            let count = shape.reduce(1, *)
            let volume = (0..<count).map { Int16(truncatingIfNeeded: ($0 &* 7919) % 30011 - 15000) }
            let file = try File.create(at: url)
            let dataset = try file.createDataset("image", values: volume, shape: shape,
                                                 options: DatasetOptions(chunks: [1, 4, 8, 5], gzipLevel: 1))
            func index(_ p: [Int]) -> Int { ((p[0] * shape[1] + p[1]) * shape[2] + p[2]) * shape[3] + p[3] }
            func expected(_ offset: [Int], _ n: [Int], _ stride: [Int]) -> [Float] {
                var out: [Float] = []
                for a in 0..<n[0] { for b in 0..<n[1] { for c in 0..<n[2] { for d in 0..<n[3] {
                    out.append(Float(volume[index([offset[0] + a * stride[0], offset[1] + b * stride[1], offset[2] + c * stride[2], offset[3] + d * stride[3]])]))
                } } } }
                return out
            }
            for (offset, n, stride) in [([0, 3, 5, 2], [2, 7, 9, 6], [1, 1, 1, 1]), ([1, 0, 0, 0], [1, 13, 17, 11], [1, 1, 1, 1]),
                                        ([0, 1, 2, 0], [2, 4, 5, 4], [1, 3, 3, 3]), ([1, 12, 16, 10], [1, 1, 1, 1], [1, 1, 1, 1])] {
                let read = try dataset.read(as: Float.self, offset: offset, count: n, stride: stride)
                #expect(read.shape == n)
                #expect(read.values == expected(offset, n, stride), "offset \(offset) count \(n) stride \(stride)")
            }
            #expect(try dataset.read(as: Float.self, offset: [0, 2, 2, 2], count: [2, 0, 3, 3]).values.isEmpty)
            let patch = (0..<(2 * 5 * 6 * 3)).map { Int16(-$0) }
            try dataset.write(patch, offset: [0, 6, 7, 4], count: [2, 5, 6, 3])
            var whole = volume
            var k = 0
            for a in 0..<2 { for b in 0..<5 { for c in 0..<6 { for d in 0..<3 { whole[index([a, 6 + b, 7 + c, 4 + d])] = patch[k]; k += 1 } } } }
            #expect(try dataset.read(as: Int16.self).values == whole)
        }
    }

    @Test func extendableDatasetResizesAndAppends() throws {
        try withTemporaryDirectory { folder in
            let url = folder.appendingPathComponent("table.h5")
            do {
                let file = try File.create(at: url)
                let centroids = try file.createDataset("centroidsMM", type: .float64, shape: [0, 3],
                                                       options: DatasetOptions(maxShape: [nil, 3]))
                try centroids.append([1.0, 2, 3])
                try centroids.append([4.0, 5, 6, 7, 8, 9])
                let names = try file.createDataset("levels", type: .string, shape: [0], options: DatasetOptions(maxShape: [nil]))
                try names.append(["L1", "L2"])
                try names.append(["L3"])
            }
            let file = try File.open(url, mode: .readWrite)
            let centroids = try file.openDataset("centroidsMM")
            #expect(try centroids.maxShape == [nil, 3])
            #expect(try centroids.chunks != nil)
            #expect(try centroids.read(as: Double.self) == HDF5Array(values: [1, 2, 3, 4, 5, 6, 7, 8, 9], shape: [3, 3]))
            try centroids.resize(to: [2, 3])
            #expect(try centroids.read(as: Double.self).values == [1, 2, 3, 4, 5, 6])
            #expect(hdf5Error { try centroids.resize(to: [2, 4]) }.map { "\($0.kind)".contains("invalidArgument") } == true)
            #expect(hdf5Error { try centroids.append([1.0, 2]) }?.kind == .shapeMismatch(expected: [-1, 3], found: [2]))
            #expect(try file.openDataset("levels").readStrings().values == ["L1", "L2", "L3"])
        }
    }

    @Test func hyperslabErrorsNameTheDataset() throws {
        try withTemporaryDirectory { folder in
            let url = folder.appendingPathComponent("slab.h5")
            let file = try File.create(at: url)
            let dataset = try file.createDataset("s001/image", values: [Float](repeating: 1, count: 24), shape: [2, 3, 4])
            let rank = hdf5Error { _ = try dataset.read(as: Float.self, offset: [0, 0], count: [1, 1]) }
            #expect(rank?.kind == .rankMismatch(expected: 3, found: 2))
            #expect(rank?.description.contains("/s001/image") == true)
            #expect(rank?.description.contains(url.path) == true)
            let bounds = hdf5Error { _ = try dataset.read(as: Float.self, offset: [1, 0, 0], count: [2, 1, 1]) }
            #expect(bounds?.kind == .outOfBounds(offset: [1, 0, 0], count: [2, 1, 1], stride: [1, 1, 1], shape: [2, 3, 4]))
            let strided = hdf5Error { _ = try dataset.read(as: Float.self, offset: [0, 0, 0], count: [1, 2, 1], stride: [1, 3, 1]) }
            #expect(strided?.kind == .outOfBounds(offset: [0, 0, 0], count: [1, 2, 1], stride: [1, 3, 1], shape: [2, 3, 4]))
            var small = [Float](repeating: 0, count: 3)
            let buffer = hdf5Error { try small.withUnsafeMutableBufferPointer { try dataset.read(into: $0) } }
            #expect(buffer?.kind == .shapeMismatch(expected: [2, 3, 4], found: [3]))
            #expect(hdf5Error { try dataset.write([Float(1)]) }?.kind == .shapeMismatch(expected: [2, 3, 4], found: [1]))
            let half = hdf5Error { try small.withUnsafeMutableBufferPointer { try dataset.read(into: $0, offset: [0, 0, 0]) } }
            #expect(half?.kind == .invalidArgument("a hyperslab needs both offset and count"))
        }
    }

    @Test func concurrentReadsAreSerialisedSafely() throws {
        try withTemporaryDirectory { folder in
            let file = try File.create(at: folder.appendingPathComponent("threads.h5"))
            let values = (0..<4096).map(Float.init)
            let dataset = try file.createDataset("x", values: values, shape: [64, 64], options: DatasetOptions(gzipLevel: 1))
            let failures = Mutex(0)
            DispatchQueue.concurrentPerform(iterations: 16) { row in
                let slab = try? dataset.read(as: Float.self, offset: [row * 4, 0], count: [4, 64])
                if slab?.values != Array(values[row * 256 ..< (row + 1) * 256]) { failures.withLock { $0 += 1 } }
            }
            #expect(failures.withLock { $0 } == 0)
        }
    }
}
