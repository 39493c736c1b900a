import CTorch

/// A libtorch tensor. Owns one handle and frees it when released.
public final class Tensor: @unchecked Sendable {
    let handle: OpaquePointer

    init(handle: OpaquePointer) { self.handle = handle }

    deinit { ct_free(handle) }

    // MARK: From and to Swift arrays

    /// A tensor with a copy of `values`, C-ordered in `shape`.
    public convenience init<T: TensorScalar>(_ values: [T], shape: [Int]) throws {
        let count = shape.reduce(1, *)
        guard shape.allSatisfy({ $0 >= 0 }), count == values.count else {
            throw TorchError.invalidArgument(op: "Tensor(_:shape:)", message: "\(values.count) values do not fill shape \(shape)")
        }
        self.init(handle: try values.withUnsafeBytes { try Tensor.handle(copying: $0, shape: shape, dtype: T.dtype) })
    }

    /// A 1-D tensor with a copy of `values`.
    public convenience init<T: TensorScalar>(_ values: [T]) throws {
        try self.init(values, shape: [values.count])
    }

    /// A 0-dimensional tensor holding `value`.
    public convenience init<T: TensorScalar>(scalar value: T) throws {
        try self.init([value], shape: [])
    }

    /// A tensor with a copy of raw C-ordered bytes of the given dtype (`shape.product * dtype.byteSize` bytes).
    public convenience init(copying bytes: UnsafeRawBufferPointer, shape: [Int], dtype: DType) throws {
        self.init(handle: try Tensor.handle(copying: bytes, shape: shape, dtype: dtype))
    }

    private static func handle(copying bytes: UnsafeRawBufferPointer, shape: [Int], dtype: DType) throws -> OpaquePointer {
        let need = shape.reduce(1, *) * dtype.byteSize
        guard bytes.count == need else {
            throw TorchError.invalidArgument(op: "Tensor(copying:)", message: "\(bytes.count) bytes given, shape \(shape) of \(dtype) needs \(need)")
        }
        let dims = shape.map(Int64.init)
        let handle = dims.withUnsafeBufferPointer { ct_from_data(bytes.baseAddress, $0.baseAddress, Int32(dims.count), dtype.rawValue) }
        guard let handle else { throw TorchError.last("Tensor(copying:)", []) }
        return handle
    }

    /// The elements as a Swift array, C-ordered; converts the dtype when it differs from `T`'s.
    public func array<T: TensorScalar>(_ type: T.Type = T.self) throws -> [T] {
        let source = dtype == T.dtype ? self : try to(T.dtype)
        let count = source.count
        return try [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            try source.copyBytes(to: UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
    }

    /// Copies the elements (C-ordered, on the CPU) into `buffer`, which must hold exactly `count * dtype.byteSize` bytes.
    public func copyBytes(to buffer: UnsafeMutableRawBufferPointer) throws {
        try status("copyBytes", [self]) { ct_copy_data(handle, buffer.baseAddress, Int64(buffer.count)) }
    }

    /// The single element as a Double.
    public func item() throws -> Double {
        guard count == 1 else {
            throw TorchError.invalidArgument(op: "item", message: "tensor of shape \(shape) has \(count) elements, not 1")
        }
        let value = ct_item_double(handle)
        if value.isNaN, ct_last_error() != nil { throw TorchError.last("item", [self]) }
        return value
    }

    // MARK: Metadata

    public var shape: [Int] {
        let n = Int(ct_ndim(handle))
        var dims = [Int64](repeating: 0, count: n)
        _ = ct_shape(handle, &dims)
        return dims.map(Int.init)
    }

    var shapeIfAvailable: [Int] { ct_defined(handle) == 1 ? shape : [] }

    public var rank: Int { Int(ct_ndim(handle)) }
    public var count: Int { Int(ct_numel(handle)) }

    public var strides: [Int] {
        var values = [Int64](repeating: 0, count: rank)
        _ = ct_strides(handle, &values)
        return values.map(Int.init)
    }

    public var dtype: DType { DType(rawValue: ct_dtype(handle)) ?? .float32 }

    public var device: Device {
        var type: Int32 = 0
        var index: Int32 = 0
        _ = ct_device(handle, &type, &index)
        return type == Int32(CT_DEVICE_CUDA) ? .cuda(Int(index)) : .cpu
    }

    public var isContiguous: Bool { ct_is_contiguous(handle) == 1 }
    public var isChannelsLast3d: Bool { ct_is_channels_last_3d(handle) == 1 }

    // MARK: Conversion

    public func to(_ dtype: DType) throws -> Tensor { try to(dtype, device: device) }
    public func to(device: Device) throws -> Tensor { try to(dtype, device: device) }
    public func to(_ dtype: DType, device: Device) throws -> Tensor {
        let code = device.code
        return try make("to(\(dtype), \(device))", [self]) { ct_to(handle, dtype.rawValue, code.type, code.index) }
    }
    public func contiguous() throws -> Tensor { try make("contiguous", [self]) { ct_contiguous(handle) } }
    /// The same values in channels-last-3d memory layout (`[N, C, D, H, W]` strided as N, D, H, W, C).
    public func channelsLast3d() throws -> Tensor { try make("channelsLast3d", [self]) { ct_to_channels_last_3d(handle) } }
    public func clone() throws -> Tensor { try make("clone", [self]) { ct_clone(handle) } }
    /// A tensor sharing storage with this one, cut from the autograd graph.
    public func detached() throws -> Tensor { try make("detach", [self]) { ct_detach(handle) } }
    /// A second handle to this very tensor (same storage and autograd identity).
    func alias() throws -> Tensor { try make("alias", [self]) { ct_shallow_clone(handle) } }

    /// Replaces this tensor's data by `other`'s, keeping its identity (parameters moved between devices).
    public func setData(_ other: Tensor) throws {
        try status("setData", [self, other]) { ct_set_data(handle, other.handle) }
    }

    /// In place: this ← other (broadcast, converted).
    public func copy_(_ other: Tensor) throws {
        try status("copy_", [self, other]) { ct_copy_(handle, other.handle) }
    }

    public func fill_(_ value: Double) throws {
        try status("fill_", [self]) { ct_fill_(handle, value) }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let header = "Tensor(\(dtype), shape: \(shape), device: \(device))"
        guard count <= 16, let values = try? array(Double.self) else { return header }
        return header + " " + values.map { String($0) }.joined(separator: ", ")
    }
}

/// Converts a Swift Int list to the shim's int64 list.
@inline(__always)
func int64s(_ values: [Int]) -> [Int64] { values.map(Int64.init) }
