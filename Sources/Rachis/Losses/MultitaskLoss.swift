import Torch

/// A step's loss: the total to differentiate, and each task's value, weight and count for logging.
public struct LossBreakdown: @unchecked Sendable {
    /// Scalar. A zero that does not require grad when no head produced an output.
    public var total: Tensor
    /// One entry per head that produced an output.
    public var tasks: [LearningTask: TaskTerm]

    public init(total: Tensor, tasks: [LearningTask: TaskTerm]) { (self.total, self.tasks) = (total, tasks) }
}

/// Every task loss of the model, each masked by what the batch is annotated with, combined by `TaskWeighting`.
///
/// A head that is switched off (nil output, nil `classLogits`) contributes nothing. A task missing from
/// `batch.taskMask` counts as not annotated in any sample, except autoencoding, which then trains on every
/// sample. Classification trains on every vertebra with a class (`classIndex`), which is what the class
/// logits are given for. Holds the learned task weights, if any, as parameters (`weighting.<task>`).
public final class MultitaskLoss: Module, @unchecked Sendable {
    public let config: LossConfig
    public let weighting: TaskWeighting
    public let segmentation: SegmentationLoss
    public let localization: LocalizationLoss
    public let identification: IdentificationLoss
    public let classification: ClassificationLoss
    public let autoencoder: AutoencoderLoss

    /// - Parameter classCounts: vertebrae per class in the training split (used for `"balanced"` class weights;
    ///   its length is the number of classes).
    public init(config: LossConfig, classCounts: [Int]) throws {
        try config.validate(classCount: classCounts.count)
        self.config = config
        weighting = try TaskWeighting(mode: config.weighting, weights: config.weights)
        segmentation = SegmentationLoss(diceWeight: config.diceWeight)
        localization = LocalizationLoss(peakWeight: config.heatmapPeakWeight)
        identification = IdentificationLoss()
        let weights: [Double] = switch config.classWeights {
        case .balanced: ClassificationLoss.balancedWeights(counts: classCounts)
        case let .explicit(values): values
        }
        classification = ClassificationLoss(classWeights: weights, labelSmoothing: config.labelSmoothing)
        autoencoder = AutoencoderLoss(kind: config.autoencoderLoss)
        super.init()
    }

    public func callAsFunction(output: ModelOutput, classLogits: Tensor?, batch: Batch) throws -> LossBreakdown {
        try combine(terms(output: output, classLogits: classLogits, batch: batch))
    }

    /// Combines the task losses by `weighting` (with `shares` in data-parallel training: see `TaskWeighting.combine`).
    public func combine(_ losses: [LearningTask: MaskedLoss], shares: [LearningTask: (scale: Double, count: Int)]? = nil) throws -> LossBreakdown {
        let (total, terms) = try weighting.combine(losses, shares: shares)
        return LossBreakdown(total: try total ?? Tensor.zeros([]), tasks: terms)
    }

    /// Each head's masked loss, before weighting.
    public func terms(output: ModelOutput, classLogits: Tensor?, batch: Batch) throws -> [LearningTask: MaskedLoss] {
        func mask(_ task: LearningTask) throws -> Tensor {
            if let m = batch.taskMask[task] { return m }
            return task == .autoencoding ? try Tensor.ones([batch.count]) : try Tensor.zeros([batch.count])
        }
        var losses: [LearningTask: MaskedLoss] = [:]
        if let logits = output.segmentation {
            losses[.segmentation] = try segmentation(logits: logits, target: batch.structures,
                                                     known: batch.structuresKnown, sampleMask: mask(.segmentation))
        }
        if let heatmap = output.heatmap {
            losses[.localization] = try localization(prediction: heatmap, target: batch.heatmap, sampleMask: mask(.localization))
        }
        if let logits = output.levels {
            losses[.identification] = try identification(logits: logits, target: batch.levels, known: batch.levelsKnown,
                                                         sampleMask: mask(.identification))
        }
        if let classLogits {
            losses[.classification] = try classification(logits: classLogits, vertebrae: batch.vertebrae)
        }
        if let reconstruction = output.reconstruction {
            losses[.autoencoding] = try autoencoder(reconstruction: reconstruction, image: batch.image,
                                                    sampleMask: mask(.autoencoding))
        }
        return losses
    }
}
