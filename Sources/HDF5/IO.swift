import CHDF5
import Foundation

/// Reads and writes shared by datasets and attributes: type checks, Bool as uint8, variable- and fixed-length strings.
struct Endpoint {
    let handle: Handle
    let isDataset: Bool
    let context: Context

    func storedType() throws -> Handle {
        try Handle(.datatype, isDataset ? "H5Dget_type" : "H5Aget_type", context) {
            isDataset ? H5Dget_type(handle.id) : H5Aget_type(handle.id)
        }
    }

    func space() throws -> Handle {
        try Handle(.dataspace, isDataset ? "H5Dget_space" : "H5Aget_space", context) {
            isDataset ? H5Dget_space(handle.id) : H5Aget_space(handle.id)
        }
    }

    func elementType() throws -> HDF5Type {
        let type = try storedType()
        return Library.locked { HDF5Type.classify(type.id) }
    }

    func shape() throws -> [Int] { try Dataspace.extent(try space(), context).shape }

    private func move(_ write: Bool, _ memoryType: hid_t, _ transfer: Transfer, _ buffer: UnsafeMutableRawPointer) throws {
        let op = isDataset ? (write ? "H5Dwrite" : "H5Dread") : (write ? "H5Awrite" : "H5Aread")
        try Library.call(op, context) {
            switch (isDataset, write) {
            case (true, false):
                H5Dread(handle.id, memoryType, transfer.memorySpace.id, transfer.fileSpace.id, hid_t(H5P_DEFAULT), buffer)
            case (true, true):
                H5Dwrite(handle.id, memoryType, transfer.memorySpace.id, transfer.fileSpace.id, hid_t(H5P_DEFAULT), buffer)
            case (false, false): H5Aread(handle.id, memoryType, buffer)
            case (false, true): H5Awrite(handle.id, memoryType, buffer)
            }
        }
    }

    private func moveNumbers<T: HDF5Scalar>(_: T.Type, write: Bool, _ transfer: Transfer, _ base: UnsafePointer<T>?) throws {
        guard transfer.count > 0, let base else { return }
        try move(write, T.hdf5Type.nativeID!, transfer, UnsafeMutableRawPointer(mutating: base))
    }

    private func checkConversion(from source: HDF5Type, to target: HDF5Type, _ op: String) throws {
        if !source.convertsLosslessly(to: target) {
            let (stored, requested) = op.hasPrefix("write") ? (target, source) : (source, target)
            throw HDF5Error(.typeMismatch(stored: stored, requested: requested), op, context)
        }
    }

    // MARK: numbers

    func read<T: HDF5Scalar>(_ selection: Selection?) throws -> HDF5Array<T> {
        if T.self == Bool.self {
            let bytes: HDF5Array<UInt8> = try read(selection)
            return HDF5Array(values: bytes.values.map { $0 != 0 } as! [T], shape: bytes.shape)
        }
        return try Library.locked {
            let transfer = try Transfer(space: try space(), selection: selection, context, "read")
            try checkConversion(from: try elementType(), to: T.hdf5Type, "read")
            let values = try [T](unsafeUninitializedCapacity: transfer.count) { buffer, initialized in
                try moveNumbers(T.self, write: false, transfer, buffer.baseAddress)
                initialized = transfer.count
            }
            return HDF5Array(values: values, shape: transfer.shape)
        }
    }

    func read<T: HDF5Scalar>(into buffer: UnsafeMutableBufferPointer<T>, _ selection: Selection?) throws {
        if T.self == Bool.self {
            let bytes: HDF5Array<UInt8> = try read(selection)
            try checkCount(buffer.count, bytes.shape, "read")
            for (index, byte) in bytes.values.enumerated() { buffer[index] = (byte != 0) as! T }
            return
        }
        try Library.locked {
            let transfer = try Transfer(space: try space(), selection: selection, context, "read")
            try checkCount(buffer.count, transfer.shape, "read")
            try checkConversion(from: try elementType(), to: T.hdf5Type, "read")
            try moveNumbers(T.self, write: false, transfer, buffer.baseAddress)
        }
    }

    func write<T: HDF5Scalar>(_ values: UnsafeBufferPointer<T>, _ selection: Selection?) throws {
        if T.self == Bool.self {
            let bytes = values.map { ($0 as! Bool) ? UInt8(1) : 0 }
            return try bytes.withUnsafeBufferPointer { try write($0, selection) }
        }
        try Library.locked {
            let transfer = try Transfer(space: try space(), selection: selection, context, "write")
            try checkCount(values.count, transfer.shape, "write")
            try checkConversion(from: T.hdf5Type, to: try elementType(), "write")
            try moveNumbers(T.self, write: true, transfer, values.baseAddress)
        }
    }

    private func checkCount(_ found: Int, _ shape: [Int], _ op: String) throws {
        if found != elementCount(shape) { throw HDF5Error(.shapeMismatch(expected: shape, found: [found]), op, context) }
    }

    // MARK: strings

