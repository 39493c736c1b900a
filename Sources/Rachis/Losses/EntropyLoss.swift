import Foundation
import Torch

/// The mean Shannon entropy of the segmentation's softmax, for the samples a loose-label term supervises through
/// global numbers only (shape descriptors):
///
///     H_v = −Σ_s p_s,v · log p_s,v                    p = softmax(logits) over the S classes of voxel v
///     ℓ_n = Σ_v m_v·H_v / Σ_v m_v / log S             m: the field of view (1 everywhere when nil)
///     L   = mean of ℓ_n over the samples with `sampleMask` > 0
///
/// Divided by log S so that ℓ lies in [0, 1]: 1 for a uniform prediction, 0 for a one-hot one. Soft descriptors
/// (sizes, centroids, spreads of the probabilities) can all be met by probability spread thinly over the volume,
/// whose argmax is then none of the structures; entropy minimisation asks the same prediction to be confident, so
/// that the bounds constrain the mask itself (the pairing of a size prior with entropy minimisation is the one of
/// Bateson et al., "Source-relaxed domain adaptation for image segmentation", 2020). Its gradient with respect to
/// the logits is −p_s,v·(log p_s,v + H_v) / (Σ m · log S) per masked voxel: it sharpens whichever class leads.
public struct EntropyLoss: Sendable {
    public init() {}

    /// - Parameters:
    ///   - logits: `[N, S, D, H, W]`, S ≥ 2.
    ///   - sampleMask: `[N]` float 0/1.
    ///   - fieldOfView: `[N, 1, D, H, W]` float 0/1, or nil.
    public func callAsFunction(logits: Tensor, sampleMask: Tensor, fieldOfView: Tensor? = nil) throws -> MaskedLoss {
        guard logits.rank == 5, logits.shape[1] >= 2 else {
            throw LossError.invalidTarget(loss: "entropy", message: "logits must be [N, S, D, H, W] with S ≥ 2, found \(logits.shape)")
        }
        let n = logits.shape[0]
        try requireShape(sampleMask, [n], loss: "entropy", name: "sample mask")
        let spatial = Array(logits.shape[2...])
        if let fieldOfView { try requireShape(fieldOfView, [n, 1] + spatial, loss: "entropy", name: "field of view") }
        let logP = try logits.logSoftmax(dim: 1)
        let entropy = try (logP.exp() * logP).sum(dims: [1]).neg() / Foundation.log(Double(logits.shape[1]))   // [N, D, H, W]
        let perSample: Tensor
        if let fieldOfView {
            let m = try fieldOfView.to(logits.dtype).squeeze(dim: 1)
            perSample = try (entropy * m).sum(dims: [1, 2, 3]) / m.sum(dims: [1, 2, 3]).clamp(min: 1)
        } else {
            perSample = try entropy.mean(dims: [1, 2, 3])
        }
        return try MaskedLoss.mean(perSample, mask: sampleMask.to(logits.dtype, device: logits.device))
    }
}
