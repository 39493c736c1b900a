import Foundation

/// MetaImage (ITK MetaIO) images: `.mha` (header and data in one file) and `.mhd` (header naming a separate data
/// file, relative to the header's folder), raw or zlib-compressed (`CompressedData = True`).
///
/// MetaImage world coordinates are LPS; Rachis's are RAS, so x and y of `Offset` and of every direction are
/// negated. `TransformMatrix` (alias `Rotation`, `Orientation`) lists the direction of axis x, then y, then z.
/// Array axes `[D, H, W]` are MetaImage's `(z, y, x)`; `ElementNumberOfChannels` interleaved channels become the
/// channel axis. `ImageIO.read` then reorients to PIR.
public enum MetaImage {
    static let elementTypes: [String: VoxelType] = [
        "MET_UCHAR": .uint8, "MET_CHAR": .int8, "MET_SHORT": .int16, "MET_USHORT": .uint16, "MET_INT": .int32,
        "MET_UINT": .uint32, "MET_LONG": .int32, "MET_ULONG": .uint32, "MET_LONG_LONG": .int64,
        "MET_FLOAT": .float32, "MET_DOUBLE": .float64,
    ]

    /// Reads a `.mha` or `.mhd` file in file order.
    public static func read(_ url: URL) throws -> ImageVolume {
        let path = url.path
        let file = try ImageFiles.contents(of: url)
        let (fields, dataStart) = try parseHeader(file, path: path)
        func field(_ names: String...) -> String? { names.lazy.compactMap { fields[$0] }.first }
        func invalid(_ name: String, _ value: String, _ expected: String) -> ImageIOError {
            .invalidField(path: path, field: name, value: value, expected: expected)
        }
        func numbers(_ name: String, _ aliases: String..., count: Int, default value: [Double]? = nil) throws -> [Double] {
            guard let text = ([name] + aliases).lazy.compactMap({ fields[$0] }).first else {
                if let value { return value }
                throw invalid(name, "missing", "\(count) numbers")
            }
            let parsed = text.split(separator: " ").map { Double($0) }
            guard parsed.count == count, parsed.allSatisfy({ $0?.isFinite == true }) else {
                throw invalid(name, text, "\(count) finite numbers")
            }
            return parsed.map { $0! }
        }
        if let object = fields["ObjectType"], object != "Image" { throw invalid("ObjectType", object, "Image") }
        guard field("NDims") == "3" else { throw invalid("NDims", field("NDims") ?? "missing", "3") }
        let dims = try numbers("DimSize", count: 3)
        for (i, n) in dims.enumerated() where !(n >= 1 && n <= 2_147_483_647 && n.rounded() == n) {
            throw invalid("DimSize[\(i)]", "\(n)", "a positive integer")
        }
        let spacing = try numbers("ElementSpacing", "ElementSize", count: 3, default: [1, 1, 1])
        for (i, s) in spacing.enumerated() where s <= 0 { throw invalid("ElementSpacing[\(i)]", "\(s)", "> 0") }
        let offset = try numbers("Offset", "Position", "Origin", count: 3, default: [0, 0, 0])
        let matrix = try numbers("TransformMatrix", "Rotation", "Orientation", count: 9, default: [1, 0, 0, 0, 1, 0, 0, 0, 1])
        let typeName = field("ElementType") ?? "missing"
        guard let type = elementTypes[typeName] else {
            throw ImageIOError.unsupportedDatatype(path: path, field: "ElementType", value: typeName)
        }
        let channelText = field("ElementNumberOfChannels") ?? "1"
        guard let channels = Int(channelText), (1...4096).contains(channels) else {
            throw invalid("ElementNumberOfChannels", channelText, "an integer from 1 to 4096")
        }
        let bigEndian = field("BinaryDataByteOrderMSB", "ElementByteOrderMSB")?.lowercased() == "true"
        let compressed = field("CompressedData")?.lowercased() == "true"
        let shape = [Int(dims[2]), Int(dims[1]), Int(dims[0])]
        guard dims.reduce(Double(channels), *) < Double(Int32.max) else {
            throw invalid("DimSize", dims.map { "\(Int($0))" }.joined(separator: " "), "fewer than 2^31 voxels")
        }
        let count = shape.reduce(channels, *)
        let expectedBytes = count * type.size

        // The data bytes: after the header (LOCAL) or in the named file.
        let dataName = field("ElementDataFile") ?? ""
        var data: Data
        if dataName == "LOCAL" {
            data = file[(file.startIndex + dataStart)...]
        } else {
            guard !dataName.contains("%"), !dataName.hasPrefix("LIST") else {
                throw ImageIOError.unsupportedDatatype(path: path, field: "ElementDataFile", value: dataName)
            }
            let dataURL = dataName.hasPrefix("/") ? URL(fileURLWithPath: dataName)
                : url.deletingLastPathComponent().appendingPathComponent(dataName)
            guard FileManager.default.fileExists(atPath: dataURL.path) else {
                throw ImageIOError.missingDataFile(headerPath: path, dataPath: dataURL.path)
            }
            data = try ImageFiles.contents(of: dataURL)
            if let skip = field("HeaderSize").flatMap(Int.init), !compressed {
                data = skip >= 0 ? data.dropFirst(skip) : data.suffix(expectedBytes)
            }
        }
        if compressed {
            if let sizeText = field("CompressedDataSize") {
                guard let size = Int(sizeText), size > 0 else { throw invalid("CompressedDataSize", sizeText, "> 0") }
                guard data.count >= size else {
                    throw ImageIOError.truncated(path: path, field: "compressed data", neededBytes: size, foundBytes: data.count)
                }
                data = data.prefix(size)
            }
            data = try Zlib.inflate(Data(data), expectedSize: expectedBytes, path: path)
            guard data.count == expectedBytes else {
                throw ImageIOError.dataSizeMismatch(path: path, expectedBytes: expectedBytes, foundBytes: data.count)
            }
        } else if data.count < expectedBytes {
            throw ImageIOError.truncated(path: path, field: "voxel data", neededBytes: expectedBytes, foundBytes: data.count)
        } else if data.count > expectedBytes && dataName != "LOCAL" {
            throw ImageIOError.dataSizeMismatch(path: path, expectedBytes: expectedBytes, foundBytes: data.count)
        }
        var voxels = data.withUnsafeBytes { VoxelCodec.decode($0, type: type, count: count, bigEndian: bigEndian) }
        if channels > 1 { voxels = deinterleave(voxels, channels: channels) }

        // LPS → RAS; array axes D, H, W are MetaImage's z, y, x.
        let ras = [-1.0, -1, 1]
        let affine: [[Double]] = (0..<3).map { r in
            let columns: [Double] = [2, 1, 0].map { (a: Int) -> Double in matrix[3 * a + r] * spacing[a] * ras[r] }
            return columns + [offset[r] * ras[r]]
        }
        guard let geometry = Geometry(shape: shape, affine: affine) else {
            throw invalid("TransformMatrix", matrix.map { "\($0)" }.joined(separator: " "), "non-zero direction columns")
        }
        return ImageVolume(geometry: geometry, channels: channels, voxels: voxels, voxelType: type)
    }

