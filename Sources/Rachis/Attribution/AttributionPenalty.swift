import Torch

/// The attribution constraint of training: how much of each vertebra's class attribution lies outside it.
///
/// For vertebra v of sample s with class logit z_v (its reference class) and region M_v:
///
///     R_v = Σ_c ∂z_v/∂x_{s,c}            (saliency)   or   Σ_c x_{s,c} · ∂z_v/∂x_{s,c}   (gradient × input)
///     P_v = Σ_{u∉M_v} |R_v(u)| / (Σ_u |R_v(u)| + ε)
///
/// and the penalty is the mean of P_v over the vertebrae given. The input gradient is taken with `createGraph`, so
/// the penalty is differentiable in the weights (double backprop). One vertebra per sample goes into each gradient
/// call: the gradient of Σ of logits from different samples separates by sample, so k vertebrae per sample cost k
/// gradient calls.
public enum AttributionPenalty {
    public static let epsilon = 1e-8

    public struct Vertebra {
        public var sample: Int
        /// Its row in `logits`.
        public var row: Int
        public var classIndex: Int
        /// `[D, H, W]`, 1 inside.
        public var mask: Tensor
        public init(sample: Int, row: Int, classIndex: Int, mask: Tensor) {
            (self.sample, self.row, self.classIndex, self.mask) = (sample, row, classIndex, mask)
        }
    }

    /// - Parameters:
    ///   - logits: `[V, classes]`, computed from `input` with autograd on.
    ///   - input: `[N, C, D, H, W]`, requiring grad.
    public static func outsideFraction(logits: Tensor, input: Tensor, vertebrae: [Vertebra],
                                       method: LossConfig.AttributionConstraint.Method) throws -> Tensor? {
        guard !vertebrae.isEmpty else { return nil }
        // Rounds with at most one vertebra per sample.
        var rounds: [[Vertebra]] = []
        for v in vertebrae {
            if let r = rounds.firstIndex(where: { !$0.contains { $0.sample == v.sample } }) { rounds[r].append(v) } else { rounds.append([v]) }
        }
        var terms: [Tensor] = []
        for round in rounds {
            let score = try Tensor.stack(try round.map { try logits[.at($0.row), .at($0.classIndex)] }).sum()
            let g = try Torch.gradients(of: score, wrt: [input], retainGraph: true, createGraph: true)[0]
            let relevance = try (method == .gradientTimesInput ? g * input : g).sum(dims: [1])  // [N, D, H, W]
            for v in round {
                let r = try relevance[.at(v.sample)].abs()
                let outside = try (r * (v.mask * -1 + 1)).sum()
                terms.append(try outside / (r.sum() + epsilon))
            }
        }
        return try Tensor.stack(terms).mean()
    }
}
