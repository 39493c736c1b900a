/// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay
/// (PyTorch's `torch.optim.SGD` update):
///
///     g ← ∇ + λ·θ;  b ← μ·b + (1−τ)·g  (b ← g on the first step);  g ← g + μ·b (Nesterov) or b;  θ ← θ − lr·g
public final class SGD: Optimizer {
    public let parameters: [(name: String, parameter: Parameter)]
    public var learningRate: Double
    public let momentum: Double, dampening: Double, weightDecay: Double, nesterov: Bool
    private let slots = SlotStore()

    public init(_ parameters: [(name: String, parameter: Parameter)], learningRate: Double, momentum: Double = 0,
                dampening: Double = 0, weightDecay: Double = 0, nesterov: Bool = false) throws {
        for (name, value) in [("learning rate", learningRate), ("momentum", momentum), ("weight decay", weightDecay)] where value < 0 {
            throw OptimizerError.invalidHyperparameter(optimizer: "SGD", name: name, value: value)
        }
        if nesterov && (momentum <= 0 || dampening != 0) {
            throw OptimizerError.invalidHyperparameter(optimizer: "SGD", name: "nesterov momentum (needs momentum > 0 and no dampening)", value: momentum)
        }
        self.parameters = parameters
        (self.learningRate, self.momentum, self.dampening, self.weightDecay, self.nesterov) =
            (learningRate, momentum, dampening, weightDecay, nesterov)
    }

    public func step() throws {
        try Torch.noGrad {
            for (name, p) in parameters {
                guard var g = p.tensor.grad else { continue }
                if weightDecay != 0 { g = try g + p.tensor * weightDecay }
                if momentum != 0 {
                    let isNew = slots.slots["momentum_buffer." + name] == nil
                    let buffer = try slots.slot("momentum_buffer", for: name, like: p.tensor)
                    if isNew {
                        try buffer.copy_(g)
                    } else {
                        try buffer.mul_(momentum)
                        try buffer.add_(g, alpha: 1 - dampening)
                    }
                    g = nesterov ? try g + buffer * momentum : buffer
                }
                try p.tensor.add_(g, alpha: -learningRate)
            }
        }
    }

    public func state() throws -> [(name: String, tensor: Tensor)] { slots.named() }

    public func load(state: [String: Tensor]) throws {
        try slots.load(state, kinds: ["momentum_buffer"], parameters: parameters, optimizer: "SGD")
    }
}
