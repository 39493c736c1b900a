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
