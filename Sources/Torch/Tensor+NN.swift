import CTorch

/// Three per-axis values (depth, height, width) for 3-D ops.
public struct Triple: Equatable, Sendable, ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral, CustomStringConvertible {
    public var d: Int, h: Int, w: Int
    public init(_ d: Int, _ h: Int, _ w: Int) { (self.d, self.h, self.w) = (d, h, w) }
    public init(integerLiteral value: Int) { self.init(value, value, value) }
    public init(arrayLiteral elements: Int...) {
        precondition(elements.count == 3, "a Triple takes 3 values")
        self.init(elements[0], elements[1], elements[2])
    }
    public var array: [Int] { [d, h, w] }
    var int64: [Int64] { [Int64(d), Int64(h), Int64(w)] }
    public var description: String { "(\(d), \(h), \(w))" }
}

extension Tensor {
    /// 3-D convolution of `[N, C, D, H, W]` with `weight` `[outC, C/groups, kD, kH, kW]`.
    public func conv3d(_ weight: Tensor, bias: Tensor? = nil, stride: Triple = 1, padding: Triple = 0,
                       dilation: Triple = 1, groups: Int = 1) throws -> Tensor {
        let (s, p, d) = (stride.int64, padding.int64, dilation.int64)
        return try make("conv3d", [self, weight] + (bias.map { [$0] } ?? [])) {
            ct_conv3d(handle, weight.handle, bias?.handle, s, p, d, Int64(groups))
        }
    }
    /// Transposed 3-D convolution; `weight` is `[C, outC/groups, kD, kH, kW]`.
    public func convTranspose3d(_ weight: Tensor, bias: Tensor? = nil, stride: Triple = 1, padding: Triple = 0,
                                outputPadding: Triple = 0, groups: Int = 1, dilation: Triple = 1) throws -> Tensor {
        let (s, p, o, d) = (stride.int64, padding.int64, outputPadding.int64, dilation.int64)
        return try make("convTranspose3d", [self, weight] + (bias.map { [$0] } ?? [])) {
            ct_conv_transpose3d(handle, weight.handle, bias?.handle, s, p, o, Int64(groups), d)
        }
    }
    public func maxPool3d(kernel: Triple, stride: Triple? = nil, padding: Triple = 0, dilation: Triple = 1,
                          ceilMode: Bool = false) throws -> Tensor {
        let (k, s, p, d) = (kernel.int64, (stride ?? kernel).int64, padding.int64, dilation.int64)
        return try make("maxPool3d(kernel: \(kernel))", [self]) { ct_max_pool3d(handle, k, s, p, d, ceilMode ? 1 : 0) }
    }
    public func avgPool3d(kernel: Triple, stride: Triple? = nil, padding: Triple = 0, ceilMode: Bool = false,
                          countIncludePad: Bool = true) throws -> Tensor {
        let (k, s, p) = (kernel.int64, (stride ?? kernel).int64, padding.int64)
        return try make("avgPool3d(kernel: \(kernel))", [self]) {
            ct_avg_pool3d(handle, k, s, p, ceilMode ? 1 : 0, countIncludePad ? 1 : 0)
        }
    }
    public func adaptiveAvgPool3d(_ size: Triple) throws -> Tensor {
        let s = size.int64
        return try make("adaptiveAvgPool3d(\(size))", [self]) { ct_adaptive_avg_pool3d(handle, s) }
    }
    public func adaptiveMaxPool3d(_ size: Triple) throws -> Tensor {
        let s = size.int64
        return try make("adaptiveMaxPool3d(\(size))", [self]) { ct_adaptive_max_pool3d(handle, s) }
    }
    /// Trilinear resize of `[N, C, D, H, W]` to `size`.
    public func upsampleTrilinear(size: Triple, alignCorners: Bool = false) throws -> Tensor {
        let s = size.int64
        return try make("upsampleTrilinear(\(size))", [self]) { ct_upsample_trilinear3d(handle, s, alignCorners ? 1 : 0) }
    }
    public func upsampleNearest(size: Triple) throws -> Tensor {
        let s = size.int64
        return try make("upsampleNearest(\(size))", [self]) { ct_upsample_nearest3d(handle, s) }
    }
    public func groupNorm(groups: Int, weight: Tensor? = nil, bias: Tensor? = nil, eps: Double = 1e-5) throws -> Tensor {
        try make("groupNorm(groups: \(groups))", [self]) { ct_group_norm(handle, Int64(groups), weight?.handle, bias?.handle, eps) }
    }
    /// Batch norm; in training mode the running statistics (when given) are updated in place.
    public func batchNorm(weight: Tensor?, bias: Tensor?, runningMean: Tensor?, runningVar: Tensor?, training: Bool,
                          momentum: Double = 0.1, eps: Double = 1e-5) throws -> Tensor {
        try make("batchNorm", [self]) {
            ct_batch_norm(handle, weight?.handle, bias?.handle, runningMean?.handle, runningVar?.handle, training ? 1 : 0, momentum, eps)
        }
    }
    public func instanceNorm(weight: Tensor? = nil, bias: Tensor? = nil, runningMean: Tensor? = nil, runningVar: Tensor? = nil,
                             useInputStats: Bool = true, momentum: Double = 0.1, eps: Double = 1e-5) throws -> Tensor {
        try make("instanceNorm", [self]) {
            ct_instance_norm(handle, weight?.handle, bias?.handle, runningMean?.handle, runningVar?.handle,
                             useInputStats ? 1 : 0, momentum, eps)
        }
    }
    public func layerNorm(_ normalizedShape: [Int], weight: Tensor? = nil, bias: Tensor? = nil, eps: Double = 1e-5) throws -> Tensor {
        let s = int64s(normalizedShape)
        return try make("layerNorm", [self]) { ct_layer_norm(handle, s, Int32(s.count), weight?.handle, bias?.handle, eps) }
    }
    /// Zeroes elements with probability `p` and scales the rest by 1/(1-p) when `training`; identity otherwise.
    public func dropout(p: Double, training: Bool) throws -> Tensor {
        try make("dropout(p: \(p))", [self]) { ct_dropout(handle, p, training ? 1 : 0) }
    }
    public func softmax(dim: Int) throws -> Tensor { try make("softmax(dim: \(dim))", [self]) { ct_softmax(handle, Int64(dim)) } }
    public func logSoftmax(dim: Int) throws -> Tensor { try make("logSoftmax(dim: \(dim))", [self]) { ct_log_softmax(handle, Int64(dim)) } }

    public func matmul(_ other: Tensor) throws -> Tensor { try make("matmul", [self, other]) { ct_matmul(handle, other.handle) } }
    /// `self · weightᵀ + bias`.
    public func linear(_ weight: Tensor, bias: Tensor? = nil) throws -> Tensor {
        try make("linear", [self, weight]) { ct_linear(handle, weight.handle, bias?.handle) }
    }
}
