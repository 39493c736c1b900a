import Foundation
import Torch

/// How to attribute a scalar decision to input voxels.
public enum AttributionMethod: String, Codable, CaseIterable, Sendable {
    /// ∂F/∂x (Simonyan et al. 2014), signed.
    case saliency
    /// x ⊙ ∂F/∂x.
    case gradientTimesInput
    /// The mean gradient over noisy copies x + ε, ε ~ N(0, σ²) (Smilkov et al. 2017).
    case smoothGrad
    /// (x − x₀) ⊙ mean over α of ∂F/∂x at x₀ + α(x − x₀), α on the midpoints of `steps` intervals (Sundararajan et
    /// al. 2017); Σ IG ≈ F(x) − F(x₀) (completeness).
    case integratedGradients
    /// ReLU(Σ_k α_k A_k) at a layer, α_k the spatial mean of ∂F/∂A_k, upsampled trilinearly to the input grid
    /// (Selvaraju et al. 2017); one map for all channels.
    case gradCAM
    /// F(x) − F(x with a window set to the baseline), spread evenly over the window's voxels and averaged over the
    /// windows covering each voxel (Zeiler and Fergus 2014; Captum's `Occlusion`).
    case occlusion
}

/// Settings of the attribution methods.
public struct AttributionSettings: Codable, Equatable, Sendable {
    public var method: AttributionMethod = .gradientTimesInput
    public var smoothGradSamples = 8
    /// Noise standard deviation of SmoothGrad as a fraction of the input's range (max − min).
    public var smoothGradSigma = 0.15
    public var integratedGradientsSteps = 16
    /// The baseline x₀ of Integrated Gradients and occlusion: a constant (0 is the mean of a z-scored image).
    public var baseline = 0.0
    /// Grad-CAM's layer: `encoder.N` (encoder level N, 0 full resolution), `decoder` (the decoder's features) or
    /// `local` (the classifier's local branch, `model.classifierFeatures: local` or `localInside`; the only layer such a model's
    /// decisions depend on).
    public var gradCAMLayer = "encoder.2"
    /// Occlusion window and stride [D, H, W] in voxels.
    public var occlusionWindow = [2, 8, 8]
    public var occlusionStride = [2, 8, 8]
    /// How many inputs go through the model at once (SmoothGrad samples, Integrated Gradients steps, occluded copies).
    public var batch = 4

    public init() {}

    public func validate() throws {
        func check(_ ok: Bool, _ key: String, _ message: String) throws {
            if !ok { throw AttributionError.invalidSetting(key: key, message: message) }
        }
        try check(smoothGradSamples >= 1, "smoothGradSamples", "must be at least 1, found \(smoothGradSamples)")
        try check(smoothGradSigma >= 0 && smoothGradSigma.isFinite, "smoothGradSigma", "must be non-negative, found \(smoothGradSigma)")
        try check(integratedGradientsSteps >= 1, "integratedGradientsSteps", "must be at least 1, found \(integratedGradientsSteps)")
        try check(baseline.isFinite, "baseline", "must be finite")
        try check(occlusionWindow.count == 3 && occlusionWindow.allSatisfy { $0 >= 1 }, "occlusionWindow", "expected 3 positive sizes, found \(occlusionWindow)")
        try check(occlusionStride.count == 3 && occlusionStride.allSatisfy { $0 >= 1 }, "occlusionStride", "expected 3 positive sizes, found \(occlusionStride)")
        try check(batch >= 1, "batch", "must be at least 1, found \(batch)")
        try check(gradCAMLayer == "decoder" || gradCAMLayer == "local" || (gradCAMLayer.hasPrefix("encoder.") && Int(gradCAMLayer.dropFirst(8)) != nil),
                  "gradCAMLayer", "expected encoder.N, decoder or local, found \(gradCAMLayer)")
    }
}

public enum AttributionError: Swift.Error, Equatable, CustomStringConvertible {
    case invalidSetting(key: String, message: String)
    case notScalarPerSample(shape: [Int])
    case unknownLayer(String, available: [String])

