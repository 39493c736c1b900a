import CHDF5

/// Owns one libhdf5 id and closes it exactly once: on `close()` or in `deinit`, whichever comes first.
/// An id that libhdf5 no longer considers valid (never opened, or closed with its file) is never closed.
final class Handle: @unchecked Sendable {
    enum Kind { case file, group, dataset, attribute, dataspace, datatype, propertyList }

    let kind: Kind
    private var rawID: hid_t

    init(_ id: hid_t, _ kind: Kind) {
        self.rawID = id
        self.kind = kind
    }

    /// Wraps the id a libhdf5 call returns; a negative id throws with the error stack.
    convenience init(_ kind: Kind, _ operation: String, _ context: Context, _ body: () -> hid_t) throws {
        self.init(try Library.call(operation, context, body), kind)
    }

    var id: hid_t { Library.locked { rawID } }

    @discardableResult
    func close() -> herr_t {
        Library.locked {
            defer { rawID = -1 }
            guard rawID >= 0, H5Iis_valid(rawID) > 0 else { return 0 }
            let result: herr_t
            switch kind {
            case .file: result = H5Fclose(rawID)
            case .group: result = H5Gclose(rawID)
            case .dataset: result = H5Dclose(rawID)
            case .attribute: result = H5Aclose(rawID)
            case .dataspace: result = H5Sclose(rawID)
            case .datatype: result = H5Tclose(rawID)
            case .propertyList: result = H5Pclose(rawID)
            }
            if result < 0 { _ = H5Eclear2(hid_t(H5E_DEFAULT)) }
            return result
        }
    }

    deinit { close() }
}
