import Foundation

/// Converts raw voxel bytes (any `VoxelType`, either byte order) to `Float` and back, through typed buffers
/// rather than per-element `Data` access.
enum VoxelCodec {
    /// Decodes `count` voxels from the start of `bytes` (which must hold at least `count · type.size` bytes).
    static func decode(_ bytes: UnsafeRawBufferPointer, type: VoxelType, count: Int, bigEndian: Bool) -> [Float] {
        precondition(bytes.count >= count * type.size)
        let swap = bigEndian != (1.bigEndian == 1)
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            func load<T: FixedWidthInteger>(_: T.Type, _ convert: (T) -> Float) {
                for i in 0..<count {
                    let raw = bytes.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self)
                    out[i] = convert(swap ? raw.byteSwapped : raw)
                }
            }
            switch type {
            case .uint8: load(UInt8.self) { Float($0) }
            case .int8: load(Int8.self) { Float($0) }
            case .int16: load(Int16.self) { Float($0) }
            case .uint16: load(UInt16.self) { Float($0) }
            case .int32: load(Int32.self) { Float($0) }
            case .uint32: load(UInt32.self) { Float($0) }
            case .int64: load(Int64.self) { Float($0) }
            case .float32: load(UInt32.self) { Float(bitPattern: $0) }
            case .float64: load(UInt64.self) { Float(Double(bitPattern: $0)) }
            }
            initialized = count
        }
    }

    /// Encodes voxels as `type` in the given byte order. Integer types round to nearest (callers check
    /// ranges first); floats are stored as they are.
    static func encode(_ voxels: [Float], type: VoxelType, bigEndian: Bool = false) -> Data {
        let swap = bigEndian != (1.bigEndian == 1)
        var data = Data(count: voxels.count * type.size)
        data.withUnsafeMutableBytes { out in
            func store<T: FixedWidthInteger>(_: T.Type, _ convert: (Float) -> T) {
                for (i, v) in voxels.enumerated() {
                    let raw = convert(v)
                    out.storeBytes(of: swap ? raw.byteSwapped : raw, toByteOffset: i * MemoryLayout<T>.size, as: T.self)
                }
            }
            switch type {
            case .uint8: store(UInt8.self) { UInt8($0.rounded()) }
            case .int8: store(Int8.self) { Int8($0.rounded()) }
            case .int16: store(Int16.self) { Int16($0.rounded()) }
            case .uint16: store(UInt16.self) { UInt16($0.rounded()) }
            case .int32: store(Int32.self) { Int32($0.rounded()) }
            case .uint32: store(UInt32.self) { UInt32($0.rounded()) }
            case .int64: store(Int64.self) { Int64($0.rounded()) }
            case .float32: store(UInt32.self) { $0.bitPattern }
            case .float64: store(UInt64.self) { Double($0).bitPattern }
            }
        }
        return data
    }
}
