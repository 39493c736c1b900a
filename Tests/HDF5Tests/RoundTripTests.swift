import Foundation
import HDF5
import Testing

enum Sample: String, CaseIterable, Sendable {
    case float32, float64, int8, int16, int32, int64, uint8, uint16, uint32, uint64, int, bool
}

struct RoundTripTests {
    static let shape = [3, 4, 5]

    func values<T>(_ make: (Int) -> T) -> [T] { (0..<60).map(make) }

    func check<T: HDF5Scalar & Equatable>(_ values: [T], _ folder: URL) throws {
        let url = folder.appendingPathComponent("data.h5")
        let shape = Self.shape
        do {
            let file = try File.create(at: url)
            let dataset = try file.createDataset("group/values", values: values, shape: shape)
            #expect(try dataset.elementType == T.hdf5Type)
        }
        let file = try File.open(url, mode: .readWrite)
        let dataset = try file.openDataset("/group/values")
        #expect(try dataset.shape == shape)
        #expect(try dataset.read(as: T.self) == HDF5Array(values: values, shape: shape))

        let (offset, count, stride) = ([1, 0, 1], [2, 2, 2], [1, 2, 3])
        let indices = hyperslabIndices(shape: shape, offset: offset, count: count, stride: stride)
        let slab = try dataset.read(as: T.self, offset: offset, count: count, stride: stride)
        #expect(slab == HDF5Array(values: indices.map { values[$0] }, shape: count))
        let crop = try dataset.read(as: T.self, offset: [0, 1, 2], count: [3, 2, 3])
        let cropIndices = hyperslabIndices(shape: shape, offset: [0, 1, 2], count: [3, 2, 3], stride: [1, 1, 1])
        #expect(crop.values == cropIndices.map { values[$0] })

        var buffer = [T](repeating: values[0], count: 8)
        try buffer.withUnsafeMutableBufferPointer {
            try dataset.read(into: $0, offset: offset, count: count, stride: stride)
        }
        #expect(buffer == slab.values)

        // Write the slab's values reversed back into the slab, and compare the whole dataset.
        let replacement = Array(slab.values.reversed())
        try dataset.write(replacement, offset: offset, count: count, stride: stride)
        var expected = values
        for (index, value) in zip(indices, replacement) { expected[index] = value }
        var whole = [T](repeating: values[0], count: values.count)
        try whole.withUnsafeMutableBufferPointer { try dataset.read(into: $0) }
        #expect(whole == expected)
    }

    @Test(arguments: Sample.allCases)
    func wholeAndHyperslab(_ sample: Sample) throws {
        try withTemporaryDirectory { folder in
            let bits = { (i: Int) in i &* 0x0123_4567_89AB_CDEF &+ i }
            switch sample {
            case .float32: try check(values { Float($0) * 0.25 - 7.5 }, folder)
            case .float64: try check(values { Double($0) * 1e-3 - .pi }, folder)
            case .int8: try check(values { Int8(truncatingIfNeeded: bits($0)) }, folder)
            case .int16: try check(values { Int16(truncatingIfNeeded: bits($0)) }, folder)
            case .int32: try check(values { Int32(truncatingIfNeeded: bits($0)) }, folder)
            case .int64: try check(values { Int64(truncatingIfNeeded: bits($0)) }, folder)
            case .uint8: try check(values { UInt8(truncatingIfNeeded: bits($0)) }, folder)
            case .uint16: try check(values { UInt16(truncatingIfNeeded: bits($0)) }, folder)
            case .uint32: try check(values { UInt32(truncatingIfNeeded: bits($0)) }, folder)
            case .uint64: try check(values { UInt64(truncatingIfNeeded: bits($0)) }, folder)
            case .int: try check(values { bits($0) }, folder)
            case .bool: try check(values { $0 % 3 == 0 }, folder)
            }
        }
    }

    @Test func scalarDatasetAndEmptyDataset() throws {
        try withTemporaryDirectory { folder in
            let file = try File.create(at: folder.appendingPathComponent("scalar.h5"))
            let scalar = try file.createDataset("answer", values: [Int32(42)], shape: [])
            #expect(try scalar.shape == [])
            #expect(try scalar.read(as: Int32.self) == HDF5Array(values: [42], shape: []))
            let empty = try file.createDataset("empty", values: [Float](), shape: [0, 3])
            #expect(try empty.read(as: Float.self) == HDF5Array(values: [], shape: [0, 3]))
        }
    }

    @Test func boolIsStoredAsUInt8AndNonzeroReadsTrue() throws {
        try withTemporaryDirectory { folder in
            let file = try File.create(at: folder.appendingPathComponent("bool.h5"))
            let flags = try file.createDataset("flags", values: [true, false, true])
            #expect(try flags.elementType == .uint8)
            #expect(try flags.read(as: UInt8.self).values == [1, 0, 1])
            try file.createDataset("bytes", values: [UInt8(0), 2, 255])
            #expect(try file.openDataset("bytes").read(as: Bool.self).values == [false, true, true])
        }
    }

    @Test func losslessConversionsRead() throws {
        try withTemporaryDirectory { folder in
            let file = try File.create(at: folder.appendingPathComponent("convert.h5"))
            try file.createDataset("i16", values: [Int16(-300), 7, 32767])
            try file.createDataset("u8", values: [UInt8(255), 0])
            try file.createDataset("f32", values: [Float(1.5), -2])
            #expect(try file.openDataset("i16").read(as: Float.self).values == [-300, 7, 32767])
            #expect(try file.openDataset("i16").read(as: Int64.self).values == [-300, 7, 32767])
            #expect(try file.openDataset("u8").read(as: Int16.self).values == [255, 0])
            #expect(try file.openDataset("u8").read(as: Double.self).values == [255, 0])
            #expect(try file.openDataset("f32").read(as: Double.self).values == [1.5, -2])
        }
    }

    @Test(arguments: [
        (HDF5Type.float64, HDF5Type.float32), (.float32, .int32), (.int32, .int16), (.int8, .uint8), (.uint16, .int16),
        (.int32, .float32), (.int64, .float64), (.float32, .string), (.string, .float64),
    ])
    func lossyConversionsAreRejected(_ stored: HDF5Type, _ requested: HDF5Type) {
        #expect(!stored.convertsLosslessly(to: requested))
    }

    @Test func typeMismatchThrowsWithContext() throws {
        try withTemporaryDirectory { folder in
            let url = folder.appendingPathComponent("mismatch.h5")
            let file = try File.create(at: url)
            let doubles = try file.createDataset("g/doubles", values: [1.0, 2.0])
            let readError = hdf5Error { _ = try doubles.read(as: Float.self) }
            #expect(readError?.kind == .typeMismatch(stored: .float64, requested: .float32))
            #expect(readError?.description.contains(url.path) == true)
            #expect(readError?.description.contains("/g/doubles") == true)
            let floats = try file.createDataset("floats", type: .float32, shape: [2])
            #expect(hdf5Error { try floats.write([1.0, 2.0]) }?.kind == .typeMismatch(stored: .float32, requested: .float64))
            #expect(hdf5Error { _ = try floats.readStrings() }?.kind == .typeMismatch(stored: .float32, requested: .string))
            let names = try file.createDataset("names", strings: ["a"])
            #expect(hdf5Error { _ = try names.read(as: Double.self) }?.kind == .typeMismatch(stored: .string, requested: .float64))
        }
    }
}
