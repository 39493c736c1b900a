import Foundation

/// The `loss` section of the training config. Every field has a default; `validate()` checks the values.
public struct LossConfig: Codable, Equatable, Sendable, DefaultConstructible {
    public enum Weighting: String, Codable, Sendable, CaseIterable { case fixed, uncertainty }

    /// Weight per task. In `uncertainty` weighting a weight of 0 still switches a task off; other values are
    /// replaced by the learned weights.
    public struct TaskWeights: Codable, Equatable, Sendable {
        public var segmentation = 1.0
        public var localization = 1.0
        public var identification = 1.0
        public var classification = 1.0
        public var autoencoder = 1.0

        public init() {}

        public subscript(task: LearningTask) -> Double {
            get {
                switch task {
                case .segmentation: segmentation
                case .localization: localization
                case .identification: identification
                case .classification: classification
                case .autoencoding: autoencoder
                }
            }
            set {
                switch task {
                case .segmentation: segmentation = newValue
                case .localization: localization = newValue
                case .identification: identification = newValue
                case .classification: classification = newValue
                case .autoencoding: autoencoder = newValue
                }
            }
        }
    }

    /// `"balanced"` (from the training split's class counts) or one weight per class.
    public enum ClassWeights: Codable, Equatable, Sendable {
        case balanced
        case explicit([Double])

