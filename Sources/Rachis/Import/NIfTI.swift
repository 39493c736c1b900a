import Foundation

/// NIfTI-1 and NIfTI-2 single-file images (`.nii`, `.nii.gz`), both byte orders.
///
/// Reading gives the volume in file order: array axes `[D, H, W]` are NIfTI's `(k, j, i)` (i fastest) and
/// `dim[4]` is the channel axis. The voxel-to-world affine is the sform when `sform_code > 0`, else the qform
/// (quaternion, `qfac = pixdim[0]`) when `qform_code > 0`, else `diag(pixdim[1...3])`; spatial units follow
/// `xyzt_units` (metres and microns are converted to mm). `ImageIO.read` then reorients to PIR.
public enum NIfTI {
    static let datatypeCodes: [Int: VoxelType] = [
        2: .uint8, 4: .int16, 8: .int32, 16: .float32, 64: .float64,
        256: .int8, 512: .uint16, 768: .uint32, 1024: .int64,
    ]

    /// Reads a `.nii` or `.nii.gz` file (gzip detected from its magic bytes) in file order.
    public static func read(_ url: URL) throws -> ImageVolume {
        try decode(try ImageFiles.contents(of: url), path: url.path)
    }

    /// Writes NIfTI-1 with sform and qform (code 1, scanner), compressed when the name ends in `.gz`, atomically.
    public static func write(_ volume: ImageVolume, to url: URL) throws {
        var data = try encode(volume, path: url.path)
        if url.pathExtension.lowercased() == "gz" { data = try Zlib.deflate(data, container: .gzip, path: url.path) }
        try AtomicFile.write(data, to: url)
    }

    /// Decodes the bytes of a NIfTI-1 or NIfTI-2 file (gzip-compressed or not).
    public static func decode(_ file: Data, path: String) throws -> ImageVolume {
        let data = Zlib.isGzip(file) ? try Zlib.inflate(file, path: path) : file
        guard data.count >= 4 else {
            throw ImageIOError.truncated(path: path, field: "sizeof_hdr", neededBytes: 4, foundBytes: data.count)
        }
        let little = try ByteFields(data, bigEndian: false, path: path).int(Int32.self, at: 0, field: "sizeof_hdr")
        let version: Int, bigEndian: Bool
        switch little {
        case 348: (version, bigEndian) = (1, false)
        case 540: (version, bigEndian) = (2, false)
        case Int(Int32(348).byteSwapped): (version, bigEndian) = (1, true)
        case Int(Int32(540).byteSwapped): (version, bigEndian) = (2, true)
        default: throw ImageIOError.badMagic(path: path, found: "sizeof_hdr \(little), expected 348 or 540")
        }
        let h = ByteFields(data, bigEndian: bigEndian, path: path)
        let headerSize = version == 1 ? 348 : 540
        guard data.count >= headerSize else {
            throw ImageIOError.truncated(path: path, field: "header", neededBytes: headerSize, foundBytes: data.count)
        }
        let magicBytes = version == 1 ? data[data.startIndex + 344 ..< data.startIndex + 348]
                                      : data[data.startIndex + 4 ..< data.startIndex + 12]
        let magic = String(decoding: magicBytes, as: UTF8.self).replacingOccurrences(of: "\0", with: "")
        guard magicBytes.elementsEqual(version == 1 ? Array("n+1\0".utf8) : Array("n+2\0\r\n\u{1A}\n".utf8)) else {
            let pair = magic.hasPrefix("ni1") || magic.hasPrefix("ni2")
            throw ImageIOError.badMagic(path: path, found: pair ? "magic \(magic): a .hdr/.img pair, not supported"
                                                                 : "magic \(magic.debugDescription)")
        }
        let header = try version == 1 ? Header(nifti1: h) : Header(nifti2: h)
        return try header.volume(data: data, path: path)
    }

    /// The fields Rachis uses, from either version.
    struct Header {
        var dim: [Int], pixdim: [Double], datatype: Int, voxOffset: Int
        var sclSlope: Double, sclInter: Double, units: Int, bigEndian: Bool
        var qformCode: Int, sformCode: Int, quatern: [Double], qoffset: [Double], srow: [[Double]]

        init(nifti1 h: ByteFields) throws {
            bigEndian = h.bigEndian
            dim = try (0..<8).map { try h.int(Int16.self, at: 40 + 2 * $0, field: "dim[\($0)]") }
            pixdim = try (0..<8).map { try h.float32(at: 76 + 4 * $0, field: "pixdim[\($0)]") }
            datatype = try h.int(Int16.self, at: 70, field: "datatype")
            let offset = try h.float32(at: 108, field: "vox_offset")
            guard offset.isFinite, offset >= 0, offset < 1e15 else {
                throw ImageIOError.invalidField(path: h.path, field: "vox_offset", value: "\(offset)", expected: "≥ 348")
            }
            voxOffset = Int(offset)
            sclSlope = try h.float32(at: 112, field: "scl_slope")
            sclInter = try h.float32(at: 116, field: "scl_inter")
            units = try h.int(UInt8.self, at: 123, field: "xyzt_units")
            qformCode = try h.int(Int16.self, at: 252, field: "qform_code")
            sformCode = try h.int(Int16.self, at: 254, field: "sform_code")
            quatern = try (0..<3).map { try h.float32(at: 256 + 4 * $0, field: "quatern_bcd") }
            qoffset = try (0..<3).map { try h.float32(at: 268 + 4 * $0, field: "qoffset") }
            srow = try (0..<3).map { r in try (0..<4).map { try h.float32(at: 280 + 16 * r + 4 * $0, field: "srow") } }
        }

