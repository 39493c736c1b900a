import Torch

/// Auxiliary segmentation loss: `(1 − diceWeight)·CE + diceWeight·(1 − Dice)`, both over annotated voxels only
/// (`structuresKnown` × the sample's segmentation task mask).
///
/// - Cross-entropy is the mean over annotated voxels, each weighted by its target class's weight (`classWeights`,
///   1 when nil; with soft targets −Σ_c w_c·q_c·log p_c).
/// - Soft Dice is a batch Dice: per foreground class c, `(2·Σ m·p_c·g_c + smooth) / (Σ m·(p_c + g_c) + smooth)`,
///   sums over every annotated voxel of the batch (m the mask, p the softmax, g the one-hot target). Only classes
///   with at least one annotated target voxel in the batch enter the mean: a class absent from the annotated
///   target would otherwise score ≈1 for free (and dilute the others) or ≈0 for any stray probability mass
///   (and dominate); false positives of absent classes are left to the cross-entropy term. With no foreground
///   class present the Dice term is 0.
/// - Soft targets (`soft`, e.g. the STAPLE posterior of several raters) replace the one-hot target of the samples in
///   `softSamples`: the cross-entropy becomes −Σ_c q_c·log p_c (its gradient in the logits is p − q) and g = q in
///   the Dice. With q one-hot both are the hard-target terms.
public struct SegmentationLoss: Sendable {
    public var diceWeight: Double
    public var smooth: Double
    /// Cross-entropy weight per structure class (nil: 1 for every class).
    public var classWeights: [Double]?

    public init(diceWeight: Double = 0.5, smooth: Double = 1e-5, classWeights: [Double]? = nil) {
        (self.diceWeight, self.smooth, self.classWeights) = (diceWeight, smooth, classWeights)
    }

    /// `LossConfig.StructureWeights.balanced` from the annotated voxels per class: w_c = k/√f_c (f_c = counts_c/Σ
    /// counts) with k such that Σ_c f_c·w_c = 1, i.e. k = 1/Σ_c √f_c; a class with no voxels gets the largest
    /// weight of the others (it is never the target in training, but may be in a later dataset). Nil when no voxel
    /// is counted.
    public static func balancedWeights(counts: [Int]) -> [Double]? {
        let total = Double(counts.reduce(0, +))
        guard total > 0 else { return nil }
        let roots = counts.map { (Double($0) / total).squareRoot() }
        let k = 1 / roots.reduce(0, +)
        let weights = roots.map { $0 > 0 ? k / $0 : 0 }
        let largest = weights.max() ?? 1
        return weights.map { $0 > 0 ? $0 : largest }
    }

    /// - Parameters:
    ///   - logits: `[N, S, D, H, W]`.
    ///   - target: `[N, D, H, W]` int64 class per voxel.
    ///   - known: `[N, D, H, W]` float 0/1.
    ///   - sampleMask: `[N]` float 0/1.
    ///   - soft: `[N, S, D, H, W]` per-voxel class probabilities, used for the samples where `softSamples` is 1.
    ///   - softSamples: `[N]` float 0/1.
    public func callAsFunction(logits: Tensor, target: Tensor, known: Tensor, sampleMask: Tensor,
                               soft: Tensor? = nil, softSamples: Tensor? = nil) throws -> MaskedLoss {
        let shape = logits.shape
        guard shape.count == 5 else {
            throw LossError.invalidTarget(loss: "segmentation", message: "logits must be [N, S, D, H, W], found \(shape)")
        }
        let voxels = [shape[0]] + Array(shape[2...])
        try requireShape(target, voxels, loss: "segmentation", name: "target")
        try requireShape(known, voxels, loss: "segmentation", name: "known mask")
        try requireShape(sampleMask, [shape[0]], loss: "segmentation", name: "sample mask")
        let mask = try known * sampleMask.perSample(rank: 4)
        // Unknown voxels may hold any value: point them at class 0 so the per-voxel terms stay defined.
        let target = try target.where(mask.gt(0), else: target.zerosLike())
        let classes = shape[1]
        let oneHot = try target.oneHot(classes: classes).permute([0, 4, 1, 2, 3]).to(logits.dtype)
        if let classWeights, classWeights.count != classes {
            throw LossError.countMismatch(loss: "segmentation", what: "structure weights", expected: classes, found: classWeights.count)
        }
        let weights = try classWeights.map { try Tensor($0.map(Float.init), shape: [classes]).to(logits.dtype, device: logits.device) }
        let ce: MaskedLoss, g: Tensor
        if let soft, let softSamples {
            try requireShape(soft, shape, loss: "segmentation", name: "soft target")
            try requireShape(softSamples, [shape[0]], loss: "segmentation", name: "soft sample mask")
            let s = try softSamples.to(logits.dtype).perSample(rank: 5)
            g = try oneHot * (1 - s) + soft.to(logits.dtype) * s
            let weighted = try weights.map { try g * $0.reshape([1, classes, 1, 1, 1]) } ?? g
            ce = try MaskedLoss.mean((weighted * logits.logSoftmax(dim: 1)).sum(dims: [1]).neg(), mask: mask)
        } else {
            g = oneHot
            var perVoxel = try Loss.crossEntropy(logits, target, reduction: .none)
            if let weights { perVoxel = try perVoxel * weights.indexSelect(dim: 0, index: target.reshape([-1])).reshape(target.shape) }
            ce = try MaskedLoss.mean(perVoxel, mask: mask)
        }
        guard diceWeight > 0 else { return ce }
        let dice = try diceLoss(logits: logits, target: g, mask: mask)
        return MaskedLoss(value: try ce.value * (1 - diceWeight) + dice * diceWeight, count: ce.count)
    }

    /// `1 − mean Dice` over the foreground classes present in the annotated target `[N, S, D, H, W]` (one-hot or
    /// soft, valid everywhere).
    func diceLoss(logits: Tensor, target: Tensor, mask: Tensor) throws -> Tensor {
        let classes = logits.shape[1]
        let m = try mask.unsqueeze(dim: 1)
        let p = try logits.softmax(dim: 1) * m
        let g = try target * m
        let dims = [0, 2, 3, 4]
        let intersection = try (p * g).sum(dims: dims)
        let denominator = try (p + g).sum(dims: dims)
        let present = try g.sum(dims: dims).array(Double.self)
        let foreground = (1..<classes).filter { present[$0] > 0 }
        guard !foreground.isEmpty else { return try intersection.sum() * 0 }
        let index = try Tensor(foreground.map(Int64.init))
        let dice = try (intersection.indexSelect(dim: 0, index: index) * 2 + smooth)
            / (denominator.indexSelect(dim: 0, index: index) + smooth)
        return try 1 - dice.mean()
    }
}
