import CHDF5

/// A filter in a dataset's pipeline, in the order it is applied on write.
public enum HDF5Filter: Sendable, Equatable {
    case shuffle
    case deflate(level: Int)
    case other(id: Int, name: String)
}

/// A dataset: an n-dimensional array of numbers or strings. Reads and writes take the whole dataset or a hyperslab
/// (`offset`, `count` and optional `stride` per axis; block size 1). Numeric reads and writes convert between the stored
/// and the Swift type only without loss (`HDF5Type.convertsLosslessly(to:)`), otherwise they throw `.typeMismatch`.
public final class Dataset: Object, @unchecked Sendable {
    var endpoint: Endpoint { Endpoint(handle: handle, isDataset: true, context: context) }

    // MARK: layout

    /// The current shape (`[]` for a scalar dataset).
    public var shape: [Int] { get throws { try endpoint.shape() } }

    /// The maximum shape; nil entries are unlimited.
    public var maxShape: [Int?] { get throws { try Dataspace.extent(try endpoint.space(), context).maxShape } }

    /// The stored element type.
    public var elementType: HDF5Type { get throws { try endpoint.elementType() } }

    private func creationList() throws -> Handle {
        try Handle(.propertyList, "H5Dget_create_plist", context) { H5Dget_create_plist(handle.id) }
    }

    /// The chunk shape, or nil for a contiguous or compact dataset.
    public var chunks: [Int]? {
        get throws {
            try Library.locked {
                let list = try creationList()
                guard H5Pget_layout(list.id) == H5D_CHUNKED else { return nil }
                let rank = try shape.count
                var dims = [hsize_t](repeating: 0, count: rank)
                try Library.call("H5Pget_chunk", context) { H5Pget_chunk(list.id, Int32(rank), &dims) }
                return dims.map { Int($0) }
            }
        }
    }

    /// The filter pipeline read back from the dataset's creation property list.
    public var filters: [HDF5Filter] {
        get throws {
            try Library.locked {
                let list = try creationList()
                let count = try Library.call("H5Pget_nfilters", context) { H5Pget_nfilters(list.id) }
                return try (0..<UInt32(count)).map { index in
                    var flags: UInt32 = 0, config: UInt32 = 0, valueCount = 8
                    var values = [UInt32](repeating: 0, count: 8), name = [CChar](repeating: 0, count: 64)
                    let id = try Library.call("H5Pget_filter2", context) {
                        H5Pget_filter2(list.id, index, &flags, &valueCount, &values, name.count, &name, &config)
                    }
                    switch id {
                    case H5Z_filter_t(H5Z_FILTER_SHUFFLE): return .shuffle
                    case H5Z_filter_t(H5Z_FILTER_DEFLATE): return .deflate(level: Int(values[0]))
                    default: return .other(id: Int(id), name: string(fromCBuffer: name))
                    }
                }
            }
        }
    }

    // MARK: numbers

    /// Reads the whole dataset as `T`.
    public func read<T: HDF5Scalar>(as type: T.Type) throws -> HDF5Array<T> { try endpoint.read(nil) }

    /// Reads a hyperslab as `T`; the result's shape is `count`.
    public func read<T: HDF5Scalar>(
        as type: T.Type, offset: [Int], count: [Int], stride: [Int]? = nil
    ) throws -> HDF5Array<T> {
        try endpoint.read(selection(offset, count, stride))
    }

    /// Reads the whole dataset, or a hyperslab when `offset` and `count` are given, into `buffer`, which must hold
    /// exactly the selected number of elements.
    public func read<T: HDF5Scalar>(
        into buffer: UnsafeMutableBufferPointer<T>, offset: [Int]? = nil, count: [Int]? = nil, stride: [Int]? = nil
    ) throws {
        try endpoint.read(into: buffer, try optionalSelection(offset, count, stride))
    }

    /// Overwrites the whole dataset; `values.count` must equal the element count.
    public func write<T: HDF5Scalar>(_ values: [T]) throws {
        try values.withUnsafeBufferPointer { try endpoint.write($0, nil) }
    }

