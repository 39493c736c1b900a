import Torch

/// The `train:` section of a training config: optimisation, schedule, validation and checkpoint policy.
public struct TrainSettings: Codable, Equatable, Sendable, DefaultConstructible {
    public var epochs = 20
    /// Cap on optimizer steps per epoch (0: a full pass over the training split).
    public var stepsPerEpoch = 0
    /// "adamw", "adam" or "sgd".
    public var optimizer = "adamw"
    public var learningRate = 2e-3
    public var weightDecay = 1e-4
    /// SGD momentum (Nesterov when `nesterov`).
    public var momentum = 0.9
    public var nesterov = true
    /// "cosine", "step" or "constant", after `warmupSteps` of linear warm-up.
    public var schedule = "cosine"
    public var warmupSteps = 20
    /// Step schedule: multiply by `gamma` every `stepEpochs` epochs.
    public var stepEpochs = 10
    public var gamma = 0.1
    /// Global gradient-norm clipping (0: off).
    public var clipNorm = 5.0
    /// Validate every this many epochs (and after the last).
    public var validateEvery = 1
    /// The validation metric that picks `checkpoint_best.h5`, and whether larger is better.
    public var bestMetric = "val.loss.total"
    public var bestMetricHigherIsBetter = false
    /// Run the model in channels-last-3d memory layout.
    public var channelsLast = false

    public init() {}

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case invalid(key: String, value: String, expected: String)
        public var description: String {
            switch self {
            case let .invalid(key, value, expected): "train.\(key) is \(value); expected \(expected)"
            }
        }
    }

    public func validate() throws {
        if epochs < 1 { throw Error.invalid(key: "epochs", value: "\(epochs)", expected: "at least 1") }
        if stepsPerEpoch < 0 { throw Error.invalid(key: "stepsPerEpoch", value: "\(stepsPerEpoch)", expected: "0 (full epochs) or more") }
        if !["adamw", "adam", "sgd"].contains(optimizer) { throw Error.invalid(key: "optimizer", value: optimizer, expected: "adamw, adam or sgd") }
        if !(learningRate > 0) { throw Error.invalid(key: "learningRate", value: "\(learningRate)", expected: "a positive number") }
        if weightDecay < 0 { throw Error.invalid(key: "weightDecay", value: "\(weightDecay)", expected: "0 or more") }
        if !["cosine", "step", "constant"].contains(schedule) { throw Error.invalid(key: "schedule", value: schedule, expected: "cosine, step or constant") }
        if warmupSteps < 0 { throw Error.invalid(key: "warmupSteps", value: "\(warmupSteps)", expected: "0 or more") }
        if stepEpochs < 1 { throw Error.invalid(key: "stepEpochs", value: "\(stepEpochs)", expected: "at least 1") }
        if clipNorm < 0 { throw Error.invalid(key: "clipNorm", value: "\(clipNorm)", expected: "0 (off) or more") }
        if validateEvery < 1 { throw Error.invalid(key: "validateEvery", value: "\(validateEvery)", expected: "at least 1") }
        // A metric whose direction is known must be compared that way, or checkpoint_best.h5 keeps the worst epoch.
        let higher = Self.higherIsBetter.contains(bestMetric) || bestMetric.hasPrefix("val.metric.dice."), lower = bestMetric.hasPrefix("val.loss.") || bestMetric == "val.metric.localizationMM"
        if (higher && !bestMetricHigherIsBetter) || (lower && bestMetricHigherIsBetter) {
            throw Error.invalid(key: "bestMetricHigherIsBetter", value: "\(bestMetricHigherIsBetter)",
                                expected: "\(higher) for \(bestMetric) (higher is \(higher ? "better" : "worse"))")
        }
    }

    /// Validation metrics for which higher is better.
    static let higherIsBetter: Set<String> = ["val.metric.balancedAccuracy", "val.metric.auc", "val.metric.dice",
                                              "val.metric.identificationRate", "val.metric.psnr"]

    /// The optimizer over `parameters`.
    public func makeOptimizer(_ parameters: [(name: String, parameter: Parameter)]) throws -> any Optimizer {
        switch optimizer {
        case "sgd": try SGD(parameters, learningRate: learningRate, momentum: momentum, weightDecay: weightDecay, nesterov: nesterov && momentum > 0)
        case "adam": try Adam(parameters, learningRate: learningRate, weightDecay: weightDecay)
        default: try Adam.adamW(parameters, learningRate: learningRate, weightDecay: weightDecay)
        }
    }

    /// The learning rate as a function of the optimizer step.
    public func makeSchedule(stepsPerEpoch: Int) -> any LearningRateSchedule {
        let total = Swift.max(1, epochs * stepsPerEpoch - warmupSteps)
        switch schedule {
        case "step": return LinearWarmup(StepLR(base: learningRate, stepSize: Swift.max(1, stepEpochs * stepsPerEpoch), gamma: gamma), warmupSteps: warmupSteps)
        case "constant": return LinearWarmup(ConstantLR(learningRate), warmupSteps: warmupSteps)
        default: return LinearWarmup(CosineLR(base: learningRate, totalSteps: total, minimum: learningRate * 0.01), warmupSteps: warmupSteps)
        }
    }
}