    /// The stored string type's layout: nil size for variable-length.
    private func stringLayout(_ type: Handle, _ op: String) throws -> (size: Int?, cset: H5T_cset_t, pad: H5T_str_t) {
        let stored = HDF5Type.classify(type.id)
        guard stored == .string else { throw HDF5Error(.typeMismatch(stored: stored, requested: .string), op, context) }
        let variable = try Library.call("H5Tis_variable_str", context) { H5Tis_variable_str(type.id) } > 0
        return (variable ? nil : H5Tget_size(type.id), H5Tget_cset(type.id), H5Tget_strpad(type.id))
    }

    private func memoryStringType(size: Int?, cset: H5T_cset_t, pad: H5T_str_t) throws -> Handle {
        let type = try Handle(.datatype, "H5Tcopy", context) { H5Tcopy(chdf5_c_s1()) }
        try Library.call("H5Tset_size", context) { H5Tset_size(type.id, size ?? chdf5_variable()) }
        try Library.call("H5Tset_cset", context) { H5Tset_cset(type.id, cset) }
        try Library.call("H5Tset_strpad", context) { H5Tset_strpad(type.id, pad) }
        return type
    }

    func readStrings(_ selection: Selection?) throws -> HDF5Array<String> {
        try Library.locked {
            let transfer = try Transfer(space: try space(), selection: selection, context, "read")
            let layout = try stringLayout(try storedType(), "read")
            let memoryType = try memoryStringType(size: layout.size, cset: layout.cset, pad: layout.pad)
            let n = transfer.count
            if n == 0 { return HDF5Array(values: [], shape: transfer.shape) }
            if let size = layout.size {
                var bytes = [UInt8](repeating: 0, count: n * size)
                try bytes.withUnsafeMutableBytes { try move(false, memoryType.id, transfer, $0.baseAddress!) }
                let values = (0..<n).map { index in
                    var field = bytes[index * size ..< (index + 1) * size]
                    if let end = field.firstIndex(of: 0) { field = field[..<end] }
                    if layout.pad == H5T_STR_SPACEPAD { while field.last == 0x20 { field = field.dropLast() } }
                    return String(decoding: field, as: UTF8.self)
                }
                return HDF5Array(values: values, shape: transfer.shape)
            }
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: n)
            try pointers.withUnsafeMutableBytes { try move(false, memoryType.id, transfer, $0.baseAddress!) }
            let values = pointers.map { $0.map { String(cString: $0) } ?? "" }
            _ = pointers.withUnsafeMutableBytes {
                H5Dvlen_reclaim(memoryType.id, transfer.memorySpace.id, hid_t(H5P_DEFAULT), $0.baseAddress!)
            }
            return HDF5Array(values: values, shape: transfer.shape)
        }
    }

    func writeStrings(_ values: [String], _ selection: Selection?) throws {
        try Library.locked {
            let transfer = try Transfer(space: try space(), selection: selection, context, "write")
            try checkCount(values.count, transfer.shape, "write")
            let layout = try stringLayout(try storedType(), "write")
            let memoryType = try memoryStringType(size: layout.size, cset: layout.cset, pad: layout.pad)
            if values.isEmpty { return }
            if let size = layout.size {
                let limit = layout.pad == H5T_STR_NULLTERM ? size - 1 : size
                var bytes = [UInt8](repeating: layout.pad == H5T_STR_SPACEPAD ? 0x20 : 0, count: values.count * size)
                for (index, value) in values.enumerated() {
                    let utf8 = Array(value.utf8)
                    guard utf8.count <= limit else {
                        throw HDF5Error(.invalidArgument(
                            "string \"\(value)\" has \(utf8.count) UTF-8 bytes; the fixed-length type holds \(limit)"),
                            "write", context)
                    }
                    bytes.replaceSubrange(index * size ..< index * size + utf8.count, with: utf8)
                }
                try bytes.withUnsafeMutableBytes { try move(true, memoryType.id, transfer, $0.baseAddress!) }
                return
            }
            var pointers: [UnsafeMutablePointer<CChar>?] = values.map { strdup($0) }
            defer { pointers.forEach { free($0) } }
            try pointers.withUnsafeMutableBytes { try move(true, memoryType.id, transfer, $0.baseAddress!) }
        }
    }
}

/// Creates the stored datatype for a new dataset or attribute: the native numeric type, or variable-length UTF-8 text.
func storedDatatype(_ type: HDF5Type, _ context: Context, _ operation: String) throws -> (id: hid_t, owner: Handle?) {
    if let native = type.nativeID { return (native, nil) }
    guard type == .string else {
        throw HDF5Error(.invalidArgument("cannot create data of type \(type)"), operation, context)
    }
    let handle = try Handle(.datatype, "H5Tcopy", context) { H5Tcopy(chdf5_c_s1()) }
    try Library.call("H5Tset_size", context) { H5Tset_size(handle.id, chdf5_variable()) }
    try Library.call("H5Tset_cset", context) { H5Tset_cset(handle.id, H5T_CSET_UTF8) }
    return (handle.id, handle)
}
