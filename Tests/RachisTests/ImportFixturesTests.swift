import Foundation
import Testing
@testable import Rachis

/// Shared helpers for the image I/O tests: scratch folders, hand-built NIfTI headers, error matching.
enum Fixture {
    /// A fresh empty folder under the system temporary folder.
    static func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("rachis-import-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func remove(_ folder: URL) { try? FileManager.default.removeItem(at: folder) }

    /// Deterministic pseudo-random floats in `range` (an LCG, so tests do not depend on the platform's RNG).
    static func values(count: Int, seed: UInt64, range: ClosedRange<Float> = -100...100, integers: Bool = false) -> [Float] {
        var state = seed &* 6364136223846793005 &+ 1442695040888963407
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let v = range.lowerBound + Float(state >> 40) / Float(1 << 24) * (range.upperBound - range.lowerBound)
            return integers ? v.rounded() : v
        }
    }

    /// A 5x6x7 (D, H, W) volume with an oblique direction and distinct values.
    static func volume(type: VoxelType = .float32, channels: Int = 1, seed: UInt64 = 7) -> ImageVolume {
        let range: ClosedRange<Float> = switch type {
        case .uint8, .uint16, .uint32: 0...250
        case .int8: -120...120
        default: -1000...1000
        }
        let geometry = Geometry(shape: [5, 6, 7], spacingMM: [3.5, 0.8, 1.25], originMM: [-12.5, 30.25, 7],
                                direction: rotation(axis: [0.3, -0.5, 0.8], degrees: 17, times: Geometry.canonicalDirection))
        return ImageVolume(geometry: geometry, channels: channels,
                           voxels: values(count: channels * 210, seed: seed, range: range, integers: type.isInteger),
                           voxelType: type)
    }

    /// `R(axis, angle) · m` with R from Rodrigues' formula.
    static func rotation(axis: [Double], degrees: Double, times m: [[Double]]) -> [[Double]] {
        let n = (axis.reduce(0) { $0 + $1 * $1 }).squareRoot()
        let (x, y, z) = (axis[0] / n, axis[1] / n, axis[2] / n)
        let t = degrees * .pi / 180, c = cos(t), s = sin(t), v = 1 - c
        let r = [[c + x * x * v, x * y * v - z * s, x * z * v + y * s],
                 [y * x * v + z * s, c + y * y * v, y * z * v - x * s],
                 [z * x * v - y * s, z * y * v + x * s, c + z * z * v]]
        return (0..<3).map { i in (0..<3).map { j in (0..<3).reduce(0) { $0 + r[i][$1] * m[$1][j] } } }
    }

    /// `affine · [i, j, k, 1]ᵀ` for a 3x4 affine.
    static func apply(_ affine: [[Double]], _ ijk: [Double]) -> [Double] {
        (0..<3).map { r in (0..<3).reduce(affine[r][3]) { $0 + affine[r][$1] * ijk[$1] } }
    }

    static func close(_ a: [Double], _ b: [Double], tolerance: Double = 1e-4) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) }
    }

    static func close(_ a: [[Double]], _ b: [[Double]], tolerance: Double = 1e-4) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { close($0, $1, tolerance: tolerance) }
    }

    /// A NIfTI header field to set, by version-specific writer.
    struct NIfTIHeader {
        var version = 1
        var bigEndian = false
        var dim = [3, 5, 6, 7, 1, 1, 1, 1]  // nx, ny, nz = 5, 6, 7
        var datatype = 16
        var pixdim: [Double] = [1, 1, 1, 1, 1, 1, 1, 1]
        var sclSlope = 0.0, sclInter = 0.0
        var units = 2
        var qformCode = 0, sformCode = 0
        var quatern: [Double] = [0, 0, 0], qoffset: [Double] = [0, 0, 0]
        var srow: [[Double]] = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]
        var magic: String? = nil

        /// The header, the 4-byte extension flag (NIfTI-1) and `voxels` encoded as `type` in the header's order.
        func bytes(voxels: [Float], type: VoxelType) -> Data {
            let size = version == 1 ? 348 : 540
            let offset = size + (version == 1 ? 4 : 4)
            var d = Data(count: offset)
            func put<T: FixedWidthInteger>(_ v: T, _ at: Int) {
                let raw = bigEndian ? v.bigEndian : v.littleEndian
                d.withUnsafeMutableBytes { $0.storeBytes(of: raw, toByteOffset: at, as: T.self) }
            }
            func f32(_ v: Double, _ at: Int) { put(Float(v).bitPattern, at) }
            func f64(_ v: Double, _ at: Int) { put(v.bitPattern, at) }
            func str(_ s: String, _ at: Int) { for (i, b) in s.utf8.enumerated() { d[at + i] = b } }
            put(Int32(size), 0)
            if version == 1 {
                for i in 0..<8 { put(Int16(dim[i]), 40 + 2 * i); f32(pixdim[i], 76 + 4 * i) }
                put(Int16(datatype), 70); put(Int16(type.size * 8), 72)
                f32(Double(offset), 108); f32(sclSlope, 112); f32(sclInter, 116)
                d[123] = UInt8(units)
                put(Int16(qformCode), 252); put(Int16(sformCode), 254)
                for i in 0..<3 { f32(quatern[i], 256 + 4 * i); f32(qoffset[i], 268 + 4 * i) }
                for r in 0..<3 { for c in 0..<4 { f32(srow[r][c], 280 + 16 * r + 4 * c) } }
                str(magic ?? "n+1\0", 344)
            } else {
                str(magic ?? "n+2\0\r\n\u{1A}\n", 4)
                put(Int16(datatype), 12); put(Int16(type.size * 8), 14)
                for i in 0..<8 { put(Int64(dim[i]), 16 + 8 * i); f64(pixdim[i], 104 + 8 * i) }
                put(Int64(offset), 168); f64(sclSlope, 176); f64(sclInter, 184)
                put(Int32(qformCode), 344); put(Int32(sformCode), 348)
                for i in 0..<3 { f64(quatern[i], 352 + 8 * i); f64(qoffset[i], 376 + 8 * i) }
                for r in 0..<3 { for c in 0..<4 { f64(srow[r][c], 400 + 32 * r + 8 * c) } }
                put(Int32(units), 500)
            }
            return d + VoxelCodec.encode(voxels, type: type, bigEndian: bigEndian)
        }
    }
}

extension ImageIOError {
    /// The case name, for matching errors whose payload holds sizes.
    var caseName: String { Mirror(reflecting: self).children.first?.label ?? "\(self)" }
}

/// The `ImageIOError` `body` throws, or nil (recording an issue) when it throws nothing or something else.
func imageIOError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> ImageIOError? {
    do {
        try body()
        Issue.record("expected an ImageIOError, nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as ImageIOError {
        return error
    } catch {
        Issue.record("expected an ImageIOError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}
