import Torch

/// The per-vertebra classifier: features averaged inside a region, then `hidden → ReLU → dropout → output`.
final class Classifier: Module, @unchecked Sendable {
    let hidden: Linear
    let act: Activation
    let dropout: Dropout
    let output: Linear

    init(_ config: ModelConfig) throws {
        let hidden = try Linear(config.featureChannels, config.classifierHidden)
        try Torch.noGrad {
            try hidden.weight.tensor.copy_(Init.kaimingNormal(hidden.weight.tensor.shape))
            try hidden.bias?.tensor.fill_(0)
        }
        self.hidden = hidden
        act = Activation(.relu)
        dropout = try Dropout(p: config.classifierDropout)
        output = try Linear(config.classifierHidden, config.classes)
    }

    /// `[V, F]` pooled features → `[V, classes]` logits.
    func callAsFunction(_ pooled: Tensor) throws -> Tensor {
        try output.traced(dropout.traced(act.traced(hidden.traced(pooled))))
    }
}

/// A vertebra region predicted from the identification head, for classification at inference.
public struct PredictedRegion: @unchecked Sendable {
    public var sample: Int
    /// The `LevelIndex` class (1...).
    public var levelIndex: Int
    /// `[D, H, W]` softmax probability of the level at each voxel.
    public var mask: Tensor

    public var levelID: Int? { LevelIndex.levelID(ofIndex: levelIndex) }
}

public enum ModelError: Error, CustomStringConvertible, Equatable {
    /// An input size not divisible by what the downsampling plan needs.
    case indivisibleInput(shape: [Int], divisor: [Int])
    /// An input with the wrong rank or channel count.
    case inputShape(shape: [Int], expected: String)
    /// A classification region whose mask does not fit the features.
    case regionMismatch(index: Int, sample: Int, maskShape: [Int], featureShape: [Int])
    /// The classification head was switched off in the config.
    case headDisabled(String)

    public var description: String {
        switch self {
        case let .indivisibleInput(shape, divisor):
            "input \(shape): the spatial size [D, H, W] must be divisible by \(divisor) (the product of the downsampling factors); pad the crop"
        case let .inputShape(shape, expected): "input \(shape): expected \(expected)"
        case let .regionMismatch(index, sample, maskShape, featureShape):
            "region \(index) (sample \(sample)): mask \(maskShape) does not fit features \(featureShape); it needs [D, H, W] and a sample in the batch"
        case let .headDisabled(head): "the \(head) head is switched off in the model config"
        }
    }
}

extension SpineModel {
    /// Added to a region's total weight before dividing, so that an empty region does not give NaN: it pools to
    /// the zero vector, and its logits are the classifier's response to zero features.
    public static let regionEpsilon = 1e-6

    /// One class decision per vertebra: `features[sample]` `[F, D, H, W]` averaged with the weights of `mask`
    /// `[D, H, W]` (the labelled region in training, a predicted one at inference), then the classifier MLP.
    /// Returns `[V, classes]` logits in the order of `regions`.
    public func classify(features: Tensor, regions: [(sample: Int, mask: Tensor)]) throws -> Tensor {
        guard let classifier else { throw ModelError.headDisabled("classification") }
        let shape = features.shape
        var flat: [Int: Tensor] = [:]
        let pooled = try regions.enumerated().map { index, region in
            guard shape.count == 5, (0..<shape[0]).contains(region.sample), region.mask.shape == Array(shape[2...]) else {
                throw ModelError.regionMismatch(index: index, sample: region.sample, maskShape: region.mask.shape, featureShape: shape)
            }
            let f = try flat[region.sample] ?? features[.at(region.sample)].reshape([shape[1], -1])
            flat[region.sample] = f
            let weights = try region.mask.reshape([-1])
            return try f.matmul(weights) / (weights.sum() + Self.regionEpsilon)
        }
        if pooled.isEmpty { return try Tensor.zeros([0, config.classes], dtype: features.dtype, device: features.device) }
        return try classifier(Tensor.stack(pooled))
    }

    /// Per-level soft regions from identification logits `[N, LevelIndex.count, D, H, W]`: the softmax probability
    /// of each level, for every level that wins (argmax) at `minimumVoxels` voxels or more of its sample.
    public func predictedRegions(levels: Tensor, minimumVoxels: Int = 1) throws -> [PredictedRegion] {
        guard levels.rank == 5, levels.shape[1] == LevelIndex.count else {
            throw ModelError.inputShape(shape: levels.shape, expected: "[N, \(LevelIndex.count), D, H, W] identification logits")
        }
        let probabilities = try levels.softmax(dim: 1)
        let winners = try levels.argmax(dim: 1).oneHot(classes: LevelIndex.count).sum(dims: [1, 2, 3]).to(.int64).array(Int64.self)
        var regions: [PredictedRegion] = []
        for sample in 0..<levels.shape[0] {
            for level in 1..<LevelIndex.count where winners[sample * LevelIndex.count + level] >= minimumVoxels {
                regions.append(PredictedRegion(sample: sample, levelIndex: level, mask: try probabilities[.at(sample), .at(level)]))
            }
        }
        return regions
    }
}
