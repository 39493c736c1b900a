import CZlib
import Foundation

/// zlib compression: gzip for `.nii.gz`, zlib streams for MetaImage `CompressedData`.
enum Zlib {
    enum Container { case gzip, zlib }

    /// Compresses `data` into a gzip (windowBits 15+16) or zlib (15) stream.
    static func deflate(_ data: Data, container: Container, level: Int32 = 6, path: String) throws -> Data {
        var stream = z_stream()
        guard rachis_deflateInit2(&stream, level, container == .gzip ? 31 : 15) == Z_OK else {
            throw ImageIOError.ioFailed(path: path, reason: "zlib deflateInit2 failed")
        }
        defer { deflateEnd(&stream) }
        var output = Data(count: Int(deflateBound(&stream, uLong(data.count))) + 64)
        let status: Int32 = data.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { out in
                stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
                stream.avail_in = uInt(input.count)
                stream.next_out = out.bindMemory(to: Bytef.self).baseAddress
                stream.avail_out = uInt(out.count)
                return CZlib.deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else {
            throw ImageIOError.ioFailed(path: path, reason: "zlib deflate failed (\(status))")
        }
        output.count = Int(stream.total_out)
        return output
    }

    /// Inflates a gzip or zlib stream (detected from its header, windowBits 15+32), including concatenated
    /// gzip members. `expectedSize` sizes the output buffer; it grows when the data is larger.
    static func inflate(_ data: Data, expectedSize: Int = 0, path: String) throws -> Data {
        var stream = z_stream()
        guard rachis_inflateInit2(&stream, 15 + 32) == Z_OK else {
            throw ImageIOError.corruptCompression(path: path, detail: "zlib inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        var output = Data(count: max(expectedSize, data.count * 4, 1024))
        var produced = 0
        try data.withUnsafeBytes { input in
            guard let base = input.bindMemory(to: Bytef.self).baseAddress, input.count > 0 else {
                throw ImageIOError.corruptCompression(path: path, detail: "no compressed data")
            }
            stream.next_in = UnsafeMutablePointer(mutating: base)
            stream.avail_in = uInt(input.count)
            while true {
                if produced == output.count { output.count *= 2 }
                let status: Int32 = output.withUnsafeMutableBytes { out in
                    stream.next_out = out.bindMemory(to: Bytef.self).baseAddress! + produced
                    stream.avail_out = uInt(min(out.count - produced, Int(UInt32.max)))
                    let before = stream.avail_out
                    let status = CZlib.inflate(&stream, Z_NO_FLUSH)
                    produced += Int(before - stream.avail_out)
                    return status
                }
                switch status {
                case Z_OK:
                    continue
                case Z_STREAM_END:
                    // Another gzip member may follow (as `cat a.gz b.gz` makes).
                    if stream.avail_in > 0, stream.next_in.pointee == 0x1f {
                        inflateReset(&stream)
                        continue
                    }
                    return
                case Z_BUF_ERROR where stream.avail_in == 0:
                    throw ImageIOError.corruptCompression(path: path, detail: "compressed stream ends early")
                case Z_BUF_ERROR:
                    continue
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                    throw ImageIOError.corruptCompression(path: path, detail: message)
                }
            }
        }
        output.count = produced
        return output
    }

    /// Whether `data` starts with the gzip magic bytes.
    static func isGzip(_ data: Data) -> Bool {
        data.count >= 2 && data[data.startIndex] == 0x1f && data[data.startIndex + 1] == 0x8b
    }
}
