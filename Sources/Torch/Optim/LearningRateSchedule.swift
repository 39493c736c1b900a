import Foundation

/// A learning rate as a pure function of the step (0-based), so a resumed run gets the same rates.
public protocol LearningRateSchedule: Sendable {
    func learningRate(at step: Int) -> Double
}

/// The same rate throughout.
public struct ConstantLR: LearningRateSchedule {
    public let base: Double
    public init(_ base: Double) { self.base = base }
    public func learningRate(at step: Int) -> Double { base }
}

/// `base · γ^⌊step / stepSize⌋`.
public struct StepLR: LearningRateSchedule {
    public let base: Double, stepSize: Int, gamma: Double
    public init(base: Double, stepSize: Int, gamma: Double = 0.1) {
        precondition(stepSize > 0, "stepSize must be positive")
        (self.base, self.stepSize, self.gamma) = (base, stepSize, gamma)
    }
    public func learningRate(at step: Int) -> Double { base * pow(gamma, Double(step / stepSize)) }
}

/// Cosine annealing from `base` to `minimum` over `totalSteps`, then `minimum`.
public struct CosineLR: LearningRateSchedule {
    public let base: Double, totalSteps: Int, minimum: Double
    public init(base: Double, totalSteps: Int, minimum: Double = 0) {
        precondition(totalSteps > 0, "totalSteps must be positive")
        (self.base, self.totalSteps, self.minimum) = (base, totalSteps, minimum)
    }
    public func learningRate(at step: Int) -> Double {
        let t = Double(Swift.min(step, totalSteps)) / Double(totalSteps)
        return minimum + (base - minimum) * (1 + cos(Double.pi * t)) / 2
    }
}

/// Linear warm-up from `startFactor · rate` to the wrapped schedule's rate over `warmupSteps`, then the wrapped
/// schedule, shifted so it starts at step 0 after warm-up.
public struct LinearWarmup<Schedule: LearningRateSchedule>: LearningRateSchedule {
    public let schedule: Schedule, warmupSteps: Int, startFactor: Double
    public init(_ schedule: Schedule, warmupSteps: Int, startFactor: Double = 0) {
        (self.schedule, self.warmupSteps, self.startFactor) = (schedule, warmupSteps, startFactor)
    }
    public func learningRate(at step: Int) -> Double {
        guard step < warmupSteps else { return schedule.learningRate(at: step - warmupSteps) }
        let factor = startFactor + (1 - startFactor) * Double(step) / Double(warmupSteps)
        return schedule.learningRate(at: 0) * factor
    }
}
