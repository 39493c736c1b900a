import Foundation
import Testing
@testable import Torch

/// Optimizers against closed-form updates on L(θ) = ½ Σ aᵢθᵢ², whose gradient is a ⊙ θ.
struct OptimizerTests {
    static let curvature: [Double] = [1, 2, 0.5, 3]
    static let start: [Double] = [1, -2, 0.5, 3]

    /// Three steps of `optimizer` on the quadratic; returns the parameter values after each step.
    static func run(_ optimizer: Optimizer, _ parameter: Parameter, steps: Int = 3) throws -> [[Double]] {
        let a = try doubles(curvature)
        var trace: [[Double]] = []
        for _ in 0..<steps {
            try optimizer.zeroGrad()
            try ((a * parameter.tensor.square()).sum() * 0.5).backward()
            try optimizer.step()
            trace.append(try parameter.tensor.array(Double.self))
        }
        return trace
    }

    struct SGDConfig: Sendable, CustomTestStringConvertible {
        var lr = 0.1, momentum = 0.0, dampening = 0.0, weightDecay = 0.0, nesterov = false
        var testDescription: String { "lr \(lr) momentum \(momentum) dampening \(dampening) decay \(weightDecay) nesterov \(nesterov)" }
    }

    static let sgdConfigs: [SGDConfig] = [
        SGDConfig(),
        SGDConfig(momentum: 0.9),
        SGDConfig(momentum: 0.9, dampening: 0.3),
        SGDConfig(momentum: 0.8, nesterov: true),
        SGDConfig(weightDecay: 0.05),
        SGDConfig(lr: 0.05, momentum: 0.7, dampening: 0.1, weightDecay: 0.2),
        SGDConfig(lr: 0.2, momentum: 0.5, weightDecay: 0.1, nesterov: true),
    ]

    @Test(arguments: sgdConfigs) func sgdMatchesClosedForm(_ c: SGDConfig) throws {
        let p = try Parameter(try doubles(Self.start))
        let sgd = try SGD([("p", p)], learningRate: c.lr, momentum: c.momentum, dampening: c.dampening,
                          weightDecay: c.weightDecay, nesterov: c.nesterov)
        let trace = try Self.run(sgd, p)
        var theta = Self.start
        var buffer: [Double]? = nil
        for step in 0..<3 {
            var g = (0..<4).map { Self.curvature[$0] * theta[$0] + c.weightDecay * theta[$0] }
            if c.momentum != 0 {
                let b = buffer.map { b in (0..<4).map { c.momentum * b[$0] + (1 - c.dampening) * g[$0] } } ?? g
                buffer = b
                g = c.nesterov ? (0..<4).map { g[$0] + c.momentum * b[$0] } : b
            }
            theta = (0..<4).map { theta[$0] - c.lr * g[$0] }
            #expect(allClose(trace[step], theta, rtol: 1e-12, atol: 1e-14), "step \(step + 1)")
        }
    }

    struct AdamConfig: Sendable, CustomTestStringConvertible {
        var lr = 0.1, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.0, decoupled = false
        var testDescription: String { "\(decoupled ? "AdamW" : "Adam") lr \(lr) betas \(beta1), \(beta2) decay \(weightDecay)" }
    }

    static let adamConfigs: [AdamConfig] = [
        AdamConfig(),
        AdamConfig(lr: 0.05, beta1: 0.5, beta2: 0.9, eps: 1e-3),
        AdamConfig(weightDecay: 0.1),
        AdamConfig(weightDecay: 0.1, decoupled: true),
        AdamConfig(lr: 0.3, beta1: 0.8, beta2: 0.95, weightDecay: 0.5, decoupled: true),
    ]

    @Test(arguments: adamConfigs) func adamMatchesScalarReimplementation(_ c: AdamConfig) throws {
        let p = try Parameter(try doubles(Self.start))
        let adam = c.decoupled
            ? try Adam.adamW([("p", p)], learningRate: c.lr, beta1: c.beta1, beta2: c.beta2, eps: c.eps, weightDecay: c.weightDecay)
            : try Adam([("p", p)], learningRate: c.lr, beta1: c.beta1, beta2: c.beta2, eps: c.eps, weightDecay: c.weightDecay)
        #expect(adam.decoupledWeightDecay == c.decoupled)
        let trace = try Self.run(adam, p)
        var theta = Self.start
        var m = [Double](repeating: 0, count: 4), v = m
        for t in 1...3 {
            for i in 0..<4 {
                var g = Self.curvature[i] * theta[i]
                if c.decoupled { theta[i] *= 1 - c.lr * c.weightDecay } else { g += c.weightDecay * theta[i] }
                m[i] = c.beta1 * m[i] + (1 - c.beta1) * g
                v[i] = c.beta2 * v[i] + (1 - c.beta2) * g * g
                let mHat = m[i] / (1 - Foundation.pow(c.beta1, Double(t)))
                let vHat = v[i] / (1 - Foundation.pow(c.beta2, Double(t)))
                theta[i] -= c.lr * mHat / (vHat.squareRoot() + c.eps)
            }
            #expect(allClose(trace[t - 1], theta, rtol: 1e-10, atol: 1e-12), "step \(t)")
        }
    }

