import Torch

/// Building blocks shared by the encoder and the decoders.
enum Blocks {
    /// Slope of the leaky ReLU used throughout (nnU-Net's choice).
    static let slope = 0.01

    /// A convolution with Kaiming-normal weights for a following leaky ReLU, and zero bias.
    static func conv(_ inChannels: Int, _ outChannels: Int, kernel: Triple, stride: Triple = 1, padding: Triple = 0,
                     bias: Bool = true) throws -> Conv3d {
        let conv = try Conv3d(inChannels, outChannels, kernel: kernel, stride: stride, padding: padding, bias: bias)
        try Torch.noGrad {
            try conv.weight.tensor.copy_(Init.kaimingNormal(conv.weight.tensor.shape, negativeSlope: slope))
            try conv.bias?.tensor.fill_(0)
        }
        return conv
    }


    static func norm(_ config: ModelConfig, channels: Int) throws -> any UnaryLayer {
        switch config.norm {
        case .group: try GroupNorm(groups: config.normGroups, channels: channels)
        case .instance: try InstanceNorm(channels: channels)
        case .batch: try BatchNorm(channels: channels)
        }
    }

    static func activation() -> Activation { Activation(.leakyReLU(slope: slope)) }
}

/// Undoes a downsampling by `factor` exactly: a 1×1×1 convolution to the shallower level's channels at the low
/// resolution (cheap), then trilinear interpolation by `factor`.
final class Upsampling: Module, @unchecked Sendable {
    let conv: Conv3d
    let factor: Triple

    init(_ inChannels: Int, _ outChannels: Int, factor: Triple) throws {
        conv = try Conv3d(inChannels, outChannels, kernel: 1)
        self.factor = factor
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let shape = x.shape
        let size = Triple(shape[2] * factor.d, shape[3] * factor.h, shape[4] * factor.w)
        let y = try conv.traced(x)
        let output = try y.upsampleTrilinear(size: size)
        SummaryRecorder.current?.record(self, input: y, output: output)
        return output
    }
}

/// Convolution, normalisation, activation: the encoder's stem.
final class ConvNormAct: Module, UnaryLayer, @unchecked Sendable {
    let conv: Conv3d
    let norm: any UnaryLayer
    let act: Activation

    init(_ inChannels: Int, _ outChannels: Int, config: ModelConfig) throws {
        conv = try Blocks.conv(inChannels, outChannels, kernel: 3, padding: 1, bias: false)
        norm = try Blocks.norm(config, channels: outChannels)
        act = Blocks.activation()
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        try act.traced(norm.traced(conv.traced(x)))
    }
}

/// Two 3×3×3 conv-norm steps with a skip (identity, or a 1×1×1 projection when the channels change):
/// `act(norm2(conv2(drop(act(norm1(conv1(x)))))) + skip(x))`.
final class ResidualBlock: Module, UnaryLayer, @unchecked Sendable {
    let conv1: Conv3d
    let norm1: any UnaryLayer
    let act1: Activation
    let dropout: Dropout?
    let conv2: Conv3d
    let norm2: any UnaryLayer
    let projection: Conv3d?
    let act2: Activation

    init(_ inChannels: Int, _ outChannels: Int, config: ModelConfig) throws {
        conv1 = try Blocks.conv(inChannels, outChannels, kernel: 3, padding: 1, bias: false)
        norm1 = try Blocks.norm(config, channels: outChannels)
        act1 = Blocks.activation()
        dropout = config.dropout > 0 ? try Dropout(p: config.dropout) : nil
        conv2 = try Blocks.conv(outChannels, outChannels, kernel: 3, padding: 1, bias: false)
        norm2 = try Blocks.norm(config, channels: outChannels)
        projection = inChannels == outChannels ? nil : try Blocks.conv(inChannels, outChannels, kernel: 1, bias: false)
        act2 = Blocks.activation()
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        var y = try act1.traced(norm1.traced(conv1.traced(x)))
        if let dropout { y = try dropout.traced(y) }
        y = try norm2.traced(conv2.traced(y))
        return try act2.traced(y + (projection?.traced(x) ?? x))
    }
}
