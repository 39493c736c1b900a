/// 3-D convolution over `[N, C, D, H, W]`.
public final class Conv3d: Module, UnaryLayer, @unchecked Sendable {
    public let weight: Parameter
    public let bias: Parameter?
    public let stride: Triple, padding: Triple, dilation: Triple, groups: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Triple, stride: Triple = 1, padding: Triple = 0,
                dilation: Triple = 1, groups: Int = 1, bias: Bool = true, dtype: DType = .float32) throws {
        guard inChannels % groups == 0, outChannels % groups == 0 else {
            throw TorchError.invalidArgument(op: "Conv3d", message: "channels \(inChannels)→\(outChannels) are not divisible by groups \(groups)")
        }
        let shape = [outChannels, inChannels / groups, kernel.d, kernel.h, kernel.w]
        let (w, bound) = try Init.torchDefault(weight: shape, dtype: dtype)
        weight = try Parameter(w)
        self.bias = bias ? try Parameter(Init.uniform([outChannels], -bound, bound, dtype: dtype)) : nil
        (self.stride, self.padding, self.dilation, self.groups) = (stride, padding, dilation, groups)
    }

    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        try input.conv3d(weight.tensor, bias: bias?.tensor, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}

/// Transposed 3-D convolution (learned upsampling).
public final class ConvTranspose3d: Module, UnaryLayer, @unchecked Sendable {
    public let weight: Parameter
    public let bias: Parameter?
    public let stride: Triple, padding: Triple, outputPadding: Triple, dilation: Triple, groups: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Triple, stride: Triple = 1, padding: Triple = 0,
                outputPadding: Triple = 0, dilation: Triple = 1, groups: Int = 1, bias: Bool = true, dtype: DType = .float32) throws {
        guard inChannels % groups == 0, outChannels % groups == 0 else {
            throw TorchError.invalidArgument(op: "ConvTranspose3d", message: "channels \(inChannels)→\(outChannels) are not divisible by groups \(groups)")
        }
        let shape = [inChannels, outChannels / groups, kernel.d, kernel.h, kernel.w]
        // PyTorch computes the transposed layer's fan-in from dim 1 of this weight.
        let (w, bound) = try Init.torchDefault(weight: shape, dtype: dtype)
        weight = try Parameter(w)
        self.bias = bias ? try Parameter(Init.uniform([outChannels], -bound, bound, dtype: dtype)) : nil
        (self.stride, self.padding, self.outputPadding, self.dilation, self.groups) = (stride, padding, outputPadding, dilation, groups)
    }

    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        try input.convTranspose3d(weight.tensor, bias: bias?.tensor, stride: stride, padding: padding,
                                  outputPadding: outputPadding, groups: groups, dilation: dilation)
    }
}

/// Fully connected layer: `x · Wᵀ + b`.
public final class Linear: Module, UnaryLayer, @unchecked Sendable {
    public let weight: Parameter
    public let bias: Parameter?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, dtype: DType = .float32) throws {
        let (w, bound) = try Init.torchDefault(weight: [outFeatures, inFeatures], dtype: dtype)
        weight = try Parameter(w)
        self.bias = bias ? try Parameter(Init.uniform([outFeatures], -bound, bound, dtype: dtype)) : nil
    }

    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        try input.linear(weight.tensor, bias: bias?.tensor)
    }
}
