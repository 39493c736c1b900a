import Torch

/// The multitask network: a shared 3D encoder; a segmentation decoder with skips feeding the segmentation,
/// localization and identification heads (1×1×1 convolutions) and the per-vertebra classifier; an autoencoder
/// decoder fed from the bottleneck only. Identification has two parts: the per-voxel level head (which voxels belong
/// to a vertebra) and the per-vertebra spinal-region head (`SpinalRegion`), whose regions are counted into levels.
///
/// Parameter names are the property paths, and are the checkpoint keys: `encoder.stem.conv.weight`,
/// `encoder.stages.1.down.weight`, `encoder.stages.0.blocks.0.conv1.weight`, `decoder.stages.0.up.conv.weight`
/// (level 1 → 0), `decoder.stages.0.block.projection.weight`, `segmentation.weight`, `localization.weight`,
/// `identification.weight`, `spinalRegions.hidden.weight`, `classifier.hidden.weight`, `localFeatures.conv1.weight`, `autoencoder.stages.0.block.conv1.weight`,
/// `autoencoder.output.weight`. Switched-off heads have no parameters.
public final class SpineModel: Module, @unchecked Sendable {
    public let config: ModelConfig
    /// Downsampling factors [D, H, W] of each level transition.
    public let poolingFactors: [[Int]]
    let encoder: FeatureEncoder
    let decoder: SegmentationDecoder
    let segmentation: Conv3d?
    let localization: Conv3d?
    let identification: Conv3d?
    let spinalRegions: Classifier?
    let classifier: Classifier?
    /// The classifier's local branch (`model.classifierFeatures: local` or `localInside`).
    let localFeatures: LocalFeatures?
    let autoencoder: AutoencoderDecoder?

    /// Builds the model from a validated config (drawing initial weights from libtorch's generator).
    public init(_ config: ModelConfig) throws {
        try config.validate()
        self.config = config
        poolingFactors = PoolingPlan.factors(config)
        encoder = try FeatureEncoder(config)
        decoder = try SegmentationDecoder(config)
        let f = config.featureChannels, heads = config.heads
        segmentation = heads.segmentation ? try Conv3d(f, config.structureClasses, kernel: 1) : nil
        localization = heads.localization ? try Conv3d(f, 1, kernel: 1) : nil
        identification = heads.identification ? try Conv3d(f, LevelIndex.count, kernel: 1) : nil
        spinalRegions = heads.identification ? try Classifier(config, inputs: config.regionFeatures, outputs: SpinalRegion.count) : nil
        classifier = heads.classification ? try Classifier(config, inputs: config.classifierInputs, outputs: config.classes) : nil
        localFeatures = heads.classification && config.classifierFeatures.readsLocalBranch ? try LocalFeatures(config) : nil
        autoencoder = heads.autoencoder ? try AutoencoderDecoder(config) : nil
    }

    /// Checks an input `[N, inChannels, D, H, W]` against the channels and the required divisor.
    public func checkInput(shape: [Int]) throws {
        guard shape.count == 5, shape[1] == config.inChannels else {
            throw ModelError.inputShape(shape: shape, expected: "[N, \(config.inChannels), D, H, W]")
        }
        let divisor = Self.requiredDivisor(config)
        guard zip(shape[2...], divisor).allSatisfy({ $0 > 0 && $0 % $1 == 0 }) else {
            throw ModelError.indivisibleInput(shape: shape, divisor: divisor)
        }
    }

    /// The encoder's features of every level, full resolution first; the last is the bottleneck.
    public func encode(_ image: Tensor) throws -> [Tensor] {
        try checkInput(shape: image.shape)
        return try encoder(image)
    }

    /// Every head from the encoder's levels. The reconstruction reads `levels.last` (the bottleneck) only.
    public func decode(levels: [Tensor]) throws -> ModelOutput {
        let features = try decoder(levels)
        return ModelOutput(features: features,
                           segmentation: try segmentation?.traced(features),
                           heatmap: try localization?.traced(features),
                           levels: try identification?.traced(identificationInput(features)),
                           reconstruction: try autoencoder?(bottleneck: levels[levels.count - 1]), bottleneck: levels[levels.count - 1])
    }

    public func callAsFunction(_ image: Tensor) throws -> ModelOutput {
        try decode(levels: encode(image))
    }

    /// `x` (shared features) as the identification heads read it: the same values, with
    /// `config.identificationGradient` s of their gradient flowing back into the network (s·x + (1 − s)·detach(x)).
    /// Identification asked the shared decoder for what it needs and the segmentation lost the small structures
    /// (docs/learning.md, seventeenth round).
    func identificationInput(_ x: Tensor) throws -> Tensor {
        let s = config.identificationGradient
        // Without autograd recording (inference, validation) there is no gradient to scale.
        if s == 1 || !Torch.isGradEnabled { return x }
        if s == 0 { return try x.detached() }
        return try x * s + x.detached() * (1 - s)
    }
}
