import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes whole files so that a failure never leaves a half-written file behind nor damages an existing one: each
/// file goes to a temporary file in the same folder (`TemporaryFiles`), and only when every one is written are they
/// renamed into place. (HDF5 files: `File.writeAtomically`.)
///
/// A failure is one `AtomicFile.Error` naming the output as the caller gave it (relative paths stay relative) and
/// the reason in a few words, never a Foundation error dump.
public enum AtomicFile {
    public struct Error: Swift.Error, CustomStringConvertible, LocalizedError, Equatable {
        /// The output, as given (`URL.relativePath`).
        public var path: String
        /// Why, in a few words ("the folder out does not exist", "permission denied in out").
        public var reason: String

        public var description: String { "cannot write \(path): \(reason)" }
        public var errorDescription: String? { description }
    }

    /// Writes `data` to `url`.
    public static func write(_ data: Data, to url: URL) throws {
        try write(data, to: url, companions: [])
    }

    /// Writes `data` to `url` and `companions` beside it (a MetaImage header and its data file), all or none:
    /// the companions are renamed into place first, `url` last. An error names `url` (and the companion when that
    /// is the file that failed).
    public static func write(_ data: Data, to url: URL, companions: [(url: URL, data: Data)]) throws {
        let files = companions + [(url, data)]
        var temporaries: [(temporary: URL, final: URL)] = []
        defer { for t in temporaries { unlink(t.temporary.path) } }
        func failure(_ file: URL, _ code: Int32) -> Error {
            let aboutTheFolder = [ENOENT, ENOTDIR, EACCES, EPERM, EROFS, ENOSPC, EDQUOT].contains(code)
            let companion = file == url || aboutTheFolder ? "" : " (writing its companion file \(file.lastPathComponent))"
            return Error(path: url.relativePath, reason: reason(code, folder: file.deletingLastPathComponent()) + companion)
        }
        for (file, bytes) in files {
            let temporary = file.deletingLastPathComponent().appendingPathComponent(".\(file.lastPathComponent).\(UUID().uuidString).tmp")
            let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            guard fd >= 0 else { throw failure(file, errno) }
            temporaries.append((temporary, file))
            var code: Int32 = 0
            bytes.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
                var offset = 0
                while offset < buffer.count {
                    let n = systemWrite(fd, buffer.baseAddress! + offset, buffer.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        code = errno
                        return
                    }
                    offset += n
                }
            }
            if close(fd) != 0, code == 0 { code = errno }
            if code != 0 { throw failure(file, code) }
        }
        for (temporary, final) in temporaries where rename(temporary.path, final.path) != 0 {
            throw failure(final, errno)
        }
        temporaries = []
    }

    /// A few words for a failed `open`, `write` or `rename` of a file in `folder`; the reasons that are about the
    /// folder name it.
    static func reason(_ code: Int32, folder: URL) -> String {
        let name = folder.relativePath.isEmpty ? "." : folder.relativePath
        switch code {
        case ENOENT: return "the folder \(name) does not exist"
        case ENOTDIR: return "\(name) is not a folder"
        case EACCES, EPERM: return "permission denied in \(name)"
        case EROFS: return "\(name) is on a read-only file system"
        case ENOSPC: return "no space left on the device"
        case EDQUOT: return "the disk quota is used up"
        case EISDIR: return "a folder is in the way"
        default: return String(cString: strerror(code)).lowercased()
        }
    }
}

private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, bytes, count)
    #else
    Darwin.write(fd, bytes, count)
    #endif
}
