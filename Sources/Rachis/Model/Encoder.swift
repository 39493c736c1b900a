import Torch

/// Anisotropy-aware downsampling plan (nnU-Net's rule).
public enum PoolingPlan {
    /// Per-axis factors [D, H, W] of each downsampling (`stages - 1` of them). Starting from `spacingMM`, an axis
    /// is halved only if its current spacing is at most twice the smallest current spacing; halving doubles its
    /// spacing. Thick slices are thus kept until the in-plane axes have caught up (5 mm vs 2 mm: [1, 2, 2] first).
    /// An empty spacing (not yet resolved from data) plans as isotropic.
    public static func factors(spacingMM: [Double], stages: Int) -> [[Int]] {
        var spacing = spacingMM.isEmpty ? [1, 1, 1] : spacingMM
        return (0..<max(stages - 1, 0)).map { _ in
            let smallest = spacing.min() ?? 1
            let factor = spacing.map { $0 <= 2 * smallest ? 2 : 1 }
            spacing = zip(spacing, factor).map { $0 * Double($1) }
            return factor
        }
    }

    public static func factors(_ config: ModelConfig) -> [[Int]] {
        factors(spacingMM: config.spacingMM, stages: config.stages)
    }

    /// What to tell a user whose `model.spacingMM` plans other downsamplings than the spacing the model is trained
    /// at would (thick-slice data with a config written for another spacing); nil when both plan the same.
    public static func mismatch(_ config: ModelConfig, trainingSpacingMM: [Double]) -> String? {
        let planned = factors(config), fitting = factors(spacingMM: trainingSpacingMM, stages: config.stages)
        guard planned != fitting else { return nil }
        let mm = { (s: [Double]) in "[" + s.map { String(format: "%g", $0) }.joined(separator: ", ") + "]" }
        return "model.spacingMM \(mm(config.spacingMM)) halves the axes \(planned) (per downsampling, [D, H, W]), "
            + "but the model trains at \(mm(trainingSpacingMM)) mm, which would halve \(fitting): "
            + "set model.spacingMM to the training spacing (--set 'model.spacingMM=\(mm(trainingSpacingMM))')"
    }
}

extension SpineModel {
    /// What every input size [D, H, W] must be divisible by: the product of the downsampling factors per axis.
    /// The loader pads crops to a multiple of it.
    public static func requiredDivisor(_ config: ModelConfig) -> [Int] {
        PoolingPlan.factors(config).reduce([1, 1, 1]) { zip($0, $1).map(*) }
    }
}

/// One resolution level of the encoder: a downsampling (strided conv, absent at the first level) then residual
/// blocks.
final class EncoderStage: Module, @unchecked Sendable {
    let down: Conv3d?
    let blocks: [ResidualBlock]

    init(inChannels: Int, outChannels: Int, factor: Triple?, blockCount: Int, config: ModelConfig) throws {
        down = try factor.map { try Blocks.conv(inChannels, outChannels, kernel: $0, stride: $0) }
        let first = factor == nil ? inChannels : outChannels
        blocks = try (0..<blockCount).map { try ResidualBlock($0 == 0 ? first : outChannels, outChannels, config: config) }
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        try blocks.reduce(try down?.traced(x) ?? x) { try $1($0) }
    }
}

/// The shared encoder: a stem, then one stage per resolution level.
final class FeatureEncoder: Module, @unchecked Sendable {
    let stem: ConvNormAct
    let stages: [EncoderStage]

    init(_ config: ModelConfig) throws {
        let channels = config.stageChannels
        let factors = PoolingPlan.factors(config)
        stem = try ConvNormAct(config.inChannels, channels[0], config: config)
        stages = try (0..<config.stages).map { s in
            try EncoderStage(inChannels: s == 0 ? channels[0] : channels[s - 1], outChannels: channels[s],
                             factor: s == 0 ? nil : Triple(factors[s - 1][0], factors[s - 1][1], factors[s - 1][2]),
                             blockCount: config.blocksPerStage[s], config: config)
        }
    }

    /// The features of every level, full resolution first; the last is the bottleneck.
    func callAsFunction(_ image: Tensor) throws -> [Tensor] {
        var x = try stem(image)
        return try stages.map { stage in
            x = try stage(x)
            return x
        }
    }

    /// The levels after `level`, computed from that level's features.
    func levels(after level: Int, from x: Tensor) throws -> [Tensor] {
        var x = x
        return try stages[(level + 1)...].map { stage in
            x = try stage(x)
            return x
        }
    }
}
