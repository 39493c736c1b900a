import CTorch

/// One component of a subscript: `t[0, .all, .range(2, 5)]`.
public enum TensorIndex: Sendable, ExpressibleByIntegerLiteral {
    /// Selects one position and drops the dimension (negative counts from the end).
    case at(Int)
    /// Keeps positions start..<end with a step (negative start/end count from the end; nil end means to the end).
    case range(Int, Int?, step: Int = 1)
    /// Keeps the whole dimension.
    case all
    /// Inserts a new dimension of size 1.
    case newAxis

    public init(integerLiteral value: Int) { self = .at(value) }
}

public enum PaddingMode: Int32, Sendable {
    case constant = 0, reflect, replicate
}

extension Tensor {
    public func reshape(_ shape: [Int]) throws -> Tensor {
        let s = int64s(shape)
        return try make("reshape(\(shape))", [self]) { ct_reshape(handle, s, Int32(s.count)) }
    }
    public func permute(_ dims: [Int]) throws -> Tensor {
        let d = int64s(dims)
        return try make("permute(\(dims))", [self]) { ct_permute(handle, d, Int32(d.count)) }
    }
    public func transpose(_ d0: Int, _ d1: Int) throws -> Tensor {
        try make("transpose(\(d0), \(d1))", [self]) { ct_transpose(handle, Int64(d0), Int64(d1)) }
    }
    /// Broadcasts to `shape` without copying (-1 keeps a dimension).
    public func expand(_ shape: [Int]) throws -> Tensor {
        let s = int64s(shape)
        return try make("expand(\(shape))", [self]) { ct_expand(handle, s, Int32(s.count)) }
    }
    public func repeated(_ repeats: [Int]) throws -> Tensor {
        let r = int64s(repeats)
        return try make("repeat(\(repeats))", [self]) { ct_repeat(handle, r, Int32(r.count)) }
    }
    public func squeeze(dim: Int) throws -> Tensor { try make("squeeze(\(dim))", [self]) { ct_squeeze(handle, Int64(dim)) } }
    public func unsqueeze(dim: Int) throws -> Tensor { try make("unsqueeze(\(dim))", [self]) { ct_unsqueeze(handle, Int64(dim)) } }
    public func flatten(from start: Int = 0, to end: Int = -1) throws -> Tensor {
        try make("flatten", [self]) { ct_flatten(handle, Int64(start), Int64(end)) }
    }
    public func flip(_ dims: [Int]) throws -> Tensor {
        let d = int64s(dims)
        return try make("flip(\(dims))", [self]) { ct_flip(handle, d, Int32(d.count)) }
    }
    /// Positions start..<end (step) along `dim`; a view. Negative bounds count from the end.
    public func slice(dim: Int, start: Int = 0, end: Int? = nil, step: Int = 1) throws -> Tensor {
        try make("slice(dim: \(dim), \(start)..<\(end.map(String.init) ?? "end"))", [self]) {
            ct_slice(handle, Int64(dim), Int64(start), Int64(end ?? Int(Int64.max)), Int64(step))
        }
    }
    /// Position `index` along `dim`, dropping that dimension; a view.
    public func select(dim: Int, index: Int) throws -> Tensor {
        try make("select(dim: \(dim), index: \(index))", [self]) { ct_select(handle, Int64(dim), Int64(index)) }
    }
    public func indexSelect(dim: Int, index: Tensor) throws -> Tensor {
        try make("indexSelect(dim: \(dim))", [self, index]) { ct_index_select(handle, Int64(dim), index.handle) }
    }
    public func gather(dim: Int, index: Tensor) throws -> Tensor {
        try make("gather(dim: \(dim))", [self, index]) { ct_gather(handle, Int64(dim), index.handle) }
    }
    /// A copy of self with `source` added at `index` along `dim`.
    public func scatterAdd(dim: Int, index: Tensor, source: Tensor) throws -> Tensor {
        try make("scatterAdd(dim: \(dim))", [self, index, source]) { ct_scatter_add(handle, Int64(dim), index.handle, source.handle) }
    }
    /// The elements where `mask` is true, as a 1-D tensor.
    public func maskedSelect(_ mask: Tensor) throws -> Tensor {
        try make("maskedSelect", [self, mask]) { ct_masked_select(handle, mask.handle) }
    }
    /// A copy with `value` where `mask` is true.
    public func maskedFill(_ mask: Tensor, value: Double) throws -> Tensor {
        try make("maskedFill", [self, mask]) { ct_masked_fill(handle, mask.handle, value) }
    }
    /// Indices of the non-zero elements, `[count, rank]`.
    public func nonzero() throws -> Tensor { try make("nonzero", [self]) { ct_nonzero(handle) } }
    /// One-hot encoding of an int64 tensor: a new last dimension of size `classes`.
    public func oneHot(classes: Int) throws -> Tensor {
        try make("oneHot(\(classes))", [self]) { ct_one_hot(handle, Int64(classes)) }
    }

    public static func cat(_ tensors: [Tensor], dim: Int = 0) throws -> Tensor {
        var handles: [OpaquePointer?] = tensors.map(\.handle)
        return try make("cat(dim: \(dim))", tensors) { ct_cat(&handles, Int32(handles.count), Int64(dim)) }
    }
    public static func stack(_ tensors: [Tensor], dim: Int = 0) throws -> Tensor {
        var handles: [OpaquePointer?] = tensors.map(\.handle)
        return try make("stack(dim: \(dim))", tensors) { ct_stack(&handles, Int32(handles.count), Int64(dim)) }
    }

    /// Pads like `torch.nn.functional.pad`: (before, after) pairs starting from the last dimension.
    public func pad(_ amounts: [Int], mode: PaddingMode = .constant, value: Double = 0) throws -> Tensor {
        let p = int64s(amounts)
        return try make("pad(\(amounts), \(mode))", [self]) { ct_pad(handle, p, Int32(p.count), mode.rawValue, value) }
    }

    /// Indexing by positions, ranges, `.all` and `.newAxis`, one per leading dimension; a view.
    public subscript(_ indices: TensorIndex...) -> Tensor {
        get throws {
            var result = self
            var dim = 0
            for index in indices {
                switch index {
                case let .at(i):
                    result = try result.select(dim: dim, index: i)
                case let .range(start, end, step):
                    result = try result.slice(dim: dim, start: start, end: end, step: step)
                    dim += 1
                case .all:
                    dim += 1
                case .newAxis:
                    result = try result.unsqueeze(dim: dim)
                    dim += 1
                }
            }
            return result
        }
    }
}
