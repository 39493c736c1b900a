/// The type a voxel has on disk. Reading records it; writing uses it (for labels: an integer type).
public enum VoxelType: String, CaseIterable, Sendable, Codable {
    case uint8, int8, int16, uint16, int32, uint32, int64, float32, float64

    /// Bytes per voxel.
    public var size: Int {
        switch self {
        case .uint8, .int8: 1
        case .int16, .uint16: 2
        case .int32, .uint32, .float32: 4
        case .int64, .float64: 8
        }
    }

    public var isInteger: Bool { self != .float32 && self != .float64 }

    /// The values an integer type holds.
    var integerRange: ClosedRange<Double> {
        switch self {
        case .uint8: 0...255
        case .int8: -128...127
        case .int16: -32768...32767
        case .uint16: 0...65535
        case .int32: Double(Int32.min)...Double(Int32.max)
        case .uint32: 0...Double(UInt32.max)
        case .int64, .float32, .float64: -9.2e18...9.2e18
        }
    }
}

/// A volume in memory: voxels as `Float` in C order `[C, D, H, W]` (channels slowest, W fastest) and where
/// they sit in the world.
///
/// Integer files (label maps) are held as `Float`: every integer up to 2^24 in magnitude is exact, so labels
/// round-trip exactly; `voxelType` remembers the on-disk type and `intLabels()` gives them back as `Int32`.
/// `scl_slope`/`scl_inter` are already applied; a scaled integer file reads as `float32`.
public struct ImageVolume: Equatable, Sendable {
    public var geometry: Geometry
    /// Number of channels (NIfTI `dim[4]`, MetaImage `ElementNumberOfChannels`); 1 for a plain 3-D volume.
    public var channels: Int
    /// `channels · D · H · W` values, C order `[C, D, H, W]`.
    public var voxels: [Float]
    /// The on-disk voxel type: read from the file, or chosen for writing.
    public var voxelType: VoxelType

    public init(geometry: Geometry, channels: Int = 1, voxels: [Float], voxelType: VoxelType = .float32) {
        self.geometry = geometry
        self.channels = channels
        self.voxels = voxels
        self.voxelType = voxelType
    }

    /// The voxels as integer labels; throws `nonIntegerLabel` at the first value that is not an integer
    /// (or does not fit `Int32`).
    public func intLabels(path: String = "") throws -> [Int32] {
        var labels = [Int32](repeating: 0, count: voxels.count)
        for (i, v) in voxels.enumerated() {
            guard v.rounded() == v, abs(v) <= 2_147_483_520 else {  // the largest Float below Int32.max
                throw ImageIOError.nonIntegerLabel(path: path, index: i, value: v)
            }
            labels[i] = Int32(v)
        }
        return labels
    }

    /// Counts NaN and infinite voxels.
    public func nonFiniteCounts() -> (nan: Int, infinite: Int) {
        var nan = 0, inf = 0
        voxels.withUnsafeBufferPointer { buffer in
            for v in buffer where !v.isFinite {
                if v.isNaN { nan += 1 } else { inf += 1 }
            }
        }
        return (nan, inf)
    }

    /// Throws `nonFiniteVoxels` with the counts when any voxel is NaN or infinite.
    public func checkFinite(path: String) throws {
        let (nan, inf) = nonFiniteCounts()
        if nan + inf > 0 { throw ImageIOError.nonFiniteVoxels(path: path, nanCount: nan, infiniteCount: inf) }
    }

    /// Throws when the voxel count does not match geometry and channels, or, for integer types, a value is not
    /// an integer in the type's range.
    func checkWritable(path: String) throws {
        let expected = channels * geometry.voxelCount
        guard channels >= 1, voxels.count == expected else {
            throw ImageIOError.inconsistentVolume(path: path, expectedCount: expected, foundCount: voxels.count)
        }
        guard voxelType.isInteger else { return }
        let range = voxelType.integerRange
        for v in voxels where !(v.rounded() == v && range.contains(Double(v))) {
            throw ImageIOError.valueOutOfRange(path: path, type: voxelType, value: v)
        }
    }
}
