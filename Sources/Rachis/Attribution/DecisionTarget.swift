import Torch

extension SpineModel {
    /// The layers Grad-CAM can read: those the class decision depends on. Every encoder level and the decoder's
    /// output features; with `model.classifierFeatures: local` or `localInside` the local branch alone (`local`).
    public var gradCAMLayers: [String] {
        localFeatures != nil ? ["local"] : (0..<config.stages).map { "encoder.\($0)" } + ["decoder"]
    }

    /// One vertebra's class decision as an attribution target: the logit of `classIndex` for the region `mask`
    /// `[D, H, W]` (features pooled inside it, then the classifier), per sample of a batch. The model should be in
    /// eval mode (dropout off), so that the decision is the one inference makes.
    public func decisionTarget(mask: Tensor, classIndex: Int, gradCAMLayer: String = "encoder.2") throws -> AttributionTarget {
        guard config.heads.classification else { throw ModelError.headDisabled("classification") }
        // The input of the latest `activations` call: what an image-pooling head reads beside the activations.
        var input: Tensor?
        func logit(_ features: Tensor, _ image: Tensor?) throws -> Tensor {
            let regions = (0..<features.shape[0]).map { (sample: $0, mask: mask) }
            return try classify(features: features, image: image, regions: regions).select(dim: 1, index: classIndex)
        }
        // A classifier on its local branch reads the image alone (the features only give the grid): no encoder or
        // decoder pass is needed.
        let score: (Tensor) throws -> Tensor = localFeatures != nil ? { x in try logit(x, x) } : { x in try logit(self.decoder(self.encode(x)), x) }
        guard gradCAMLayers.contains(gradCAMLayer) else { throw AttributionError.unknownLayer(gradCAMLayer, available: gradCAMLayers) }
        if gradCAMLayer == "local", let localFeatures {
            func localLogit(_ a: Tensor, _ image: Tensor?) throws -> Tensor {
                let regions = (0..<a.shape[0]).map { (sample: $0, mask: mask) }
                return try classify(pooledFrom: a, image: image, regions: regions).select(dim: 1, index: classIndex)
            }
            // With `localInside` the branch reads the image inside the region alone, as `classify` does, and its
            // activations are those inside the region: the ones `classify` computes (on the region's bounding box)
            // and pools. Elsewhere the branch's biases alone would light the map.
            let inside = config.classifierFeatures == .localInside ? try mask.gt(0).to(.float32) : nil
            return AttributionTarget(score: score, activations: { x in
                input = try x.detached()
                guard let inside else { return try localFeatures(x).detached().requiringGrad() }
                let support = try inside.to(x.dtype)
                return try (localFeatures(x * support) * support).detached().requiringGrad()
            }, head: { a in try localLogit(a, input) })
        }
        if gradCAMLayer == "decoder" {
            return AttributionTarget(score: score, activations: { x in
                input = try x.detached()
                return try self.decoder(self.encode(x)).detached().requiringGrad()
            }, head: { a in try logit(a, input) })
        }
        guard gradCAMLayer.hasPrefix("encoder."), let level = Int(gradCAMLayer.dropFirst(8)) else {
            throw AttributionError.unknownLayer(gradCAMLayer, available: gradCAMLayers)
        }
        // Grad-CAM at encoder level k: the levels before k do not depend on it; the later ones are recomputed from it.
        var lower: [Tensor] = []
        return AttributionTarget(
            score: score,
            activations: { x in
                input = try x.detached()
                let levels = try self.encode(x)
                lower = try levels[..<level].map { try $0.detached() }
                return try levels[level].detached().requiringGrad()
            },
            head: { a in try logit(self.decoder(lower + [a] + self.encoder.levels(after: level, from: a)), input) })
    }
}
