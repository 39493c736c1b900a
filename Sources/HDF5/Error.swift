import CHDF5

/// Every failure of the HDF5 module: what failed (`kind`, `operation`), where (`file`, `object`) and, for failures inside
/// libhdf5, its error stack (`frames`, innermost last).
public struct HDF5Error: Error, CustomStringConvertible, Sendable {
    public enum Kind: Equatable, Sendable {
        /// libhdf5 reported an error; `frames` says what.
        case library
        /// The file does not exist.
        case fileNotFound
        /// `File.create` without `overwrite: true` found an existing file.
        case fileExists
        /// The file exists but is not an HDF5 file.
        case notHDF5
        /// No group, dataset or attribute at the path.
        case notFound
        /// The path names an object of another kind (a dataset where a group is needed, ...).
        case wrongObjectKind(expected: String, found: String)
        /// The stored element type cannot be read or written as the requested one without loss.
        case typeMismatch(stored: HDF5Type, requested: HDF5Type)
        /// A selection or buffer has the wrong number of dimensions.
        case rankMismatch(expected: Int, found: Int)
        /// A buffer, value list or selection has the wrong number of elements or the wrong extent.
        case shapeMismatch(expected: [Int], found: [Int])
        /// A hyperslab does not fit inside the dataset's extent.
        case outOfBounds(offset: [Int], count: [Int], stride: [Int], shape: [Int])
        /// An argument that can never be valid (negative size, gzip level outside 0...9, string too long, ...).
        case invalidArgument(String)
        /// A file-system call failed (rename, remove, fsync), with the errno text.
        case io(String)
    }

    /// One frame of libhdf5's error stack.
    public struct Frame: Sendable, Equatable {
        public var function: String
        public var description: String
        public var major: String
        public var minor: String
    }

    public var kind: Kind
    /// What was attempted: the libhdf5 function or a short verb phrase ("open file", "read dataset").
    public var operation: String
    /// The file on disk.
    public var file: String
    /// The object path inside the file ("/subjects/s001/image"; "/" for the file; "/subjects/s001@rater" for an attribute).
    public var object: String
    public var frames: [Frame]

    init(_ kind: Kind, _ operation: String, _ context: Context, frames: [Frame] = []) {
        self.kind = kind
        self.operation = operation
        self.file = context.file
        self.object = context.object
        self.frames = frames
    }

    public var description: String {
        var text = "HDF5 error: \(operation) failed for '\(object)' in \(file): \(summary)"
        for frame in frames {
            text += "\n  \(frame.function): \(frame.description) (\(frame.major); \(frame.minor))"
        }
        return text
    }

    private var summary: String {
        switch kind {
        case .library: return frames.last.map(\.description) ?? "libhdf5 reported an error"
        case .fileNotFound: return "no such file"
        case .fileExists: return "the file already exists; pass overwrite: true to replace it"
        case .notHDF5: return "not an HDF5 file"
        case .notFound: return "no such object"
        case let .wrongObjectKind(expected, found): return "expected a \(expected), found a \(found)"
        case let .typeMismatch(stored, requested):
            return "stored type \(stored) cannot be converted to \(requested) without loss"
        case let .rankMismatch(expected, found): return "expected rank \(expected), found \(found)"
        case let .shapeMismatch(expected, found): return "expected shape \(expected), found \(found)"
        case let .outOfBounds(offset, count, stride, shape):
            return "hyperslab offset \(offset) count \(count) stride \(stride) does not fit shape \(shape)"
        case let .invalidArgument(text): return text
        case let .io(text): return text
        }
    }
}

/// Where an operation happened, for error messages: the file on disk and the object path inside it.
struct Context: Sendable {
    var file: String
    var object: String
}

/// Walks the calling thread's libhdf5 error stack into frames and clears it. Call under the library lock.
enum ErrorStack {
    private struct RawFrame {
        var function: String, description: String, major: hid_t, minor: hid_t
    }

    static func take() -> [HDF5Error.Frame] {
        var raw: [RawFrame] = []
        withUnsafeMutablePointer(to: &raw) { pointer in
            _ = H5Ewalk2(hid_t(H5E_DEFAULT), H5E_WALK_DOWNWARD, { _, entry, data in
                guard let entry = entry?.pointee, let data else { return 0 }
                data.assumingMemoryBound(to: [RawFrame].self).pointee.append(RawFrame(
                    function: entry.func_name.map { String(cString: $0) } ?? "?",
                    description: entry.desc.map { String(cString: $0) } ?? "",
                    major: entry.maj_num, minor: entry.min_num))
                return 0
            }, pointer)
        }
        // Message texts are looked up after the walk: API calls inside the walk callback could touch the stack.
        let frames = raw.map {
            HDF5Error.Frame(function: $0.function, description: $0.description,
                            major: message($0.major), minor: message($0.minor))
        }
        _ = H5Eclear2(hid_t(H5E_DEFAULT))
        // The walk lists the outermost call first; keep that order (innermost cause last).
        return frames
    }

    private static func message(_ id: hid_t) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        var type = H5E_MAJOR
        guard H5Eget_msg(id, &type, &buffer, buffer.count) > 0 else { return "?" }
        return string(fromCBuffer: buffer)
    }
}
