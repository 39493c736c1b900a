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

    public var weighting = Weighting.fixed
    public var weights = TaskWeights()
    /// Share of Dice in the segmentation loss: `(1 − diceWeight)·CE + diceWeight·DiceLoss`.
    public var diceWeight = 0.5
    /// Standard deviation of the Gaussians of the target heatmap (used by the loader).
    public var heatmapSigmaMM = 6.0
    /// α in the heatmap voxel weight `1 + α·target`.
    public var heatmapPeakWeight = 10.0
    public var classWeights = ClassWeights.balanced
    public var labelSmoothing = 0.05
    public var autoencoderLoss = AutoencoderLoss.Kind.l1
    /// Attribution-constrained training: off while `weight` is 0.
    public var attribution = AttributionConstraint()

    /// Penalises the part of each vertebra's class attribution that lies outside the vertebra
    /// (`AttributionPenalty`), added to the total loss with `weight`.
    public struct AttributionConstraint: Codable, Equatable, Sendable {
        public enum Method: String, Codable, Sendable, CaseIterable { case saliency, gradientTimesInput }
        public var weight = 0.0
        public var method = Method.gradientTimesInput
        /// Vertebrae per sample whose attribution is penalised each step (one double backprop each).
        public var vertebraePerSample = 1
        /// Voxels within this distance of the vertebra count as inside.
        public var marginMM = 0.0
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
        guard attribution.vertebraePerSample >= 1 else {
            throw Error(key: "attribution.vertebraePerSample", message: "must be at least 1, found \(attribution.vertebraePerSample)")
        }
        guard attribution.marginMM.isFinite, attribution.marginMM >= 0 else {
            throw Error(key: "attribution.marginMM", message: "must be ≥ 0 mm, found \(attribution.marginMM)")
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
