import Torch

/// Per-vertebra classification: a weighted cross-entropy with label smoothing and soft targets.
///
/// For vertebra i with logits z_i, target distribution t_i (its `softClass` when raters gave several classes,
/// otherwise one-hot of `classIndex`) and smoothed target t'_i = (1 − ε)·t_i + ε/K:
///
///     ℓ_i = −Σ_c t'_ic · log softmax(z_i)_c,   ω_i = Σ_c w_c · t_ic,   L = Σ_i ω_i·ℓ_i / Σ_i ω_i
///
/// With hard targets and ε = 0 this is PyTorch's weighted `cross_entropy` mean. Vertebrae without a class are
/// not part of the logits and contribute nothing; the count is the number of vertebrae.
public struct ClassificationLoss: Sendable {
    /// Per-class weights w_c (nil: all 1).
    public var classWeights: [Double]?
    public var labelSmoothing: Double

    public init(classWeights: [Double]? = nil, labelSmoothing: Double = 0) {
        (self.classWeights, self.labelSmoothing) = (classWeights, labelSmoothing)
    }

    /// "Balanced" weights from class counts, as scikit-learn: w_c = n / (K·n_c), and 0 for a class with no
    /// examples (it cannot occur in the data the counts were taken from).
    public static func balancedWeights(counts: [Int]) -> [Double] {
        let n = Double(counts.reduce(0, +))
        return counts.map { $0 > 0 ? n / (Double(counts.count) * Double($0)) : 0 }
    }

    /// The target distributions of the vertebrae that have a class, in batch order: `[V, classes]`.
    public static func targets(_ vertebrae: [VertebraTarget], classes: Int) throws -> [[Double]] {
        try vertebrae.filter { $0.classIndex != nil }.map { v in
            if let soft = v.softClass {
                guard soft.count == classes, soft.allSatisfy({ $0 >= 0 }), abs(soft.reduce(0, +) - 1) < 1e-6 else {
                    throw LossError.invalidTarget(loss: "classification", message: "sample \(v.sample) level \(v.levelID): softClass \(soft) is not a distribution over \(classes) classes")
                }
                return soft
            }
            let c = v.classIndex!
            guard (0..<classes).contains(c) else {
                throw LossError.invalidTarget(loss: "classification", message: "sample \(v.sample) level \(v.levelID): class \(c) outside 0..<\(classes)")
            }
            return (0..<classes).map { $0 == c ? 1 : 0 }
        }
    }

    /// - Parameters:
    ///   - logits: `[V, K]` for the vertebrae of `vertebrae` that have a class, in order.
    ///   - vertebrae: every vertebra of the batch (those without a class are skipped).
    public func callAsFunction(logits: Tensor, vertebrae: [VertebraTarget]) throws -> MaskedLoss {
        guard logits.rank == 2 else {
            throw LossError.invalidTarget(loss: "classification", message: "logits must be [V, classes], found \(logits.shape)")
        }
        let (v, k) = (logits.shape[0], logits.shape[1])
        let targets = try Self.targets(vertebrae, classes: k)
        guard targets.count == v else {
            throw LossError.countMismatch(loss: "classification", what: "logit rows", expected: targets.count, found: v)
        }
        if let classWeights, classWeights.count != k {
            throw LossError.countMismatch(loss: "classification", what: "class weights", expected: k, found: classWeights.count)
        }
        guard v > 0 else { return MaskedLoss(value: try logits.sum() * 0, count: 0) }
        let w = classWeights ?? Array(repeating: 1, count: k)
        let omega = targets.map { t in zip(t, w).reduce(0) { $0 + $1.0 * $1.1 } }
        let smoothed = targets.flatMap { $0.map { (1 - labelSmoothing) * $0 + labelSmoothing / Double(k) } }
        let t = try Tensor(smoothed, shape: [v, k]).to(logits.dtype)
        let perVertebra = try (t * logits.logSoftmax(dim: 1)).sum(dims: [1]).neg()
        let loss = try MaskedLoss.mean(perVertebra, mask: Tensor(omega).to(logits.dtype))
        return MaskedLoss(value: loss.value, count: v)
    }
}
