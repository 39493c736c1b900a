import CTorch
import Foundation

/// Adam (Kingma and Ba, 2015) and AdamW (Loshchilov and Hutter, 2019), as in `torch.optim.Adam`/`AdamW`:
///
///     t ← t+1;  g ← ∇ (+ λ·θ for Adam's L2 decay);  θ ← θ·(1 − lr·λ) for AdamW's decoupled decay
///     m ← β₁·m + (1−β₁)·g;  v ← β₂·v + (1−β₂)·g²
///     θ ← θ − lr · (m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + ε)
public final class Adam: Optimizer {
    public let parameters: [(name: String, parameter: Parameter)]
    public var learningRate: Double
    public let beta1: Double, beta2: Double, eps: Double, weightDecay: Double
    /// Decoupled weight decay (AdamW) instead of L2 added to the gradient (Adam).
    public let decoupledWeightDecay: Bool
    private let slots = SlotStore()
    private var steps: [String: Int] = [:]

    public init(_ parameters: [(name: String, parameter: Parameter)], learningRate: Double = 1e-3, beta1: Double = 0.9,
                beta2: Double = 0.999, eps: Double = 1e-8, weightDecay: Double = 0, decoupledWeightDecay: Bool = false) throws {
        let name = decoupledWeightDecay ? "AdamW" : "Adam"
        for (key, value) in [("learning rate", learningRate), ("eps", eps), ("weight decay", weightDecay)] where value < 0 {
            throw OptimizerError.invalidHyperparameter(optimizer: name, name: key, value: value)
        }
        for (key, value) in [("beta1", beta1), ("beta2", beta2)] where !(0..<1).contains(value) {
            throw OptimizerError.invalidHyperparameter(optimizer: name, name: key, value: value)
        }
        self.parameters = parameters
        (self.learningRate, self.beta1, self.beta2, self.eps, self.weightDecay, self.decoupledWeightDecay) =
            (learningRate, beta1, beta2, eps, weightDecay, decoupledWeightDecay)
    }

    /// AdamW with PyTorch's default decay of 0.01.
    public static func adamW(_ parameters: [(name: String, parameter: Parameter)], learningRate: Double = 1e-3, beta1: Double = 0.9,
                             beta2: Double = 0.999, eps: Double = 1e-8, weightDecay: Double = 0.01) throws -> Adam {
        try Adam(parameters, learningRate: learningRate, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay,
                 decoupledWeightDecay: true)
    }

    /// One update of every parameter that has a gradient, in a single shim call (the arithmetic above, in place).
    public func step() throws {
        var params: [Tensor] = [], means: [Tensor] = [], squares: [Tensor] = [], counts: [Int64] = []
        for (name, p) in parameters where p.tensor.grad != nil {
            let t = (steps[name] ?? 0) + 1
            steps[name] = t
            params.append(p.tensor)
            means.append(try slots.slot("exp_avg", for: name, like: p.tensor))
            squares.append(try slots.slot("exp_avg_sq", for: name, like: p.tensor))
            counts.append(Int64(t))
        }
        guard !params.isEmpty else { return }
        try status(decoupledWeightDecay ? "AdamW.step" : "Adam.step", []) {
            var handles = params.map { Optional($0.handle) }, m = means.map { Optional($0.handle) }, v = squares.map { Optional($0.handle) }
            return ct_adam_step(&handles, &m, &v, counts, Int32(params.count), learningRate, beta1, beta2, eps, weightDecay,
                                decoupledWeightDecay ? 1 : 0)
        }
    }

    public func state() throws -> [(name: String, tensor: Tensor)] {
        try slots.named() + steps.keys.sorted().map { ("step." + $0, try Tensor(scalar: Int64(steps[$0]!))) }
    }

    public func load(state: [String: Tensor]) throws {
        try slots.load(state, kinds: ["exp_avg", "exp_avg_sq"], parameters: parameters, optimizer: decoupledWeightDecay ? "AdamW" : "Adam")
        steps = [:]
        for (name, _) in parameters where state["step." + name] != nil { steps[name] = try scalarState(state, "step." + name) }
    }
}
