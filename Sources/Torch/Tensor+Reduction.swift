import CTorch

extension Tensor {
    private func reduce(_ op: Int32, _ name: String, _ dims: [Int], _ keepDims: Bool) throws -> Tensor {
        let d = int64s(dims)
        return try make(name, [self]) { ct_reduce(op, handle, d, Int32(d.count), keepDims ? 1 : 0) }
    }

    /// Sum over `dims` (all elements when empty).
    public func sum(dims: [Int] = [], keepDims: Bool = false) throws -> Tensor { try reduce(Int32(CT_SUM), "sum", dims, keepDims) }
    public func mean(dims: [Int] = [], keepDims: Bool = false) throws -> Tensor { try reduce(Int32(CT_MEAN), "mean", dims, keepDims) }
    /// Maximum values over `dims` (all elements when empty).
    public func max(dims: [Int] = [], keepDims: Bool = false) throws -> Tensor { try reduce(Int32(CT_AMAX), "max", dims, keepDims) }
    public func min(dims: [Int] = [], keepDims: Bool = false) throws -> Tensor { try reduce(Int32(CT_AMIN), "min", dims, keepDims) }
    public func prod(dims: [Int] = [], keepDims: Bool = false) throws -> Tensor { try reduce(Int32(CT_PROD), "prod", dims, keepDims) }
    public func any(dims: [Int] = [], keepDims: Bool = false) throws -> Tensor { try reduce(Int32(CT_ANY), "any", dims, keepDims) }
    public func all(dims: [Int] = [], keepDims: Bool = false) throws -> Tensor { try reduce(Int32(CT_ALL), "all", dims, keepDims) }
    public func logsumexp(dims: [Int], keepDims: Bool = false) throws -> Tensor { try reduce(Int32(CT_LOGSUMEXP), "logsumexp", dims, keepDims) }

    public func variance(dims: [Int] = [], unbiased: Bool = true, keepDims: Bool = false) throws -> Tensor {
        let d = int64s(dims)
        return try make("variance", [self]) { ct_var(handle, d, Int32(d.count), unbiased ? 1 : 0, keepDims ? 1 : 0, 0) }
    }
    public func std(dims: [Int] = [], unbiased: Bool = true, keepDims: Bool = false) throws -> Tensor {
        let d = int64s(dims)
        return try make("std", [self]) { ct_var(handle, d, Int32(d.count), unbiased ? 1 : 0, keepDims ? 1 : 0, 1) }
    }

    private func pair(_ name: String, _ call: (UnsafeMutablePointer<OpaquePointer?>, UnsafeMutablePointer<OpaquePointer?>) -> Int32) throws -> (Tensor, Tensor) {
        var a: OpaquePointer?
        var b: OpaquePointer?
        try status(name, [self]) { call(&a, &b) }
        return (Tensor(handle: a!), Tensor(handle: b!))
    }

    /// Maximum along one dim: values and their indices.
    public func max(dim: Int, keepDims: Bool = false) throws -> (values: Tensor, indices: Tensor) {
        try pair("max(dim: \(dim))") { ct_max_dim(handle, Int64(dim), keepDims ? 1 : 0, 0, $0, $1) }
    }
    public func min(dim: Int, keepDims: Bool = false) throws -> (values: Tensor, indices: Tensor) {
        try pair("min(dim: \(dim))") { ct_max_dim(handle, Int64(dim), keepDims ? 1 : 0, 1, $0, $1) }
    }
    public func argmax(dim: Int, keepDims: Bool = false) throws -> Tensor {
        try make("argmax(dim: \(dim))", [self]) { ct_argmax(handle, Int64(dim), keepDims ? 1 : 0, 0) }
    }
    public func argmin(dim: Int, keepDims: Bool = false) throws -> Tensor {
        try make("argmin(dim: \(dim))", [self]) { ct_argmax(handle, Int64(dim), keepDims ? 1 : 0, 1) }
    }
    public func topk(_ k: Int, dim: Int = -1, largest: Bool = true) throws -> (values: Tensor, indices: Tensor) {
        try pair("topk(\(k))") { ct_topk(handle, Int64(k), Int64(dim), largest ? 1 : 0, $0, $1) }
    }
    public func sorted(dim: Int = -1, descending: Bool = false) throws -> (values: Tensor, indices: Tensor) {
        try pair("sort") { ct_sort(handle, Int64(dim), descending ? 1 : 0, $0, $1) }
    }
    public func cumsum(dim: Int) throws -> Tensor { try make("cumsum", [self]) { ct_cumsum(handle, Int64(dim)) } }
}
