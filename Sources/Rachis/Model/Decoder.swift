import Torch

private func triples(_ config: ModelConfig) -> [Triple] {
    PoolingPlan.factors(config).map { Triple($0[0], $0[1], $0[2]) }
}

/// One level of a decoder: an upsampling undoing that level's downsampling, then a residual block (at full
/// resolution, level 0, the block `config.fullResolutionDecoder` names). `stages.s` brings level s+1 up to level s.
final class DecoderStage: Module, @unchecked Sendable {
    let up: Upsampling
    let block: any UnaryLayer

    init(level: Int, from deeper: Int, to channels: Int, blockInput: Int, blockOutput: Int, factor: Triple, config: ModelConfig) throws {
        up = try Upsampling(deeper, channels, factor: factor)
        block = level == 0 && config.fullResolutionDecoder == .single
            ? try ConvNormAct(blockInput, blockOutput, config: config)
            : try ResidualBlock(blockInput, blockOutput, config: config)
    }
}

/// The segmentation decoder: upsampling with skip connections from every encoder level, ending at full resolution
/// with `featureChannels` channels.
final class SegmentationDecoder: Module, @unchecked Sendable {
    let stages: [DecoderStage]

    init(_ config: ModelConfig) throws {
        let channels = config.stageChannels
        let factors = triples(config)
        stages = try (0..<config.stages - 1).map { s in
            try DecoderStage(level: s, from: channels[s + 1], to: channels[s], blockInput: 2 * channels[s],
                             blockOutput: s == 0 ? config.featureChannels : channels[s], factor: factors[s], config: config)
        }
    }

    /// `levels`: the encoder's features, full resolution first.
    func callAsFunction(_ levels: [Tensor]) throws -> Tensor {
        var x = levels[levels.count - 1]
        for s in stages.indices.reversed() {
            x = try stages[s].block(Tensor.cat([stages[s].up(x), levels[s]], dim: 1))
        }
        return x
    }
}

/// The autoencoder decoder: upsampling from the bottleneck alone (no skips, so it cannot learn the identity), then
/// a 1×1×1 convolution to the image channels.
final class AutoencoderDecoder: Module, @unchecked Sendable {
    let stages: [DecoderStage]
    let output: Conv3d

    init(_ config: ModelConfig) throws {
        let channels = config.stageChannels
        let factors = triples(config)
        stages = try (0..<config.stages - 1).map { s in
            try DecoderStage(level: s, from: channels[s + 1], to: channels[s], blockInput: channels[s], blockOutput: channels[s],
                             factor: factors[s], config: config)
        }
        output = try Conv3d(channels[0], config.inChannels, kernel: 1)
    }

    func callAsFunction(bottleneck: Tensor) throws -> Tensor {
        var x = bottleneck
        for stage in stages.reversed() { x = try stage.block(stage.up(x)) }
        return try output.traced(x)
    }
}
