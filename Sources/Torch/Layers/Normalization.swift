/// Group normalisation over `[N, C, ...]`: statistics per sample and group of channels.
public final class GroupNorm: Module, UnaryLayer, @unchecked Sendable {
    public let groups: Int
    public let eps: Double
    public let weight: Parameter?
    public let bias: Parameter?

    public init(groups: Int, channels: Int, eps: Double = 1e-5, affine: Bool = true, dtype: DType = .float32) throws {
        guard groups > 0, channels % groups == 0 else {
            throw TorchError.invalidArgument(op: "GroupNorm", message: "\(channels) channels are not divisible by \(groups) groups")
        }
        (self.groups, self.eps) = (groups, eps)
        weight = affine ? try Parameter(Tensor.ones([channels], dtype: dtype)) : nil
        bias = affine ? try Parameter(Tensor.zeros([channels], dtype: dtype)) : nil
    }

    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        try input.groupNorm(groups: groups, weight: weight?.tensor, bias: bias?.tensor, eps: eps)
    }
}

/// Instance normalisation: statistics per sample and channel. Optional affine parameters and running statistics.
public final class InstanceNorm: Module, UnaryLayer, @unchecked Sendable {
    public let eps: Double, momentum: Double
    public let weight: Parameter?
    public let bias: Parameter?
    public let runningMean: Buffer?
    public let runningVar: Buffer?

    public init(channels: Int, eps: Double = 1e-5, momentum: Double = 0.1, affine: Bool = true,
                trackRunningStats: Bool = false, dtype: DType = .float32) throws {
        (self.eps, self.momentum) = (eps, momentum)
        weight = affine ? try Parameter(Tensor.ones([channels], dtype: dtype)) : nil
        bias = affine ? try Parameter(Tensor.zeros([channels], dtype: dtype)) : nil
        runningMean = trackRunningStats ? Buffer(try Tensor.zeros([channels], dtype: dtype)) : nil
        runningVar = trackRunningStats ? Buffer(try Tensor.ones([channels], dtype: dtype)) : nil
    }

    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        try input.instanceNorm(weight: weight?.tensor, bias: bias?.tensor, runningMean: runningMean?.tensor,
                               runningVar: runningVar?.tensor, useInputStats: isTraining || runningMean == nil,
                               momentum: momentum, eps: eps)
    }
}

/// Batch normalisation over `[N, C, ...]` with running statistics for evaluation.
public final class BatchNorm: Module, UnaryLayer, @unchecked Sendable {
    public let eps: Double, momentum: Double
    public let weight: Parameter?
    public let bias: Parameter?
    public let runningMean: Buffer
    public let runningVar: Buffer

    public init(channels: Int, eps: Double = 1e-5, momentum: Double = 0.1, affine: Bool = true, dtype: DType = .float32) throws {
        (self.eps, self.momentum) = (eps, momentum)
        weight = affine ? try Parameter(Tensor.ones([channels], dtype: dtype)) : nil
        bias = affine ? try Parameter(Tensor.zeros([channels], dtype: dtype)) : nil
        runningMean = Buffer(try Tensor.zeros([channels], dtype: dtype))
        runningVar = Buffer(try Tensor.ones([channels], dtype: dtype))
    }

    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        try input.batchNorm(weight: weight?.tensor, bias: bias?.tensor, runningMean: runningMean.tensor,
                            runningVar: runningVar.tensor, training: isTraining, momentum: momentum, eps: eps)
    }
}
