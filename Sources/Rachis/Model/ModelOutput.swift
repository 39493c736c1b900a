import Torch

/// What the multitask model computes for a batch `[N, C, D, H, W]`. A head that is switched off in the config
/// gives nil.
public struct ModelOutput: @unchecked Sendable {
    /// `[N, F, D, H, W]` decoder features at full resolution: what the classification head pools per vertebra.
    public var features: Tensor
    /// `[N, S, D, H, W]` structure logits (auxiliary segmentation).
    public var segmentation: Tensor?
    /// `[N, 1, D, H, W]` centroid heatmap (localization).
    public var heatmap: Tensor?
    /// `[N, LevelIndex.count, D, H, W]` level logits per voxel (identification).
    public var levels: Tensor?
    /// `[N, C, D, H, W]` reconstruction of the input from the bottleneck only (autoencoder).
    public var reconstruction: Tensor?
    /// `[N, B, d, h, w]` the encoder's bottleneck: the widest context, which the spinal-region head pools
    /// (`SpineModel.context`). Nil when the output was assembled without it.
    public var bottleneck: Tensor?

    public init(features: Tensor, segmentation: Tensor?, heatmap: Tensor?, levels: Tensor?, reconstruction: Tensor?, bottleneck: Tensor? = nil) {
        (self.features, self.segmentation, self.heatmap, self.levels, self.reconstruction) = (features, segmentation, heatmap, levels, reconstruction)
        self.bottleneck = bottleneck
    }
}
