import CTorch

extension Tensor {
    private static func fill(_ kind: Int32, _ name: String, _ shape: [Int], _ dtype: DType, _ device: Device) throws -> Tensor {
        let dims = int64s(shape)
        let code = device.code
        return try make("\(name)(\(shape))", []) { ct_fill(kind, dims, Int32(dims.count), dtype.rawValue, code.type, code.index) }
    }

    public static func zeros(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        try fill(Int32(CT_FILL_ZEROS), "zeros", shape, dtype, device)
    }
    public static func ones(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        try fill(Int32(CT_FILL_ONES), "ones", shape, dtype, device)
    }
    /// Uniform on [0, 1), from libtorch's seeded generator.
    public static func rand(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        try fill(Int32(CT_FILL_RAND), "rand", shape, dtype, device)
    }
    /// Standard normal, from libtorch's seeded generator.
    public static func randn(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        try fill(Int32(CT_FILL_RANDN), "randn", shape, dtype, device)
    }
    public static func full(_ shape: [Int], _ value: Double, dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        let dims = int64s(shape)
        let code = device.code
        return try make("full(\(shape))", []) { ct_full(dims, Int32(dims.count), value, dtype.rawValue, code.type, code.index) }
    }
    /// Uniform integers in [low, high).
    public static func randint(_ low: Int, _ high: Int, shape: [Int], dtype: DType = .int64) throws -> Tensor {
        let dims = int64s(shape)
        return try make("randint", []) { ct_randint(Int64(low), Int64(high), dims, Int32(dims.count), dtype.rawValue) }
    }
    public static func arange(_ start: Double, _ end: Double, step: Double = 1, dtype: DType = .float32) throws -> Tensor {
        try make("arange", []) { ct_arange(start, end, step, dtype.rawValue) }
    }
    public static func linspace(_ start: Double, _ end: Double, count: Int, dtype: DType = .float32) throws -> Tensor {
        try make("linspace", []) { ct_linspace(start, end, Int64(count), dtype.rawValue) }
    }
    public static func eye(_ n: Int, dtype: DType = .float32) throws -> Tensor {
        try make("eye", []) { ct_eye(Int64(n), dtype.rawValue) }
    }

    public func zerosLike() throws -> Tensor { try Tensor.zeros(shape, dtype: dtype, device: device) }
    public func onesLike() throws -> Tensor { try Tensor.ones(shape, dtype: dtype, device: device) }
}