    /// Writes `.mha` (data after the header) or `.mhd` plus a data file named like it (`.raw`, or `.zraw` when
    /// compressed), atomically, little-endian.
    public static func write(_ volume: ImageVolume, to url: URL, compressed: Bool = false) throws {
        let path = url.path
        try volume.checkWritable(path: path)
        let g = volume.geometry
        let typeName = ["MET_UCHAR", "MET_CHAR", "MET_SHORT", "MET_USHORT", "MET_INT", "MET_UINT", "MET_LONG_LONG",
                        "MET_FLOAT", "MET_DOUBLE"].first { elementTypes[$0] == volume.voxelType }!
        let voxels = volume.channels > 1 ? interleave(volume.voxels, channels: volume.channels) : volume.voxels
        var data = VoxelCodec.encode(voxels, type: volume.voxelType)
        if compressed { data = try Zlib.deflate(data, container: .zlib, path: path) }
        let xyz = [2, 1, 0]  // array axis of MetaImage x, y, z
        let lps = [-1.0, -1, 1]
        func list(_ values: [Double]) -> String { values.map { "\($0 == 0 ? 0 : $0)" }.joined(separator: " ") }
        let single = url.pathExtension.lowercased() == "mha"
        let dataURL = url.deletingPathExtension().appendingPathExtension(compressed ? "zraw" : "raw")
        var lines = [
            "ObjectType = Image", "NDims = 3", "BinaryData = True", "BinaryDataByteOrderMSB = False",
            "CompressedData = \(compressed ? "True" : "False")",
        ]
        if compressed { lines.append("CompressedDataSize = \(data.count)") }
        lines += [
            "TransformMatrix = " + list(xyz.flatMap { a in (0..<3).map { g.direction[$0][a] * lps[$0] } }),
            "Offset = " + list((0..<3).map { g.originMM[$0] * lps[$0] }),
            "CenterOfRotation = 0 0 0",
            "ElementSpacing = " + list(xyz.map { g.spacingMM[$0] }),
            "DimSize = " + xyz.map { "\(g.shape[$0])" }.joined(separator: " "),
        ]
        if volume.channels > 1 { lines.append("ElementNumberOfChannels = \(volume.channels)") }
        lines += ["ElementType = \(typeName)", "ElementDataFile = \(single ? "LOCAL" : dataURL.lastPathComponent)"]
        let header = Data((lines.joined(separator: "\n") + "\n").utf8)
        try AtomicFile.write(single ? header + data : header, to: url, companions: single ? [] : [(dataURL, data)])
    }