    public var description: String {
        switch self {
        case let .invalidSetting(key, message): "attribution.\(key): \(message)"
        case let .notScalarPerSample(shape): "the attributed function must give one value per sample ([N]), gave \(shape)"
        case let .unknownLayer(layer, available): "no layer \(layer) for Grad-CAM (available: \(available.joined(separator: ", ")))"
        }
    }
}

/// A decision to attribute: one value per sample of a batch `[N, C, D, H, W]` → `[N]`, differentiable; and, for
/// Grad-CAM, the same split at a layer: `activations(x)` then `head(activations)`.
public struct AttributionTarget {
    public var score: (Tensor) throws -> Tensor
    public var activations: ((Tensor) throws -> Tensor)?
    public var head: ((Tensor) throws -> Tensor)?

    public init(score: @escaping (Tensor) throws -> Tensor, activations: ((Tensor) throws -> Tensor)? = nil,
                head: ((Tensor) throws -> Tensor)? = nil) {
        (self.score, self.activations, self.head) = (score, activations, head)
    }
}

/// Computes attribution maps `[C, D, H, W]` (Grad-CAM: `[1, D, H, W]`) of one input `[1, C, D, H, W]`.
public struct Attributor {
    public var settings: AttributionSettings

    public init(settings: AttributionSettings = AttributionSettings()) { self.settings = settings }

    public func attribute(_ target: AttributionTarget, input: Tensor) throws -> Tensor {
        try settings.validate()
        return try Torch.withGrad {
            switch settings.method {
            case .saliency: try gradient(target.score, at: input)
            case .gradientTimesInput: try gradient(target.score, at: input) * input[.at(0)]
            case .smoothGrad: try smoothGrad(target.score, input: input)
            case .integratedGradients: try integratedGradients(target.score, input: input)
            case .gradCAM: try gradCAM(target, input: input)
            case .occlusion: try occlusion(target.score, input: input)
            }
        }
    }

    /// Σ over the batch of F, checked to be `[N]`.
    func total(_ f: (Tensor) throws -> Tensor, _ x: Tensor) throws -> Tensor {
        let y = try f(x)
        guard y.shape == [x.shape[0]] else { throw AttributionError.notScalarPerSample(shape: y.shape) }
        return try y.sum()
    }

    /// ∂F/∂x for one input `[1, ...]`, as `[...]` without the batch axis.
    func gradient(_ f: (Tensor) throws -> Tensor, at input: Tensor) throws -> Tensor {
        try gradients(f, at: input).sum(dims: [0])
    }

    /// Per-sample ∂F/∂x of a batch (samples are independent, so the gradient of the sum is each one's gradient).
    func gradients(_ f: (Tensor) throws -> Tensor, at batch: Tensor) throws -> Tensor {
        let x = try batch.detached().requiringGrad()
        return try Torch.gradients(of: total(f, x), wrt: [x])[0].detached()
    }

    /// Runs `count` inputs made by `make(range)` in batches of `settings.batch`, summing per-sample gradients.
    func summedGradients(count: Int, _ f: (Tensor) throws -> Tensor, make: (Range<Int>) throws -> Tensor) throws -> Tensor {
        var sum: Tensor?
        var start = 0
        while start < count {
            let range = start..<min(count, start + settings.batch)
            let g = try gradients(f, at: make(range)).sum(dims: [0])
            sum = try sum.map { try $0 + g } ?? g
            start = range.upperBound
        }
        return sum!
    }

    func smoothGrad(_ f: (Tensor) throws -> Tensor, input: Tensor) throws -> Tensor {
        let range = try input.max().item() - input.min().item()
        let sigma = settings.smoothGradSigma * range
        let n = settings.smoothGradSamples
        let sum = try summedGradients(count: n, f) { r in
            let repeated = try input.expand([r.count] + Array(input.shape.dropFirst())).contiguous()
            return try repeated + Tensor.randn(repeated.shape, device: input.device) * sigma
        }
        return try sum / Double(n)
    }

