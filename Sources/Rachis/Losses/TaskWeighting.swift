import Foundation
import Torch

/// One task's share of a step's loss, for logging.
public struct TaskTerm: Codable, Equatable, Sendable {
    /// The task's (unweighted) loss value.
    public var value: Double
    /// The weight it entered the total with (fixed, or exp(−s_t) when learned).
    public var weight: Double
    /// Elements that contributed (0: the task had nothing annotated and was left out).
    public var count: Int

    public init(value: Double, weight: Double, count: Int) {
        (self.value, self.weight, self.count) = (value, weight, count)
    }
}

/// Combines the task losses into one total.
///
/// - `fixed`: total = Σ_t w_t·L_t.
/// - `uncertainty`: homoscedastic uncertainty weighting (Kendall, Gal and Cipolla, CVPR 2018) with one learned
///   log-variance s_t = log σ_t² per task: total = Σ_t (exp(−s_t)·L_t + s_t). The paper's regression form is
///   (1/2σ²)·L + log σ = ½·(exp(−s)·L + s); we drop the common factor ½ (it only rescales the total, i.e. the
///   learning rate) and use the same form for classification tasks, as most implementations do. The effective
///   weight of task t is exp(−s_t); ∂total/∂s_t = −exp(−s_t)·L_t + 1, so s_t settles at log L_t. s_t starts at 0.
///
/// A task whose loss has count 0 in a step contributes nothing: neither its weighted loss nor its s_t term (its
/// zero loss is added only to keep the graph connected, with zero gradient). Tasks with a configured weight of 0
/// are left out in both modes.
public final class TaskWeighting: Module, @unchecked Sendable {
    public let mode: LossConfig.Weighting
    public let fixedWeights: LossConfig.TaskWeights
    // Learned log-variances, named after the tasks (nil in fixed mode or for a switched-off task).
    let localization: Parameter?
    let identification: Parameter?
    let classification: Parameter?
    let segmentation: Parameter?
    let autoencoding: Parameter?

    public init(mode: LossConfig.Weighting, weights: LossConfig.TaskWeights = .init()) throws {
        self.mode = mode
        self.fixedWeights = weights
        func logVariance(_ task: LearningTask) throws -> Parameter? {
            mode == .uncertainty && weights[task] > 0 ? try Parameter(Tensor.zeros([])) : nil
        }
        (localization, identification, classification, segmentation, autoencoding) = (
            try logVariance(.localization), try logVariance(.identification), try logVariance(.classification),
            try logVariance(.segmentation), try logVariance(.autoencoding))
        super.init()
    }

    /// The learned log-variance s_t of a task, if any.
    public func logVariance(_ task: LearningTask) -> Parameter? {
        switch task {
        case .localization: localization
        case .identification: identification
        case .classification: classification
        case .segmentation: segmentation
        case .autoencoding: autoencoding
        }
    }

    /// Total loss (a scalar tensor; nil when `losses` is empty) and one term per given task.
    ///
    /// `shares` (data-parallel training) rescales each task's masked mean so that the ranks' mean gradient is that of
    /// the combined batch: for a task, `(rank's count · ranks / all ranks' count, all ranks' count)`; the task's loss
    /// is multiplied by the first, and a task annotated on some rank is kept (its learned weight's regulariser
    /// included) even where this rank's count is 0. The returned term's value is then the rescaled value and its
    /// count the count over all ranks. Without `shares`, a single process.
    public func combine(_ losses: [LearningTask: MaskedLoss], shares: [LearningTask: (scale: Double, count: Int)]? = nil) throws -> (total: Tensor?, terms: [LearningTask: TaskTerm]) {
        var total: Tensor?
        var terms: [LearningTask: TaskTerm] = [:]
        for task in LearningTask.allCases {
            guard var loss = losses[task] else { continue }
            if let shares {
                let share = shares[task] ?? (0, 0)
                loss = MaskedLoss(value: try loss.value * share.scale, count: share.count)
            }
            let value = try loss.value.item()
            let term: Tensor
            let weight: Double
            if fixedWeights[task] == 0 || loss.count == 0 {
                weight = fixedWeights[task] == 0 ? 0 : try effectiveWeight(task)
                term = try loss.value * 0
            } else if mode == .uncertainty, let s = logVariance(task)?.tensor {
                weight = try s.neg().exp().item()
                term = try s.neg().exp() * loss.value + s
            } else {
                weight = fixedWeights[task]
                term = try loss.value * weight
            }
            total = try total.map { try $0 + term } ?? term
            terms[task] = TaskTerm(value: loss.count == 0 ? 0 : value, weight: weight, count: loss.count)
        }
        return (total, terms)
    }

    private func effectiveWeight(_ task: LearningTask) throws -> Double {
        if let s = logVariance(task)?.tensor { return Foundation.exp(-(try s.item())) }
        return fixedWeights[task]
    }
}
