import CHDF5

/// What a link in a group points at.
public enum ObjectKind: Sendable, Equatable, CustomStringConvertible {
    case group, dataset
    /// A named datatype, a dangling soft link or an external link whose target cannot be opened.
    case other

    public var description: String {
        switch self {
        case .group: "group"
        case .dataset: "dataset"
        case .other: "other object"
        }
    }
}

/// One entry of `Container.children()`.
public struct Child: Sendable, Equatable {
    public var name: String
    public var kind: ObjectKind

    public init(name: String, kind: ObjectKind) {
        self.name = name
        self.kind = kind
    }
}

/// How a new dataset is laid out on disk.
public struct DatasetOptions: Sendable {
    /// Chunk shape. Required by unlimited dimensions and by compression; when nil and needed, one is chosen
    /// (the shape, with unlimited or empty dimensions at least 64, halved along its largest axis down to 1 MiB).
    public var chunks: [Int]?
    /// Maximum shape; a nil entry is unlimited. nil: fixed at the creation shape.
    public var maxShape: [Int?]?
    /// gzip (deflate) level 0...9, applied after the shuffle filter. nil: no compression.
    public var gzipLevel: Int?

    public init(chunks: [Int]? = nil, maxShape: [Int?]? = nil, gzipLevel: Int? = nil) {
        self.chunks = chunks
        self.maxShape = maxShape
        self.gzipLevel = gzipLevel
    }
}

/// A group or the file's root group: creates, opens, lists and checks the objects below it.
/// Paths may be relative to this group ("s001/image") or absolute ("/subjects/s001/image").
public class Container: Object, @unchecked Sendable {
    // MARK: inspection

    /// What `path` points at, or nil when nothing is there (including paths that run through a dataset).
    public func kind(of path: String) -> ObjectKind? {
        let absolute = resolve(path)
        if absolute == "/" { return .group }
        return Library.locked {
            defer { _ = H5Eclear2(hid_t(H5E_DEFAULT)) }
            var prefix = ""
            for component in absolute.split(separator: "/") {
                prefix += "/" + component
                guard H5Lexists(handle.id, prefix, hid_t(H5P_DEFAULT)) > 0 else { return nil }
            }
            var info = H5O_info_t()
            guard H5Oget_info_by_name2(handle.id, absolute, &info, UInt32(H5O_INFO_BASIC), hid_t(H5P_DEFAULT)) >= 0 else {
                return .other
            }
            switch info.type {
            case H5O_TYPE_GROUP: return .group
            case H5O_TYPE_DATASET: return .dataset
            default: return .other
            }
        }
    }

    /// Whether anything exists at `path` ("subjects/s001/image"); false, not an error, for any missing component.
    public func exists(_ path: String) -> Bool { kind(of: path) != nil }

    /// The links directly in this group, in name order, with what each points at.
    public func children() throws -> [Child] {
        try Library.locked {
            var names: [String] = []
            var index: hsize_t = 0
            _ = try withUnsafeMutablePointer(to: &names) { pointer in
                try Library.call("H5Literate", context) {
                    H5Literate(handle.id, H5_INDEX_NAME, H5_ITER_INC, &index, { _, name, _, data in
                        collectName(name, into: data)
                    }, pointer)
                }
            }
            return names.map { Child(name: $0, kind: kind(of: $0) ?? .other) }
        }
    }

    private func require(_ expected: ObjectKind, at absolute: String, _ operation: String) throws {
        let context = Context(file: filePath, object: absolute)
        guard let found = kind(of: absolute) else { throw HDF5Error(.notFound, operation, context) }
        if found != expected {
            throw HDF5Error(.wrongObjectKind(expected: expected.description, found: found.description), operation, context)
        }
    }

    /// A link-creation property list that creates missing intermediate groups.
    private func intermediateGroups(_ context: Context) throws -> Handle {
        let list = try Handle(.propertyList, "H5Pcreate", context) { H5Pcreate(chdf5_p_link_create()) }
        try Library.call("H5Pset_create_intermediate_group", context) { H5Pset_create_intermediate_group(list.id, 1) }
        return list
    }

    // MARK: groups