    /// Integrated gradients from `baseline` (default: the constant `settings.baseline`).
    ///
    /// A network that group-normalises its first convolution's output is nearly invariant to shifting and scaling
    /// its input, so along the path from a constant baseline F barely changes except for α close to 0, where the
    /// midpoint rule does not look: Σ IG then misses most of F(x) − F(x₀). An image baseline (noise, a blurred
    /// copy) avoids this.
    func integratedGradients(_ f: (Tensor) throws -> Tensor, input: Tensor, baseline image: Tensor? = nil) throws -> Tensor {
        let m = settings.integratedGradientsSteps
        let baseline = try image ?? (input.zerosLike() + settings.baseline)
        let delta = try input - baseline
        let sum = try summedGradients(count: m, f) { r in
            let alphas = try Tensor(r.map { Float((Double($0) + 0.5) / Double(m)) }, shape: [r.count] + [Int](repeating: 1, count: input.rank - 1))
                .to(device: input.device)
            return try baseline + alphas * delta
        }
        return try (sum / Double(m) * delta).sum(dims: [0])
    }

    func gradCAM(_ target: AttributionTarget, input: Tensor) throws -> Tensor {
        guard let activations = target.activations, let head = target.head else {
            throw AttributionError.invalidSetting(key: "method", message: "Grad-CAM needs a target split at a layer")
        }
        let a = try activations(input.detached())
        let g = try Torch.gradients(of: total(head, a), wrt: [a])[0]
        // α_k: spatial mean of the gradient; CAM = ReLU(Σ_k α_k A_k).
        let alpha = try g.mean(dims: [2, 3, 4], keepDims: true)
        var cam = try (alpha * a).sum(dims: [1], keepDims: true).relu().detached()
        let size = Array(input.shape[2...])
        if Array(cam.shape[2...]) != size { cam = try cam.upsampleTrilinear(size: Triple(size[0], size[1], size[2])) }
        return try cam[.at(0)]
    }

    func occlusion(_ f: (Tensor) throws -> Tensor, input: Tensor) throws -> Tensor {
        let shape = Array(input.shape[2...])
        let window = settings.occlusionWindow, steps = settings.occlusionStride
        let starts = (0..<3).map { axis -> [Int] in
            let last = max(0, shape[axis] - window[axis])
            var s = Array(stride(from: 0, through: last, by: steps[axis]))
            if s.last != last { s.append(last) }
            return s
        }
        var origins: [[Int]] = []
        for d in starts[0] { for h in starts[1] { for w in starts[2] { origins.append([d, h, w]) } } }
        return try Torch.noGrad {
            let reference = try f(input).item()
            var sum = try Tensor.zeros(shape, device: input.device)
            var count = try Tensor.zeros(shape, device: input.device)
            var start = 0
            while start < origins.count {
                let chunk = Array(origins[start..<min(origins.count, start + settings.batch)])
                var masks: [Tensor] = []
                for o in chunk {
                    var m = try Tensor.zeros(shape)
                    var view = m
                    for axis in 0..<3 { view = try view.slice(dim: axis, start: o[axis], end: min(shape[axis], o[axis] + window[axis])) }
                    try view.fill_(1)
                    m = try m.to(device: input.device)
                    masks.append(m)
                }
                let mask = try Tensor.stack(masks).unsqueeze(dim: 1)  // [n, 1, D, H, W]
                let occluded = try input * (mask * -1 + 1) + mask * settings.baseline
                let drops = try (f(occluded) * -1 + reference)  // F(x) − F(occluded), [n]
                let voxels = try mask.sum(dims: [1, 2, 3, 4])
                let perVoxel = try (drops / voxels).reshape([chunk.count, 1, 1, 1])
                sum = try sum + (mask.squeeze(dim: 1) * perVoxel).sum(dims: [0])
                count = try count + mask.squeeze(dim: 1).sum(dims: [0])
                start += chunk.count
            }
            let map = try sum / count.clamp(min: 1)
            return try map.unsqueeze(dim: 0).expand(Array(input.shape.dropFirst())).contiguous()
        }
    }
}
