import CHDF5

/// Dataspaces: creating them from shapes, reading shapes back, and applying hyperslab selections.
enum Dataspace {
    /// A simple dataspace of `shape` (scalar for `[]`); `maxShape` entries that are nil are unlimited.
    static func create(shape: [Int], maxShape: [Int?]? = nil, _ context: Context) throws -> Handle {
        if shape.isEmpty { return try Handle(.dataspace, "H5Screate", context) { H5Screate(H5S_SCALAR) } }
        let dims = shape.map { hsize_t($0) }
        guard let maxShape else {
            return try Handle(.dataspace, "H5Screate_simple", context) {
                H5Screate_simple(Int32(dims.count), dims, nil)
            }
        }
        let maxDims = maxShape.map { $0.map { hsize_t($0) } ?? chdf5_unlimited() }
        return try Handle(.dataspace, "H5Screate_simple", context) {
            H5Screate_simple(Int32(dims.count), dims, maxDims)
        }
    }

    /// The current and maximum extent of a dataspace (nil entries of the maximum are unlimited).
    static func extent(_ space: Handle, _ context: Context) throws -> (shape: [Int], maxShape: [Int?]) {
        try Library.locked {
            let rank = Int(try Library.call("H5Sget_simple_extent_ndims", context) { H5Sget_simple_extent_ndims(space.id) })
            var dims = [hsize_t](repeating: 0, count: rank), maxDims = dims
            try Library.call("H5Sget_simple_extent_dims", context) {
                H5Sget_simple_extent_dims(space.id, &dims, &maxDims)
            }
            return (dims.map { Int($0) }, maxDims.map { $0 == chdf5_unlimited() ? nil : Int($0) })
        }
    }
}

/// Which elements a read or write touches: all of them, or a hyperslab (offset, count, stride; block 1).
struct Selection {
    var offset: [Int]
    var count: [Int]
    var stride: [Int]

    /// Checks the hyperslab against a dataset shape; throws rank, argument and bounds errors with context.
    func validate(against shape: [Int], _ context: Context, _ operation: String) throws {
        for list in [offset, count, stride] where list.count != shape.count {
            throw HDF5Error(.rankMismatch(expected: shape.count, found: list.count), operation, context)
        }
        if offset.contains(where: { $0 < 0 }) || count.contains(where: { $0 < 0 }) || stride.contains(where: { $0 < 1 }) {
            throw HDF5Error(.invalidArgument(
                "hyperslab needs offset >= 0, count >= 0, stride >= 1; "
                    + "got offset \(offset) count \(count) stride \(stride)"),
                operation, context)
        }
        for axis in shape.indices where count[axis] > 0 && offset[axis] + (count[axis] - 1) * stride[axis] >= shape[axis] {
            throw HDF5Error(.outOfBounds(offset: offset, count: count, stride: stride, shape: shape), operation, context)
        }
    }
}

/// The file and memory dataspaces of one transfer, and the shape of what it moves.
struct Transfer {
    var fileSpace: Handle
    var memorySpace: Handle
    var shape: [Int]
    var count: Int { elementCount(shape) }

    /// Builds the dataspaces for a transfer of `selection` (or everything) in a dataset or attribute with `space`.
    init(space: Handle, selection: Selection?, _ context: Context, _ operation: String) throws {
        let (shape, _) = try Dataspace.extent(space, context)
        fileSpace = space
        if let selection {
            try selection.validate(against: shape, context, operation)
            self.shape = selection.count
            if elementCount(selection.count) > 0 {
                let start = selection.offset.map { hsize_t($0) }, count = selection.count.map { hsize_t($0) }
                let stride = selection.stride.map { hsize_t($0) }
                try Library.call("H5Sselect_hyperslab", context) {
                    H5Sselect_hyperslab(space.id, H5S_SELECT_SET, start, stride, count, nil)
                }
            }
        } else {
            self.shape = shape
        }
        // The memory space has the selection's own shape, not one flat dimension: with the same rank and shape on
        // both sides HDF5 maps each chunk's part as one hyperslab, where a flat memory space makes it visit every
        // element to build that map (H5S_select_iterate; a 24x96x64 crop read at about a third of the speed).
        let total = elementCount(self.shape)
        memorySpace = try Dataspace.create(shape: self.shape.isEmpty ? [] : total == 0 ? [0] : self.shape, context)
    }
}
