import CTorch

/// How a loss combines its per-element values.
public enum Reduction: Int32, Sendable {
    case none = 0, mean, sum
}

/// Loss functions with PyTorch's semantics.
public enum Loss {
    /// Cross-entropy of logits `[N, C, ...]` against int64 class indices `[N, ...]` or class probabilities shaped
    /// like the logits. `weight` gives per-class weights; targets equal to `ignoreIndex` contribute nothing.
    public static func crossEntropy(_ logits: Tensor, _ target: Tensor, weight: Tensor? = nil, reduction: Reduction = .mean,
                                    ignoreIndex: Int = -100, labelSmoothing: Double = 0) throws -> Tensor {
        try make("crossEntropy", [logits, target]) {
            ct_cross_entropy(logits.handle, target.handle, weight?.handle, reduction.rawValue, Int64(ignoreIndex), labelSmoothing)
        }
    }
    public static func nll(_ logProbabilities: Tensor, _ target: Tensor, weight: Tensor? = nil, reduction: Reduction = .mean,
                           ignoreIndex: Int = -100) throws -> Tensor {
        try make("nll", [logProbabilities, target]) {
            ct_nll_loss(logProbabilities.handle, target.handle, weight?.handle, reduction.rawValue, Int64(ignoreIndex))
        }
    }
    /// Binary cross-entropy on logits (numerically stable).
    public static func binaryCrossEntropyWithLogits(_ logits: Tensor, _ target: Tensor, weight: Tensor? = nil,
                                                    positiveWeight: Tensor? = nil, reduction: Reduction = .mean) throws -> Tensor {
        try make("binaryCrossEntropyWithLogits", [logits, target]) {
            ct_bce_with_logits(logits.handle, target.handle, weight?.handle, positiveWeight?.handle, reduction.rawValue)
        }
    }
    public static func mse(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) throws -> Tensor {
        try make("mse", [input, target]) { ct_mse_loss(input.handle, target.handle, reduction.rawValue) }
    }
    public static func l1(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) throws -> Tensor {
        try make("l1", [input, target]) { ct_l1_loss(input.handle, target.handle, reduction.rawValue) }
    }
    /// Huber-like loss: quadratic below `beta`, linear above.
    public static func smoothL1(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean, beta: Double = 1) throws -> Tensor {
        try make("smoothL1", [input, target]) { ct_smooth_l1_loss(input.handle, target.handle, reduction.rawValue, beta) }
    }
}
