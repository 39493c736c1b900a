import Torch

/// Identification: per-voxel cross-entropy of the level logits against `LevelIndex` classes, averaged over the
/// voxels where the level is known (`levelsKnown`) in samples annotated for identification; plus, when the model
/// has the spinal-region head, the mean cross-entropy of its per-vertebra region logits (`regions`).
public struct IdentificationLoss: Sendable {
    /// Weight per `SpinalRegion` of the region term's cross-entropy (nil: uniform).
    public let regionWeights: [Double]?

    public init(regionWeights: [Double]? = nil) {
        precondition(regionWeights.map { $0.count == SpinalRegion.count } ?? true, "one region weight per SpinalRegion")
        self.regionWeights = regionWeights
    }

    /// - Parameters:
    ///   - logits: `[N, LevelIndex.count, D, H, W]`.
    ///   - target: `[N, D, H, W]` int64.
    ///   - known: `[N, D, H, W]` float 0/1.
    ///   - sampleMask: `[N]` float 0/1.
    public func callAsFunction(logits: Tensor, target: Tensor, known: Tensor, sampleMask: Tensor) throws -> MaskedLoss {
        let shape = logits.shape
        guard shape.count == 5 else {
            throw LossError.invalidTarget(loss: "identification", message: "logits must be [N, L, D, H, W], found \(shape)")
        }
        let voxels = [shape[0]] + Array(shape[2...])
        try requireShape(target, voxels, loss: "identification", name: "target")
        try requireShape(known, voxels, loss: "identification", name: "known mask")
        try requireShape(sampleMask, [shape[0]], loss: "identification", name: "sample mask")
        let mask = try known * sampleMask.perSample(rank: 4)
        // Unknown voxels may hold any value: point them at class 0 so the per-voxel loss stays defined.
        let safeTarget = try target.where(mask.gt(0), else: target.zerosLike())
        return try MaskedLoss.mean(Loss.crossEntropy(logits, safeTarget, reduction: .none), mask: mask)
    }

    /// The spinal-region term: mean cross-entropy of `[V, SpinalRegion.count]` logits against each vertebra's
    /// region index (`SpinalRegion.index(ofLevelID:)`), weighted by `regionWeights` when given (Σ w·CE / Σ w over
    /// the vertebrae); count V.
    public func regions(logits: Tensor, targets: [Int]) throws -> MaskedLoss {
        guard logits.rank == 2, logits.shape[0] == targets.count, logits.shape[1] == SpinalRegion.count else {
            throw LossError.invalidTarget(loss: "identification", message: "region logits \(logits.shape) for \(targets.count) vertebrae, expected [V, \(SpinalRegion.count)]")
        }
        guard !targets.isEmpty else { return MaskedLoss(value: try logits.sum() * 0, count: 0) }
        let target = try Tensor(targets.map(Int64.init), shape: [targets.count]).to(device: logits.device)
        let weight = try regionWeights.map { try Tensor($0.map(Float.init), shape: [$0.count]).to(logits.dtype, device: logits.device) }
        return MaskedLoss(value: try Loss.crossEntropy(logits, target, weight: weight), count: targets.count)
    }
}
