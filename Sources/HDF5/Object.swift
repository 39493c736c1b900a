import CHDF5

/// An HDF5 object that carries attributes: a `File` (its root group), a `Group` or a `Dataset`.
/// Every object keeps its `File` alive, so the file stays open exactly as long as some handle from it lives.
/// All calls into libhdf5 are serialised by one lock, so objects may be shared between threads.
public class Object: @unchecked Sendable {
    let handle: Handle
    /// The `File` this object belongs to; nil for the `File` itself.
    let owner: File?
    /// The path of the file on disk.
    public let filePath: String
    /// The absolute path of the object inside the file ("/" for the root group).
    public let path: String

    init(handle: Handle, owner: File?, filePath: String, path: String) {
        self.handle = handle
        self.owner = owner
        self.filePath = filePath
        self.path = path
    }

    var file: File { owner ?? (self as! File) }
    var context: Context { Context(file: filePath, object: path) }

    /// The absolute path of `relative` seen from this object (`relative` may itself be absolute).
    func resolve(_ relative: String) -> String {
        let base = relative.hasPrefix("/") ? [] : path.split(separator: "/")
        let joined = (base + relative.split(separator: "/")).joined(separator: "/")
        return "/" + joined
    }

    // MARK: attributes

    /// The names of this object's attributes, in name order.
    public func attributeNames() throws -> [String] {
        var names: [String] = []
        var index: hsize_t = 0
        _ = try withUnsafeMutablePointer(to: &names) { pointer in
            try Library.call("H5Aiterate2", context) {
                H5Aiterate2(handle.id, H5_INDEX_NAME, H5_ITER_INC, &index, { _, name, _, data in
                    collectName(name, into: data)
                }, pointer)
            }
        }
        return names
    }

    /// Whether this object has an attribute called `name`.
    public func hasAttribute(_ name: String) -> Bool {
        Library.locked {
            let result = H5Aexists(handle.id, name)
            if result < 0 { _ = H5Eclear2(hid_t(H5E_DEFAULT)) }
            return result > 0
        }
    }

    /// Opens the attribute `name`; throws `.notFound` if there is none.
    public func attribute(_ name: String) throws -> Attribute {
        let context = Context(file: filePath, object: "\(path)@\(name)")
        return try Library.locked {
            guard hasAttribute(name) else { throw HDF5Error(.notFound, "open attribute", context) }
            let attribute = try Handle(.attribute, "H5Aopen", context) { H5Aopen(handle.id, name, hid_t(H5P_DEFAULT)) }
            return Attribute(handle: attribute, name: name, owner: file, context: context)
        }
    }

    /// Deletes the attribute `name`; throws `.notFound` if there is none.
    public func deleteAttribute(_ name: String) throws {
        let context = Context(file: filePath, object: "\(path)@\(name)")
        try Library.locked {
            guard hasAttribute(name) else { throw HDF5Error(.notFound, "delete attribute", context) }
            try Library.call("H5Adelete", context) { H5Adelete(handle.id, name) }
        }
    }

    /// Creates (replacing any existing one) an attribute of `type` and `shape` (`[]`: scalar) and returns it.
    func createAttribute(_ name: String, type: HDF5Type, shape: [Int]) throws -> Attribute {
        let context = Context(file: filePath, object: "\(path)@\(name)")
        return try Library.locked {
            if hasAttribute(name) { try Library.call("H5Adelete", context) { H5Adelete(handle.id, name) } }
            let space = try Dataspace.create(shape: shape, context)
            let datatype = try storedDatatype(type, context, "create attribute")
            let attribute = try Handle(.attribute, "H5Acreate2", context) {
                H5Acreate2(handle.id, name, datatype.id, space.id, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
            }
            return Attribute(handle: attribute, name: name, owner: file, context: context)
        }
    }

    /// Writes a scalar attribute, replacing any existing attribute of that name.
    public func setAttribute<T: HDF5Scalar>(_ name: String, _ value: T) throws {
        try setAttribute(name, [value], shape: [])
    }

    /// Writes an array attribute (1-D unless `shape` says otherwise), replacing any existing attribute of that name.
    public func setAttribute<T: HDF5Scalar>(_ name: String, _ values: [T], shape: [Int]? = nil) throws {
        let attribute = try createAttribute(name, type: T.hdf5Type, shape: shape ?? [values.count])
        try values.withUnsafeBufferPointer { try attribute.endpoint.write($0, nil) }
    }

    /// Writes a scalar variable-length UTF-8 string attribute, replacing any existing attribute of that name.
    public func setAttribute(_ name: String, _ value: String) throws {
        try createAttribute(name, type: .string, shape: []).endpoint.writeStrings([value], nil)
    }

    /// Writes an array of variable-length UTF-8 strings (1-D unless `shape` says otherwise).
    public func setAttribute(_ name: String, _ values: [String], shape: [Int]? = nil) throws {
        try createAttribute(name, type: .string, shape: shape ?? [values.count]).endpoint.writeStrings(values, nil)
    }

    /// Reads a one-element numeric attribute (scalar or of any shape with one element).
    public func readAttribute<T: HDF5Scalar>(_ name: String, as type: T.Type) throws -> T {
        let attribute = try attribute(name)
        let array = try attribute.read(as: T.self)
        guard array.values.count == 1 else {
            throw HDF5Error(.shapeMismatch(expected: [], found: array.shape), "read scalar attribute", attribute.context)
        }
        return array.values[0]
    }

    /// Reads a numeric attribute's values, flattened row-major.
    public func readAttribute<T: HDF5Scalar>(_ name: String, as type: [T].Type) throws -> [T] {
        try attribute(name).read(as: T.self).values
    }

    /// Reads a one-element string attribute (variable- or fixed-length).
    public func readAttribute(_ name: String, as type: String.Type) throws -> String {
        let attribute = try attribute(name)
        let array = try attribute.readStrings()
        guard array.values.count == 1 else {
            throw HDF5Error(.shapeMismatch(expected: [], found: array.shape), "read scalar attribute", attribute.context)
        }
        return array.values[0]
    }

    /// Reads a string attribute's values, flattened row-major.
    public func readAttribute(_ name: String, as type: [String].Type) throws -> [String] {
        try attribute(name).readStrings().values
    }
}