    /// Creates a group, and any missing groups on the way ("a/b/c"); throws if something already exists there.
    public func createGroup(_ path: String) throws -> Group {
        let absolute = resolve(path)
        let context = Context(file: filePath, object: absolute)
        return try Library.locked {
            let links = try intermediateGroups(context)
            let id = try Library.call("H5Gcreate2", context) {
                H5Gcreate2(handle.id, absolute, links.id, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
            }
            return Group(handle: Handle(id, .group), owner: file, filePath: filePath, path: absolute)
        }
    }

    /// Opens an existing group; throws `.notFound` or `.wrongObjectKind`.
    public func openGroup(_ path: String) throws -> Group {
        let absolute = resolve(path)
        return try Library.locked {
            try require(.group, at: absolute, "open group")
            let group = try Handle(.group, "H5Gopen2", Context(file: filePath, object: absolute)) {
                H5Gopen2(handle.id, absolute, hid_t(H5P_DEFAULT))
            }
            return Group(handle: group, owner: file, filePath: filePath, path: absolute)
        }
    }

    /// Opens the group at `path`, creating it (and missing parents) when nothing is there.
    public func openOrCreateGroup(_ path: String) throws -> Group {
        try Library.locked { exists(path) ? try openGroup(path) : try createGroup(path) }
    }

    /// Deletes the link at `path` (the space is reclaimed only when the file is repacked).
    public func remove(_ path: String) throws {
        let absolute = resolve(path)
        let context = Context(file: filePath, object: absolute)
        try Library.locked {
            guard exists(absolute) else { throw HDF5Error(.notFound, "remove", context) }
            try Library.call("H5Ldelete", context) { H5Ldelete(handle.id, absolute, hid_t(H5P_DEFAULT)) }
        }
    }

    // MARK: datasets

    /// Creates a dataset of `type` and `shape` (`[]`: scalar), creating missing parent groups. Numeric types are stored
    /// as their native (little-endian on x86) types, `.string` as variable-length UTF-8.
    public func createDataset(
        _ path: String, type: HDF5Type, shape: [Int], options: DatasetOptions = DatasetOptions()
    ) throws -> Dataset {
        let absolute = resolve(path)
        let context = Context(file: filePath, object: absolute)
        let op = "create dataset"
        if shape.contains(where: { $0 < 0 }) {
            throw HDF5Error(.invalidArgument("negative dimension in shape \(shape)"), op, context)
        }
        if let maxShape = options.maxShape {
            guard maxShape.count == shape.count else {
                throw HDF5Error(.rankMismatch(expected: shape.count, found: maxShape.count), op, context)
            }
            for (size, max) in zip(shape, maxShape) where max.map({ $0 < size }) ?? false {
                throw HDF5Error(.invalidArgument("maxShape \(maxShape) is smaller than shape \(shape)"), op, context)
            }
        }
        if let level = options.gzipLevel, !(0...9).contains(level) {
            throw HDF5Error(.invalidArgument("gzip level \(level) is outside 0...9"), op, context)
        }
        let unlimited = options.maxShape?.contains(where: { $0 == nil }) ?? false
        var chunks = options.chunks
        if chunks == nil, !shape.isEmpty, unlimited || options.gzipLevel != nil {
            chunks = Self.guessChunks(shape: shape, maxShape: options.maxShape, elementBytes: type.nativeID == nil ? 16 : 8)
        }
        if let chunks {
            guard !shape.isEmpty else {
                throw HDF5Error(.invalidArgument("a scalar dataset cannot be chunked"), op, context)
            }
            guard chunks.count == shape.count else {
                throw HDF5Error(.rankMismatch(expected: shape.count, found: chunks.count), op, context)
            }
            guard chunks.allSatisfy({ $0 > 0 }) else {
                throw HDF5Error(.invalidArgument("chunk dimensions must be positive, got \(chunks)"), op, context)
            }
        }
        return try Library.locked {
            let space = try Dataspace.create(shape: shape, maxShape: options.maxShape, context)
            let datatype = try storedDatatype(type, context, op)
            let creation = try Handle(.propertyList, "H5Pcreate", context) { H5Pcreate(chdf5_p_dataset_create()) }
            if let chunks {
                let dims = chunks.map { hsize_t($0) }
                try Library.call("H5Pset_chunk", context) { H5Pset_chunk(creation.id, Int32(dims.count), dims) }
            }
            if let level = options.gzipLevel {
                try Library.call("H5Pset_shuffle", context) { H5Pset_shuffle(creation.id) }
                try Library.call("H5Pset_deflate", context) { H5Pset_deflate(creation.id, UInt32(level)) }
            }
            let links = try intermediateGroups(context)
            let id = try Library.call("H5Dcreate2", context) {
                H5Dcreate2(handle.id, absolute, datatype.id, space.id, links.id, creation.id, hid_t(H5P_DEFAULT))
            }
            return Dataset(handle: Handle(id, .dataset), owner: file, filePath: filePath, path: absolute)
        }
    }

    /// Creates a numeric dataset holding `values` (row-major) of `shape` (default: 1-D).
    @discardableResult
    public func createDataset<T: HDF5Scalar>(
        _ path: String, values: [T], shape: [Int]? = nil, options: DatasetOptions = DatasetOptions()
    ) throws -> Dataset {
        let shape = shape ?? [values.count]
        if elementCount(shape) != values.count {
            throw HDF5Error(.shapeMismatch(expected: shape, found: [values.count]), "create dataset",
                            Context(file: filePath, object: resolve(path)))
        }
        let dataset = try createDataset(path, type: T.hdf5Type, shape: shape, options: options)
        try dataset.write(values)
        return dataset
    }

    /// Creates a 1-D dataset of variable-length UTF-8 strings holding `strings`.
    @discardableResult
    public func createDataset(
        _ path: String, strings: [String], options: DatasetOptions = DatasetOptions()
    ) throws -> Dataset {
        let dataset = try createDataset(path, type: .string, shape: [strings.count], options: options)
        try dataset.write(strings)
        return dataset
    }

    /// Opens an existing dataset; throws `.notFound` or `.wrongObjectKind`.
    public func openDataset(_ path: String) throws -> Dataset {
        let absolute = resolve(path)
        return try Library.locked {
            try require(.dataset, at: absolute, "open dataset")
            let dataset = try Handle(.dataset, "H5Dopen2", Context(file: filePath, object: absolute)) {
                H5Dopen2(handle.id, absolute, hid_t(H5P_DEFAULT))
            }
            return Dataset(handle: dataset, owner: file, filePath: filePath, path: absolute)
        }
    }

    static func guessChunks(shape: [Int], maxShape: [Int?]?, elementBytes: Int) -> [Int] {
        var chunks = shape.indices.map { axis in
            let limit = maxShape.map { $0[axis] ?? Int.max } ?? shape[axis]
            return limit > shape[axis] ? min(max(shape[axis], 64), limit) : max(shape[axis], 1)
        }
        while elementCount(chunks) * elementBytes > 1 << 20, let axis = chunks.indices.max(by: { chunks[$0] < chunks[$1] }),
              chunks[axis] > 1 {
            chunks[axis] = (chunks[axis] + 1) / 2
        }
        return chunks
    }
}

/// A group inside a file.
public final class Group: Container, @unchecked Sendable {}