        init(nifti2 h: ByteFields) throws {
            bigEndian = h.bigEndian
            dim = try (0..<8).map { try h.int(Int64.self, at: 16 + 8 * $0, field: "dim[\($0)]") }
            pixdim = try (0..<8).map { try h.float64(at: 104 + 8 * $0, field: "pixdim[\($0)]") }
            datatype = try h.int(Int16.self, at: 12, field: "datatype")
            voxOffset = try h.int(Int64.self, at: 168, field: "vox_offset")
            sclSlope = try h.float64(at: 176, field: "scl_slope")
            sclInter = try h.float64(at: 184, field: "scl_inter")
            units = try h.int(Int32.self, at: 500, field: "xyzt_units")
            qformCode = try h.int(Int32.self, at: 344, field: "qform_code")
            sformCode = try h.int(Int32.self, at: 348, field: "sform_code")
            quatern = try (0..<3).map { try h.float64(at: 352 + 8 * $0, field: "quatern_bcd") }
            qoffset = try (0..<3).map { try h.float64(at: 376 + 8 * $0, field: "qoffset") }
            srow = try (0..<3).map { r in try (0..<4).map { try h.float64(at: 400 + 32 * r + 8 * $0, field: "srow") } }
        }

        func volume(data: Data, path: String) throws -> ImageVolume {
            func invalid(_ field: String, _ value: Any, _ expected: String) -> ImageIOError {
                .invalidField(path: path, field: field, value: "\(value)", expected: expected)
            }
            let rank = dim[0]
            guard (1...7).contains(rank) else { throw invalid("dim[0]", rank, "1 to 7") }
            let size = (1...7).map { $0 <= rank ? dim[$0] : 1 }
            for (i, n) in size.enumerated() where n < 1 || n > 1 << 31 { throw invalid("dim[\(i + 1)]", n, "≥ 1") }
            for i in 5...7 where size[i - 1] != 1 {
                throw invalid("dim[\(i)]", size[i - 1], "1: Rachis reads 3-D volumes, with channels in dim[4]")
            }
            guard let type = NIfTI.datatypeCodes[datatype] else {
                throw ImageIOError.unsupportedDatatype(path: path, field: "datatype", value: "\(datatype)")
            }
            guard size[0...3].reduce(1.0, { $0 * Double($1) }) < Double(Int32.max) else {
                throw invalid("dim", size, "fewer than 2^31 voxels")
            }
            let count = size[0...3].reduce(1, *)
            guard voxOffset >= 348 else { throw invalid("vox_offset", voxOffset, "≥ 348") }
            guard voxOffset <= data.count else {
                throw ImageIOError.truncated(path: path, field: "vox_offset", neededBytes: voxOffset, foundBytes: data.count)
            }
            let needed = voxOffset + count * type.size
            guard data.count >= needed else {
                throw ImageIOError.truncated(path: path, field: "voxel data", neededBytes: needed, foundBytes: data.count)
            }
            var voxels = data.withUnsafeBytes {
                VoxelCodec.decode(UnsafeRawBufferPointer(rebasing: $0[voxOffset...]), type: type, count: count,
                                  bigEndian: bigEndian)
            }
            var voxelType = type
            if sclSlope.isFinite, sclSlope != 0, sclSlope != 1 || (sclInter.isFinite && sclInter != 0) {
                let (slope, inter) = (Float(sclSlope), sclInter.isFinite ? Float(sclInter) : 0)
                voxels.withUnsafeMutableBufferPointer { for i in $0.indices { $0[i] = $0[i] * slope + inter } }
                voxelType = .float32
            }
            let ijk = try affine(path: path)
            // Array axes D, H, W are NIfTI's k, j, i.
            let dhw = (0..<3).map { r in [ijk[r][2], ijk[r][1], ijk[r][0], ijk[r][3]] }
            guard let geometry = Geometry(shape: [size[2], size[1], size[0]], affine: dhw) else {
                throw invalid(sformCode > 0 ? "srow_x/y/z" : "pixdim[1...3]", dhw, "an affine with non-zero, finite columns")
            }
            return ImageVolume(geometry: geometry, channels: size[3], voxels: voxels, voxelType: voxelType)
        }

        /// The 3x4 affine from (i, j, k) to RAS+ mm.
        func affine(path: String) throws -> [[Double]] {
            let mmPerUnit: Double = switch units & 7 { case 1: 1000; case 3: 0.001; default: 1 }
            var m: [[Double]]
            if sformCode > 0 {
                m = srow
            } else {
                for i in 1...3 where !(pixdim[i] > 0 && pixdim[i].isFinite) {
                    throw ImageIOError.invalidField(path: path, field: "pixdim[\(i)]", value: "\(pixdim[i])",
                                                    expected: "a positive voxel size")
                }
                if qformCode > 0 {
                    let r = NIfTIQuaternion.rotation(b: quatern[0], c: quatern[1], d: quatern[2], qfac: pixdim[0])
                    m = (0..<3).map { row in (0..<3).map { r[row][$0] * pixdim[$0 + 1] } + [qoffset[row]] }
                } else {
                    m = (0..<3).map { row in (0..<3).map { row == $0 ? pixdim[$0 + 1] : 0 } + [0] }
                }
            }
            return m.map { $0.map { $0 * mmPerUnit } }
        }
    }
}
