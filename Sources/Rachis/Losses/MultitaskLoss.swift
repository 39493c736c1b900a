import Torch

/// The terms a step adds beside the task losses (`LossBreakdown.extra`), logged as `loss.<name>`: every list of
/// logged keys is built from this one.
public enum LossTerm: String, CaseIterable, Sendable {
    case descriptors, entropy, boxes, regions
}

/// The spinal-region head's logits `[V, SpinalRegion.count]` for the vertebrae with a labelled region, and their
/// target regions (`SpinalRegion.index(ofLevelID:)`).
public struct RegionLogits: @unchecked Sendable {
    public var logits: Tensor
    public var targets: [Int]
    public init(logits: Tensor, targets: [Int]) { (self.logits, self.targets) = (logits, targets) }
}

/// A step's loss: the total to differentiate, and each task's value, weight and count for logging.
public struct LossBreakdown: @unchecked Sendable {
    /// Scalar. A zero that does not require grad when no head produced an output.
    public var total: Tensor
    /// One entry per head that produced an output.
    public var tasks: [LearningTask: TaskTerm]
    /// Terms beside the task losses, added to the total with their fixed weights: the loose-label terms on the
    /// segmentation output (`descriptors`, `entropy`, `boxes`) and the spinal-region term (`regions`); only those
    /// that are switched on and had something to supervise in the batch (count > 0).
    public var extra: [String: TaskTerm] = [:]
    /// The spinal-region logits the `regions` term was computed from (for validation metrics), if any.
    public var regions: RegionLogits? = nil

    public init(total: Tensor, tasks: [LearningTask: TaskTerm], extra: [String: TaskTerm] = [:]) {
        (self.total, self.tasks, self.extra) = (total, tasks, extra)
    }
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
    /// The epoch in progress (0-based): sets the log-barrier's t of the descriptor and box losses.
    public var epoch = 0

    /// - Parameters:
    ///   - classCounts: vertebrae per class in the training split (used for `"balanced"` class weights; its length
    ///     is the number of classes).
    ///   - structureCounts: annotated voxels per structure class in the training split (used for `"balanced"`
    ///     structure weights; uniform weights when nil or all zero).
    ///   - regionCounts: labelled vertebrae per `SpinalRegion` in the training split (used for `"balanced"` region
    ///     weights; uniform weights when nil or all zero).
    public init(config: LossConfig, classCounts: [Int], structureCounts: [Int]? = nil, regionCounts: [Int]? = nil) throws {
        try config.validate(classCount: classCounts.count)
        self.config = config
        weighting = try TaskWeighting(mode: config.weighting, weights: config.weights)
        let structureWeights: [Double]? = switch config.structureWeights {
        case .uniform: nil
        case .balanced: structureCounts.flatMap(SegmentationLoss.balancedWeights(counts:))
        case let .explicit(values): values
        }
        segmentation = SegmentationLoss(diceWeight: config.diceWeight, classWeights: structureWeights)
        localization = LocalizationLoss(peakWeight: config.heatmapPeakWeight)
        let regionWeights: [Double]? = switch config.regionWeights {
        case .uniform: nil
        case .balanced: regionCounts.flatMap(SegmentationLoss.balancedWeights(counts:))
        }
        identification = IdentificationLoss(regionWeights: regionWeights)
        let weights: [Double] = switch config.classWeights {
        case .balanced: ClassificationLoss.balancedWeights(counts: classCounts)
        case let .explicit(values): values
        }
        classification = ClassificationLoss(classWeights: weights, labelSmoothing: config.labelSmoothing)
        autoencoder = AutoencoderLoss(kind: config.autoencoderLoss)
        super.init()
    }

    /// The descriptor loss at the current epoch's barrier t.
    public var descriptorLoss: DescriptorLoss {
        DescriptorLoss(barrier: LogBarrier(t: config.descriptors.barrier.t(epoch: epoch)), temperature: config.descriptors.temperature)
    }

    /// The box loss at the current epoch's barrier t.
    public var boxLoss: BoxLoss {
        let b = config.boxes
        return BoxLoss(classes: b.classes, fill: (b.fill[0], b.fill[1]), sizeWeight: b.sizeWeight, tightnessWeight: b.tightnessWeight,
                       tightnessThreshold: b.tightnessThreshold, barrier: LogBarrier(t: b.barrier.t(epoch: epoch)))
    }

    public func callAsFunction(output: ModelOutput, classLogits: Tensor?, regions: RegionLogits? = nil, batch: Batch) throws -> LossBreakdown {
        try combine(terms(output: output, classLogits: classLogits, batch: batch),
                    extra: looseTerms(output: output, batch: batch) + regionTerm(regions))
    }