    /// AdamW's default decay is PyTorch's 0.01.
    @Test func adamWDefaults() throws {
        let adam = try Adam.adamW([])
        #expect(adam.weightDecay == 0.01 && adam.decoupledWeightDecay && adam.learningRate == 1e-3)
    }

    enum Kind: String, CaseIterable, Sendable { case sgdMomentum, sgdNesterov, adam, adamW }

    static func make(_ kind: Kind, _ named: [(name: String, parameter: Parameter)]) throws -> Optimizer {
        switch kind {
        case .sgdMomentum: try SGD(named, learningRate: 0.1, momentum: 0.9, dampening: 0.2, weightDecay: 0.01)
        case .sgdNesterov: try SGD(named, learningRate: 0.1, momentum: 0.9, nesterov: true)
        case .adam: try Adam(named, learningRate: 0.1, weightDecay: 0.05)
        case .adamW: try Adam.adamW(named, learningRate: 0.1, weightDecay: 0.05)
        }
    }

    /// Stopping after 3 steps, restoring the state into a fresh optimizer and taking 3 more gives exactly the
    /// parameters of 6 uninterrupted steps.
    @Test(arguments: Kind.allCases) func stateRoundTripResumesExactly(_ kind: Kind) throws {
        let a = try Parameter(try doubles(Self.start)), b = try Parameter(try doubles([0.3, -0.7], shape: [2, 1]))
        let uninterrupted = try Self.make(kind, [("layer.a", a), ("layer.b", b)])
        let aTrace = try Self.run(uninterrupted, a, steps: 6)

        let a2 = try Parameter(try doubles(Self.start)), b2 = try Parameter(try doubles([0.3, -0.7], shape: [2, 1]))
        let first = try Self.make(kind, [("layer.a", a2), ("layer.b", b2)])
        _ = try Self.run(first, a2, steps: 3)
        let saved = try first.state()
        #expect(!saved.isEmpty)
        // Only parameters with gradients have state: b2 never got one.
        #expect(saved.allSatisfy { !$0.name.hasSuffix("layer.b") })
        let copies = Dictionary(uniqueKeysWithValues: try saved.map { ($0.name, try $0.tensor.clone()) })
        let resumed = try Self.make(kind, [("layer.a", a2), ("layer.b", b2)])
        try resumed.load(state: copies)
        #expect(try resumed.state().map(\.name) == saved.map(\.name))
        let resumedTrace = try Self.run(resumed, a2, steps: 3)
        #expect(resumedTrace.last == aTrace.last)
        #expect(try b.tensor.array(Double.self) == [0.3, -0.7])

        // A fresh optimizer without the state does not resume exactly (the test can tell them apart).
        let a3 = try Parameter(try doubles(Self.start))
        let restarted = try Self.make(kind, [("layer.a", a3)])
        _ = try Self.run(restarted, a3, steps: 3)
        let fresh = try Self.make(kind, [("layer.a", a3)])
        #expect(try Self.run(fresh, a3, steps: 3).last != aTrace.last)
    }

    @Test func loadRejectsStateOfTheWrongShape() throws {
        let p = try Parameter(try doubles(Self.start))
        let sgd = try SGD([("p", p)], learningRate: 0.1, momentum: 0.9)
        #expect(throws: OptimizerError.self) { try sgd.load(state: ["momentum_buffer.p": try doubles([1, 2])]) }
    }

    @Test func learningRateChangesApplyToTheNextStep() throws {
        let p = try Parameter(try doubles([1]))
        let sgd = try SGD([("p", p)], learningRate: 0.1)
        try p.tensor.square().sum().backward()  // gradient 2
        sgd.learningRate = 0.25
        try sgd.step()
        #expect(try p.tensor.item() == 0.5)
        // A parameter without a gradient is skipped.
        try sgd.zeroGrad()
        try sgd.step()
        #expect(try p.tensor.item() == 0.5)
    }

    static let invalid: [(String, @Sendable () throws -> Optimizer)] = [
        ("SGD negative lr", { try SGD([], learningRate: -0.1) }),
        ("SGD negative momentum", { try SGD([], learningRate: 0.1, momentum: -0.5) }),
        ("SGD negative decay", { try SGD([], learningRate: 0.1, weightDecay: -1) }),
        ("SGD Nesterov without momentum", { try SGD([], learningRate: 0.1, nesterov: true) }),
        ("SGD Nesterov with dampening", { try SGD([], learningRate: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true) }),
        ("Adam negative lr", { try Adam([], learningRate: -1) }),
        ("Adam beta1 = 1", { try Adam([], beta1: 1) }),
        ("Adam negative beta2", { try Adam([], beta2: -0.1) }),
        ("Adam negative eps", { try Adam([], eps: -1e-8) }),
        ("AdamW negative decay", { try Adam.adamW([], weightDecay: -0.01) }),
    ]

    @Test(arguments: invalid.indices) func invalidHyperparametersThrow(_ index: Int) {
        let (name, make) = Self.invalid[index]
        #expect(throws: OptimizerError.self, "\(name)") { try make() }
    }
}