    /// The `Key = Value` lines up to and including `ElementDataFile`, and the byte offset just after that line.
    static func parseHeader(_ file: Data, path: String) throws -> (fields: [String: String], dataStart: Int) {
        var fields: [String: String] = [:]
        var lineStart = 0
        try file.withUnsafeBytes { bytes in
            while lineStart < bytes.count {
                let end = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
                let line = String(decoding: bytes[lineStart..<end], as: UTF8.self)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                lineStart = min(end + 1, bytes.count)
                if line.isEmpty { continue }
                let parts = line.split(separator: "=", maxSplits: 1)
                let key = parts.first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
                guard parts.count == 2, !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                    throw ImageIOError.badMagic(path: path, found: "header line \(line.prefix(40).debugDescription)")
                }
                fields[key] = parts[1].trimmingCharacters(in: .whitespaces)
                if key == "ElementDataFile" { return }
            }
            throw fields.isEmpty ? ImageIOError.badMagic(path: path, found: "an empty header")
                : ImageIOError.truncated(path: path, field: "ElementDataFile", neededBytes: file.count + 1, foundBytes: file.count)
        }
        return (fields, lineStart)
    }

    /// `[voxel][channel]` → `[channel][voxel]`.
    static func deinterleave(_ values: [Float], channels: Int) -> [Float] {
        let n = values.count / channels
        var out = [Float](repeating: 0, count: values.count)
        for v in 0..<n { for c in 0..<channels { out[c * n + v] = values[v * channels + c] } }
        return out
    }

    /// `[channel][voxel]` → `[voxel][channel]`.
    static func interleave(_ values: [Float], channels: Int) -> [Float] {
        let n = values.count / channels
        var out = [Float](repeating: 0, count: values.count)
        for v in 0..<n { for c in 0..<channels { out[v * channels + c] = values[c * n + v] } }
        return out
    }
}