    /// The spinal-region term (`IdentificationLoss.regions`), logged as `regions`, weighted as identification (its
    /// fixed weight; 0 switches it off with the rest of identification).
    func regionTerm(_ regions: RegionLogits?) throws -> [(String, Double, MaskedLoss)] {
        guard let regions, config.weights.identification > 0 else { return [] }
        return [(LossTerm.regions.rawValue, config.weights.identification, try identification.regions(logits: regions.logits, targets: regions.targets))]
    }

    /// Combines the task losses by `weighting` (with `shares` in data-parallel training: see `TaskWeighting.combine`)
    /// and adds the loose-label terms (`looseTerms`) with their fixed weights. The loose terms are not rescaled by
    /// `shares`: across ranks they are the mean of the ranks' values, not the combined batch's.
    public func combine(_ losses: [LearningTask: MaskedLoss], shares: [LearningTask: (scale: Double, count: Int)]? = nil,
                        extra looseTerms: [(String, Double, MaskedLoss)] = []) throws -> LossBreakdown {
        let (total, terms) = try weighting.combine(losses, shares: shares)
        var sum = total
        var extra: [String: TaskTerm] = [:]
        for (name, weight, term) in looseTerms where term.count > 0 {
            sum = try sum.map { try $0 + term.value * weight } ?? term.value * weight
            extra[name] = TaskTerm(value: try term.value.item(), weight: weight, count: term.count)
        }
        return LossBreakdown(total: try sum ?? Tensor.zeros([]), tasks: terms, extra: extra)
    }

    /// Each head's masked loss, before weighting.
    public func terms(output: ModelOutput, classLogits: Tensor?, batch: Batch) throws -> [LearningTask: MaskedLoss] {
        func mask(_ task: LearningTask) throws -> Tensor {
            if let m = batch.taskMask[task] { return m }
            return task == .autoencoding ? try Tensor.ones([batch.count]) : try Tensor.zeros([batch.count])
        }
        var losses: [LearningTask: MaskedLoss] = [:]
        if let logits = output.segmentation {
            losses[.segmentation] = try segmentation(logits: logits, target: batch.structures, known: batch.structuresKnown,
                                                     sampleMask: mask(.segmentation), soft: batch.softStructures, softSamples: batch.softSamples)
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

    /// The descriptor and box losses that are switched on and have targets in the batch. Both take only samples
    /// annotated for segmentation (descriptors) or with boxes, and the segmentation weight of 0 switches them off.
    func looseTerms(output: ModelOutput, batch: Batch) throws -> [(String, Double, MaskedLoss)] {
        guard let logits = output.segmentation, config.weights.segmentation > 0 else { return [] }
        var terms: [(String, Double, MaskedLoss)] = []
        if config.descriptors.weight > 0, let bounds = batch.descriptorBounds {
            let spacings = batch.spacingMM
            let loss = descriptorLoss
            if spacings.allSatisfy({ $0 == spacings[0] }) {
                terms.append((LossTerm.descriptors.rawValue, config.descriptors.weight, try loss(logits: logits, bounds: bounds, spacingMM: spacings[0])))
            } else {
                // Per sample with its own spacing, then the mean over the samples that took part.
                var parts: [MaskedLoss] = []
                for n in 0..<batch.count where bounds.hasBounds(sample: n) {
                    parts.append(try loss(logits: logits.slice(dim: 0, start: n, end: n + 1), bounds: bounds.sample(n), spacingMM: spacings[n]))
                }
                let count = parts.reduce(0) { $0 + $1.count }
                if count > 0 {
                    let value = try parts.dropFirst().reduce(parts[0].value * Double(parts[0].count)) { try $0 + $1.value * Double($1.count) } / Double(count)
                    terms.append((LossTerm.descriptors.rawValue, config.descriptors.weight, MaskedLoss(value: value, count: count)))
                }
            }
            if config.descriptors.entropyWeight > 0 {
                let bounded = try Tensor((0..<batch.count).map { bounds.hasBounds(sample: $0) ? Float(1) : 0 }, shape: [batch.count])
                terms.append((LossTerm.entropy.rawValue, config.descriptors.entropyWeight,
                              try EntropyLoss()(logits: logits, sampleMask: bounded.to(device: logits.device), fieldOfView: batch.fieldOfView)))
            }
        }
        if config.boxes.weight > 0, let boxes = batch.boxes {
            terms.append((LossTerm.boxes.rawValue, config.boxes.weight, try boxLoss(logits: logits, boxes: boxes, sampleMask: batch.boxSamples,
                                                                    known: batch.fieldOfView, cut: batch.cutBoxes)))
        }
        return terms
    }
}