    /// Overwrites a hyperslab; `values` holds `count` elements row-major.
    public func write<T: HDF5Scalar>(_ values: [T], offset: [Int], count: [Int], stride: [Int]? = nil) throws {
        try values.withUnsafeBufferPointer { try endpoint.write($0, selection(offset, count, stride)) }
    }

    /// Overwrites the whole dataset, or a hyperslab when `offset` and `count` are given, from `buffer`.
    public func write<T: HDF5Scalar>(
        from buffer: UnsafeBufferPointer<T>, offset: [Int]? = nil, count: [Int]? = nil, stride: [Int]? = nil
    ) throws {
        try endpoint.write(buffer, try optionalSelection(offset, count, stride))
    }

    // MARK: strings

    /// Reads a whole string dataset (variable- or fixed-length, UTF-8 or ASCII).
    public func readStrings() throws -> HDF5Array<String> { try endpoint.readStrings(nil) }

    /// Reads a hyperslab of a string dataset.
    public func readStrings(offset: [Int], count: [Int], stride: [Int]? = nil) throws -> HDF5Array<String> {
        try endpoint.readStrings(selection(offset, count, stride))
    }

    /// Overwrites a whole string dataset. Into a fixed-length string dataset each string must fit its length.
    public func write(_ strings: [String]) throws { try endpoint.writeStrings(strings, nil) }

    /// Overwrites a hyperslab of a string dataset.
    public func write(_ strings: [String], offset: [Int], count: [Int], stride: [Int]? = nil) throws {
        try endpoint.writeStrings(strings, selection(offset, count, stride))
    }

    // MARK: extent

    /// Changes the shape within `maxShape` (chunked datasets only); shrinking discards the elements outside.
    public func resize(to shape: [Int]) throws {
        let current = try self.shape, maximum = try maxShape
        guard shape.count == current.count else {
            throw HDF5Error(.rankMismatch(expected: current.count, found: shape.count), "resize", context)
        }
        for (size, max) in zip(shape, maximum) where size < 0 || max.map({ size > $0 }) ?? false {
            let limits = maximum.map { $0.map(String.init) ?? "unlimited" }
            throw HDF5Error(.invalidArgument("shape \(shape) is outside the maximum shape \(limits)"), "resize", context)
        }
        let dims = shape.map { hsize_t($0) }
        try Library.call("H5Dset_extent", context) { H5Dset_extent(handle.id, dims) }
    }

    /// Grows axis 0 by `values.count / (product of the other axes)` and writes `values` into the new rows.
    public func append<T: HDF5Scalar>(_ values: [T]) throws {
        try Library.locked {
            let (offset, count) = try growRows(values.count)
            try write(values, offset: offset, count: count)
        }
    }

    /// Grows axis 0 of a string dataset and writes `strings` into the new rows.
    public func append(_ strings: [String]) throws {
        try Library.locked {
            let (offset, count) = try growRows(strings.count)
            try write(strings, offset: offset, count: count)
        }
    }

    private func growRows(_ elements: Int) throws -> (offset: [Int], count: [Int]) {
        let current = try shape
        guard !current.isEmpty else { throw HDF5Error(.rankMismatch(expected: 1, found: 0), "append", context) }
        let rowSize = elementCount(Array(current.dropFirst()))
        guard rowSize > 0, elements % rowSize == 0 else {
            throw HDF5Error(.shapeMismatch(expected: [-1] + current.dropFirst(), found: [elements]), "append", context)
        }
        var grown = current
        grown[0] += elements / rowSize
        try resize(to: grown)
        return ([current[0]] + Array(repeating: 0, count: current.count - 1), [elements / rowSize] + current.dropFirst())
    }

    private func selection(_ offset: [Int], _ count: [Int], _ stride: [Int]?) -> Selection {
        Selection(offset: offset, count: count, stride: stride ?? Array(repeating: 1, count: count.count))
    }

    private func optionalSelection(_ offset: [Int]?, _ count: [Int]?, _ stride: [Int]?) throws -> Selection? {
        switch (offset, count) {
        case let (offset?, count?): return selection(offset, count, stride)
        case (nil, nil) where stride == nil: return nil
        default:
            throw HDF5Error(.invalidArgument("a hyperslab needs both offset and count"), "select", context)
        }
    }
}
