import Torch

/// Shape-descriptor supervision: the prediction's descriptors (`ShapeDescriptors` of softmax(logits)) kept within
/// per-sample, per-structure bounds (`DescriptorBounds`) by the log-barrier extension (`LogBarrier`):
///
///     ℓ_n = Σ_k w_k·[ψ_t((a_k − f_k)/s_k) + ψ_t((f_k − b_k)/s_k)] / Σ_k w_k      over the bounded sides k of sample n
///     L   = mean of ℓ_n over the samples with a bound and `sampleMask` > 0
///
/// f_k is one descriptor of one structure, w_k the weight of its kind (`weights`, default 1 each). An unbounded
/// side costs nothing. The result's count is the number of samples that took part; ψ_t may be negative inside
/// the bounds (−log(−z)/t < 0 for −z > 1), so the loss may be too.
public struct DescriptorLoss: Sendable {
    public var barrier: LogBarrier
    public var weights: [ShapeDescriptors.Kind: Double]
    /// The descriptors are those of softmax(logits / temperature). Below 1 the probabilities sharpen towards the
    /// argmax (the mask the prediction is scored by): thin probability spread over the volume then no longer counts
    /// towards a structure's size, and the bounds must be met by voxels where the structure leads.
    public var temperature: Double

    public init(barrier: LogBarrier = LogBarrier(), weights: [ShapeDescriptors.Kind: Double] = [:], temperature: Double = 1) {
        precondition(temperature > 0 && temperature.isFinite, "the descriptor temperature must be positive")
        (self.barrier, self.weights, self.temperature) = (barrier, weights, temperature)
    }

    /// - Parameters:
    ///   - logits: `[N, S, D, H, W]`.
    ///   - bounds: for `[N, S]`.
    ///   - spacingMM: `[D, H, W]`.
    ///   - sampleMask: `[N]` float 0/1 (nil: every sample).
    public func callAsFunction(logits: Tensor, bounds: DescriptorBounds, spacingMM: [Double], sampleMask: Tensor? = nil) throws -> MaskedLoss {
        guard logits.rank == 5 else {
            throw LossError.invalidTarget(loss: "descriptor", message: "logits must be [N, S, D, H, W], found \(logits.shape)")
        }
        let scaled = temperature == 1 ? logits : try logits / temperature
        return try loss(probabilities: scaled.softmax(dim: 1), bounds: bounds, spacingMM: spacingMM, sampleMask: sampleMask)
    }

    /// The same from probabilities `[N, S, D, H, W]` (e.g. a map that is not a softmax).
    public func loss(probabilities p: Tensor, bounds: DescriptorBounds, spacingMM: [Double], sampleMask: Tensor? = nil) throws -> MaskedLoss {
        guard p.rank == 5 else {
            throw LossError.invalidTarget(loss: "descriptor", message: "probabilities must be [N, S, D, H, W], found \(p.shape)")
        }
        let (n, s) = (p.shape[0], p.shape[1])
        guard bounds.samples == n, bounds.structures == s else {
            throw LossError.shapeMismatch(loss: "descriptor", tensor: "bounds", expected: [n, s], found: [bounds.samples, bounds.structures])
        }
        if let sampleMask { try requireShape(sampleMask, [n], loss: "descriptor", name: "sample mask") }
        let k = DescriptorBounds.componentCount
        let f = try ShapeDescriptors(p, spacingMM: spacingMM).components
        let kindWeight = ShapeDescriptors.Component.allCases.map { weights[$0.kind] ?? 1 }
        func side(_ values: [Double]) throws -> (bound: Tensor, weight: Tensor) {
            let weight = values.indices.map { values[$0].isNaN ? 0 : kindWeight[$0 % k] }
            return (try Tensor(values.map { $0.isNaN ? 0 : $0 }, shape: [n, s, k]).to(p.dtype, device: p.device),
                    try Tensor(weight, shape: [n, s, k]).to(p.dtype, device: p.device))
        }
        let (a, wa) = try side(bounds.lower), (b, wb) = try side(bounds.upper)
        let scale = try Tensor(bounds.scale, shape: [n, s, k]).to(p.dtype, device: p.device)
        // An inactive side sees a constant z = −1 in place of f: no gradient, and its weight is 0.
        let fa = try f.where(wa.gt(0), else: a + scale), fb = try f.where(wb.gt(0), else: b - scale)
        let lowerTerm = try barrier((a - fa) / scale), upperTerm = try barrier((fb - b) / scale)
        let perSample = try (lowerTerm * wa + upperTerm * wb).sum(dims: [1, 2])
        let weightSum = try (wa + wb).sum(dims: [1, 2])
        var keep = try weightSum.gt(0).to(p.dtype)
        if let sampleMask { keep = try keep * sampleMask.to(p.dtype, device: p.device) }
        return try MaskedLoss.mean(perSample / weightSum.clamp(min: 1e-12), mask: keep)
    }
}