        public init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let values = try? container.decode([Double].self) {
                self = .explicit(values)
            } else if let text = try? container.decode(String.self), text == "balanced" {
                self = .balanced
            } else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected \"balanced\" or a list of per-class weights")
            }
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .balanced: try container.encode("balanced")
            case let .explicit(values): try container.encode(values)
            }
        }
    }

    /// Weights of the segmentation's cross-entropy per structure class, background first.
    public enum StructureWeights: Codable, Equatable, Sendable {
        /// Every annotated voxel counts the same.
        case uniform
        /// From the training split's annotated structure voxels: w_c ∝ 1/√f_c (f_c the share of class c), scaled
        /// so that the mean weight over those voxels is 1 (`SegmentationLoss.balancedWeights`). A lesion (under 0.1 %
        /// of the voxels) otherwise never outweighs the background it is surrounded by.
        case balanced
        /// One weight per structure class.
        case explicit([Double])

        public init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let values = try? container.decode([Double].self) {
                self = .explicit(values)
            } else if let text = try? container.decode(String.self), let named = ["uniform": Self.uniform, "balanced": .balanced][text] {
                self = named
            } else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected \"uniform\", \"balanced\" or a list of per-structure weights")
            }
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .uniform: try container.encode("uniform")
            case .balanced: try container.encode("balanced")
            case let .explicit(values): try container.encode(values)
            }
        }
    }

    /// Weights of the spinal-region head's cross-entropy per region (`SpinalRegion`).
    public enum RegionWeights: String, Codable, Sendable, CaseIterable {
        /// Every vertebra counts the same.
        case uniform
        /// From the training split's labelled vertebrae: w_r ∝ 1/√f_r (f_r the share of region r), mean weight 1
        /// over those vertebrae (`SegmentationLoss.balancedWeights`), so that a rare region (a thirteenth thoracic
        /// vertebra, a sacrum in view) counts. On the phantoms it did not teach the head T13 and lowered
        /// identification (docs/learning.md, fifteenth round).
        case balanced
    }

    public var weighting = Weighting.fixed
    public var weights = TaskWeights()
    /// Share of Dice in the segmentation loss: `(1 − diceWeight)·CE + diceWeight·DiceLoss`.
    public var diceWeight = 0.5
    /// Per-structure weights of the segmentation's cross-entropy (not of its Dice term).
    public var structureWeights = StructureWeights.uniform
    /// Standard deviation of the Gaussians of the target heatmap (used by the loader).
    public var heatmapSigmaMM = 6.0
    /// α in the heatmap voxel weight `1 + α·target`.
    public var heatmapPeakWeight = 10.0
    public var classWeights = ClassWeights.balanced
    /// Per-region weights of the spinal-region head's cross-entropy.
    public var regionWeights = RegionWeights.uniform
    public var labelSmoothing = 0.05
    public var autoencoderLoss = AutoencoderLoss.Kind.l1
    /// Attribution-constrained training: off while `weight` is 0.
    public var attribution = AttributionConstraint()
    /// Shape-descriptor supervision of the segmentation (`DescriptorLoss`): off while `weight` is 0.
    public var descriptors = DescriptorSupervision()
    /// Box supervision of the segmentation for subjects annotated with boxes (`BoxLoss`): off while `weight` is 0.
    public var boxes = BoxSupervision()
    /// How subjects with several raters train the segmentation.
    public var raters = RaterSupervision()

    /// Penalises the part of each vertebra's class attribution that lies outside the vertebra
    /// (`AttributionPenalty`), added to the total loss with `weight`.
    public struct AttributionConstraint: Codable, Equatable, Sendable {
        public enum Method: String, Codable, Sendable, CaseIterable { case saliency, gradientTimesInput }
        public var weight = 0.0
        public var method = Method.gradientTimesInput
        /// Vertebrae per sample whose attribution is penalised each step (one double backprop each).
        public var vertebraePerSample = 1
        /// The penalty is taken on every `everySteps`-th optimizer step (1: on every step): each costs a second
        /// backpropagation through the network, about 1.7x a step's time on CPU.
        public var everySteps = 1
        /// Voxels within this distance of the vertebra count as inside.
        public var marginMM = 0.0
        public init() {}

        /// Whether the penalty is taken on optimizer step `step` (0-based): on, and a multiple of `everySteps`.
        public func isTaken(atStep step: Int) -> Bool { weight > 0 && step % everySteps == 0 }
        /// How many constrained steps came before `step`: the vertebrae are taken in turn by it.
        public func turn(atStep step: Int) -> Int { step / everySteps }
    }

    /// The log-barrier's t at an epoch (0-based): t0·tGrowth^epoch (Kervadec et al.: t0 = 5, ×1.1 per epoch).
    public struct BarrierSchedule: Codable, Equatable, Sendable {
        public var t0 = 5.0
        public var tGrowth = 1.1
        public init() {}
        public func t(epoch: Int) -> Double { t0 * Foundation.pow(tGrowth, Double(Swift.max(epoch, 0))) }
    }

    /// Bounds a ≤ f ≤ b on the prediction's shape descriptors per structure, taken from the labels (or from a
    /// descriptor-only annotation) around the structure's value f*: `relativeTolerance` for size, mean distance and
    /// surface (a = f*·(1 − r), b = f*·(1 + r)), `centroidToleranceMM` for the centroid (a = c* − τ, b = c* + τ).
    /// Only structures wholly inside the crop and fully annotated are bounded.
    public struct DescriptorSupervision: Codable, Equatable, Sendable {
        public var weight = 0.0
        public var barrier = BarrierSchedule()
        public var relativeTolerance = 0.1
        public var centroidToleranceMM = 5.0
        /// The descriptor kinds to bound: size, centroid, meanDistance, surface.
        public var kinds: [ShapeDescriptors.Kind] = [.size, .centroid, .meanDistance]
        /// Structure classes that get bounds (indices into the segmentation classes; background 0 is not allowed).
        /// Every structure by default: a class left unbounded takes the probability the bounds push out of the others.
        public var structures = [1, 2, 3, 4, 5]
        /// Weight of the mean softmax entropy (`EntropyLoss`) on the samples with descriptor bounds: soft descriptors
        /// alone are met by thinly spread probability whose argmax is background.
        public var entropyWeight = 1.0
        /// Descriptors of softmax(logits / temperature) (`DescriptorLoss.temperature`); 1: of the softmax itself
        /// (Kervadec et al.), which the phantoms of docs/loose-labels.md meet with probability spread too thinly for
        /// any voxel to be labelled.
        public var temperature = 0.1
        public init() {}
    }

    /// `BoxLoss` for subjects whose annotation mode is `box` (each vertebra's label is its bounding box): outside
    /// every box the vertebra classes (`classes`: vertebral body, lesion, posterior elements) are absent; inside,
    /// they fill between `fill[0]` and `fill[1]` of the box, and every slice of a box normal to an axis reaches
    /// `tightnessThreshold` (skipped for boxes the crop or the field of view cuts).
    public struct BoxSupervision: Codable, Equatable, Sendable {
        public var weight = 0.0
        public var barrier = BarrierSchedule()
        public var classes = [1, 4, 5]
        public var fill = [0.25, 0.85]
        public var sizeWeight = 1.0
        public var tightnessWeight = 0.5
        public var tightnessThreshold = 0.5
        public init() {}
    }

    /// `majority`: the stored labels (the per-voxel majority of the raters); `staple`: a soft-target cross-entropy
    /// (and soft Dice) on the per-voxel posterior of multi-label STAPLE over the raters' structure labels.
    public struct RaterSupervision: Codable, Equatable, Sendable {
        public enum Consensus: String, Codable, Sendable, CaseIterable { case majority, staple }
        public var consensus = Consensus.majority
        public init() {}
    }

    public init() {}

    public struct Error: Swift.Error, Equatable, CustomStringConvertible {
        /// The offending key, dotted from the `loss` section (`weights.classification`).
        public var key: String
        public var message: String
        public var description: String { "loss.\(key): \(message)" }
    }

    /// Checks ranges; `classCount`, when given, is the number of classes the explicit class weights must match.
    public func validate(classCount: Int? = nil) throws(Error) {
        for task in LearningTask.allCases {
            let w = weights[task]
            guard w.isFinite, w >= 0 else {
                throw Error(key: "weights.\(TaskWeights.key(task))", message: "must be a finite number ≥ 0, found \(w)")
            }
        }
        guard (0...1).contains(diceWeight) else { throw Error(key: "diceWeight", message: "must be in [0, 1], found \(diceWeight)") }
        guard heatmapSigmaMM.isFinite, heatmapSigmaMM > 0 else {
            throw Error(key: "heatmapSigmaMM", message: "must be > 0 mm, found \(heatmapSigmaMM)")
        }
        guard heatmapPeakWeight.isFinite, heatmapPeakWeight >= 0 else {
            throw Error(key: "heatmapPeakWeight", message: "must be ≥ 0, found \(heatmapPeakWeight)")
        }
        guard labelSmoothing >= 0, labelSmoothing < 1 else {
            throw Error(key: "labelSmoothing", message: "must be in [0, 1), found \(labelSmoothing)")
        }
        guard attribution.weight.isFinite, attribution.weight >= 0 else {
            throw Error(key: "attribution.weight", message: "must be a finite number ≥ 0, found \(attribution.weight)")
        }
        guard attribution.everySteps >= 1 else {
            throw Error(key: "attribution.everySteps", message: "must be at least 1, found \(attribution.everySteps)")
        }
        guard attribution.vertebraePerSample >= 1 else {
            throw Error(key: "attribution.vertebraePerSample", message: "must be at least 1, found \(attribution.vertebraePerSample)")
        }
        guard attribution.marginMM.isFinite, attribution.marginMM >= 0 else {
            throw Error(key: "attribution.marginMM", message: "must be ≥ 0 mm, found \(attribution.marginMM)")
        }
        for (key, schedule) in [("descriptors.barrier", descriptors.barrier), ("boxes.barrier", boxes.barrier)] {
            guard schedule.t0.isFinite, schedule.t0 > 0 else { throw Error(key: key + ".t0", message: "must be > 0, found \(schedule.t0)") }
            guard schedule.tGrowth.isFinite, schedule.tGrowth >= 1 else {
                throw Error(key: key + ".tGrowth", message: "must be ≥ 1 (t never shrinks), found \(schedule.tGrowth)")
            }
        }
        guard descriptors.weight.isFinite, descriptors.weight >= 0 else {
            throw Error(key: "descriptors.weight", message: "must be a finite number ≥ 0, found \(descriptors.weight)")
        }
        guard descriptors.relativeTolerance.isFinite, (0..<1).contains(descriptors.relativeTolerance) else {
            throw Error(key: "descriptors.relativeTolerance", message: "must be in [0, 1), found \(descriptors.relativeTolerance)")
        }
        guard descriptors.centroidToleranceMM.isFinite, descriptors.centroidToleranceMM > 0 else {
            throw Error(key: "descriptors.centroidToleranceMM", message: "must be > 0 mm, found \(descriptors.centroidToleranceMM)")
        }
        guard descriptors.entropyWeight.isFinite, descriptors.entropyWeight >= 0 else {
            throw Error(key: "descriptors.entropyWeight", message: "must be a finite number ≥ 0, found \(descriptors.entropyWeight)")
        }
        guard descriptors.temperature.isFinite, descriptors.temperature > 0 else {
            throw Error(key: "descriptors.temperature", message: "must be a finite number > 0, found \(descriptors.temperature)")
        }
        guard !descriptors.kinds.isEmpty else {
            throw Error(key: "descriptors.kinds", message: "name at least one of \(ShapeDescriptors.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let structureRange = 1..<StructureLabel.allCases.count
        guard !descriptors.structures.isEmpty, descriptors.structures.allSatisfy(structureRange.contains),
              Set(descriptors.structures).count == descriptors.structures.count else {
            throw Error(key: "descriptors.structures", message: "must list distinct structure classes in 1...\(structureRange.upperBound - 1) (0 is background), found \(descriptors.structures)")
        }
        guard boxes.weight.isFinite, boxes.weight >= 0 else {
            throw Error(key: "boxes.weight", message: "must be a finite number ≥ 0, found \(boxes.weight)")
        }
        guard !boxes.classes.isEmpty, boxes.classes.allSatisfy(structureRange.contains), Set(boxes.classes).count == boxes.classes.count else {
            throw Error(key: "boxes.classes", message: "must list distinct structure classes in 1...\(structureRange.upperBound - 1) (0 is background), found \(boxes.classes)")
        }
        guard boxes.fill.count == 2, 0 <= boxes.fill[0], boxes.fill[0] <= boxes.fill[1], boxes.fill[1] <= 1 else {
            throw Error(key: "boxes.fill", message: "expected [lower, upper] with 0 ≤ lower ≤ upper ≤ 1, found \(boxes.fill)")
        }
        for (key, value) in [("boxes.sizeWeight", boxes.sizeWeight), ("boxes.tightnessWeight", boxes.tightnessWeight)] {
            guard value.isFinite, value >= 0 else { throw Error(key: key, message: "must be a finite number ≥ 0, found \(value)") }
        }
        guard boxes.tightnessThreshold > 0, boxes.tightnessThreshold < 1 else {
            throw Error(key: "boxes.tightnessThreshold", message: "must be in (0, 1), found \(boxes.tightnessThreshold)")
        }
        if case let .explicit(values) = structureWeights {
            guard values.count == StructureLabel.allCases.count, values.allSatisfy({ $0.isFinite && $0 >= 0 }), values.contains(where: { $0 > 0 }) else {
                throw Error(key: "structureWeights", message: "must be \(StructureLabel.allCases.count) finite weights ≥ 0 (background first), not all 0, found \(values)")
            }
        }
        if case let .explicit(values) = classWeights {
            guard values.allSatisfy({ $0.isFinite && $0 >= 0 }), values.contains(where: { $0 > 0 }) else {
                throw Error(key: "classWeights", message: "must be finite, ≥ 0 and not all 0, found \(values)")
            }
            if let classCount, values.count != classCount {
                throw Error(key: "classWeights", message: "has \(values.count) weights but the dataset has \(classCount) classes; give one per class or \"balanced\"")
            }
        }
    }
}

extension LossConfig.TaskWeights {
    /// The config key of a task's weight.
    public static func key(_ task: LearningTask) -> String {
        task == .autoencoding ? "autoencoder" : task.rawValue
    }
}
