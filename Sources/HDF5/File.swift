import CHDF5
import Foundation

/// An HDF5 file, which is also its root group. The file is closed when this object and every object opened from it
/// are gone, or at once by `close()`. It is opened with the strong close degree: closing it closes every object in it.
public final class File: Container, @unchecked Sendable {
    public enum Mode: Sendable { case readOnly, readWrite }

    /// The file on disk.
    public let url: URL

    private init(handle: Handle, url: URL) {
        self.url = url
        super.init(handle: handle, owner: nil, filePath: url.path, path: "/")
    }

    private static func accessList(_ context: Context) throws -> Handle {
        let list = try Handle(.propertyList, "H5Pcreate", context) { H5Pcreate(chdf5_p_file_access()) }
        try Library.call("H5Pset_fclose_degree", context) { H5Pset_fclose_degree(list.id, H5F_CLOSE_STRONG) }
        return list
    }

    /// Creates a new file. Throws `.fileExists` if the file exists, unless `overwrite` is true (then it is truncated).
    public static func create(at url: URL, overwrite: Bool = false) throws -> File {
        let context = Context(file: url.path, object: "/")
        if !overwrite, FileManager.default.fileExists(atPath: url.path) {
            throw HDF5Error(.fileExists, "create file", context)
        }
        return try Library.locked {
            let access = try accessList(context)
            let flags = overwrite ? chdf5_acc_trunc() : chdf5_acc_excl()
            let id = try Library.call("H5Fcreate", context) { H5Fcreate(url.path, flags, hid_t(H5P_DEFAULT), access.id) }
            return File(handle: Handle(id, .file), url: url)
        }
    }

    /// Opens an existing file. Throws `.fileNotFound`, `.notHDF5`, or `.library` (a truncated or damaged file).
    public static func open(_ url: URL, mode: Mode = .readOnly) throws -> File {
        let context = Context(file: url.path, object: "/")
        guard FileManager.default.fileExists(atPath: url.path) else { throw HDF5Error(.fileNotFound, "open file", context) }
        return try Library.locked {
            let isHDF5 = H5Fis_hdf5(url.path)
            if isHDF5 == 0 { throw HDF5Error(.notHDF5, "open file", context) }
            if isHDF5 < 0 { throw HDF5Error(.notHDF5, "open file", context, frames: ErrorStack.take()) }
            let access = try accessList(context)
            let flags = mode == .readOnly ? chdf5_acc_rdonly() : chdf5_acc_rdwr()
            let id = try Library.call("H5Fopen", context) { H5Fopen(url.path, flags, access.id) }
            return File(handle: Handle(id, .file), url: url)
        }
    }

    /// Writes buffered data to disk.
    public func flush() throws {
        try Library.call("H5Fflush", context) { H5Fflush(handle.id, H5F_SCOPE_LOCAL) }
    }

    /// Flushes and closes the file now, and with it every group, dataset and attribute opened from it (using them
    /// afterwards throws). Closing twice does nothing.
    public func close() throws {
        try Library.locked {
            guard H5Iis_valid(handle.id) > 0 else { return }
            try flush()
            if handle.close() < 0 { throw HDF5Error(.library, "H5Fclose", context) }
        }
    }

    /// Writes a file so that it appears complete or not at all: `body` fills a new file at a temporary path in the same
    /// folder (`.<name>.<uuid>.tmp`); on success it is closed, synced to disk and renamed onto `url` (replacing any
    /// file there); if `body` throws, the temporary file is deleted, `url` is left untouched and the error rethrown.
    @discardableResult
    public static func writeAtomically<R>(to url: URL, _ body: (File) throws -> R) throws -> R {
        let folder = url.deletingLastPathComponent()
        let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        let context = Context(file: url.path, object: "/")
        var file: File?
        do {
            file = try create(at: temporary)
            let result = try body(file!)
            try file!.close()
            file = nil
            try sync(temporary.path, context)
            guard rename(temporary.path, url.path) == 0 else {
                throw HDF5Error(.io("cannot rename \(temporary.path) onto \(url.path): \(String(cString: strerror(errno)))"),
                                "write atomically", context)
            }
            try sync(folder.path, context)
            return result
        } catch {
            try? file?.close()
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    private static func sync(_ path: String, _ context: Context) throws {
        let descriptor = Foundation.open(path, O_RDONLY)
        guard descriptor >= 0, fsync(descriptor) == 0 || errno == EINVAL else {
            let reason = String(cString: strerror(errno))
            if descriptor >= 0 { _ = Foundation.close(descriptor) }
            throw HDF5Error(.io("cannot sync \(path): \(reason)"), "write atomically", context)
        }
        _ = Foundation.close(descriptor)
    }
}
