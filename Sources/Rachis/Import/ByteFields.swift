import Foundation

/// Bounds-checked reads of fixed-offset binary header fields in either byte order.
struct ByteFields {
    let bytes: Data
    let bigEndian: Bool
    let path: String
    private var swap: Bool { bigEndian != (1.bigEndian == 1) }

    init(_ bytes: Data, bigEndian: Bool, path: String) {
        self.bytes = bytes
        self.bigEndian = bigEndian
        self.path = path
    }

    func integer<T: FixedWidthInteger>(_: T.Type, at offset: Int, field: String) throws -> T {
        let end = offset + MemoryLayout<T>.size
        guard offset >= 0, end <= bytes.count else {
            throw ImageIOError.truncated(path: path, field: field, neededBytes: end, foundBytes: bytes.count)
        }
        let raw = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
        return swap ? raw.byteSwapped : raw
    }

    func int<T: FixedWidthInteger>(_ type: T.Type, at offset: Int, field: String) throws -> Int {
        Int(try integer(type, at: offset, field: field))
    }

    func float32(at offset: Int, field: String) throws -> Double {
        Double(Float(bitPattern: try integer(UInt32.self, at: offset, field: field)))
    }

    func float64(at offset: Int, field: String) throws -> Double {
        Double(bitPattern: try integer(UInt64.self, at: offset, field: field))
    }
}

/// Little-endian writes of fixed-offset header fields into a zeroed buffer.
struct ByteFieldWriter {
    private(set) var bytes: Data

    init(count: Int) { bytes = Data(count: count) }

    mutating func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self) }
    }

    mutating func putFloat32(_ value: Double, at offset: Int) { put(Float(value).bitPattern, at: offset) }

    mutating func putString(_ value: String, at offset: Int, length: Int) {
        for (i, byte) in value.utf8.prefix(length).enumerated() { bytes[offset + i] = byte }
    }
}
