import Torch

/// Heatmap regression: a weighted mean squared error over the voxels of samples annotated for localization,
/// with voxel weight `1 + peakWeight·target` so that the few voxels near a centroid are not outweighed by the
/// background. The value is `Σ w·(p − t)² / Σ w`; the count is the number of voxels in annotated samples.
public struct LocalizationLoss: Sendable {
    public var peakWeight: Double

    public init(peakWeight: Double = 10) { self.peakWeight = peakWeight }

    /// - Parameters:
    ///   - prediction, target: `[N, 1, D, H, W]`.
    ///   - sampleMask: `[N]` float 0/1.
    public func callAsFunction(prediction: Tensor, target: Tensor, sampleMask: Tensor) throws -> MaskedLoss {
        try requireShape(target, prediction.shape, loss: "localization", name: "target heatmap")
        try requireShape(sampleMask, [prediction.shape[0]], loss: "localization", name: "sample mask")
        let weight = try (target * peakWeight + 1) * sampleMask.perSample(rank: prediction.rank)
        return try MaskedLoss.mean(Loss.mse(prediction, target, reduction: .none), mask: weight)
    }
}
