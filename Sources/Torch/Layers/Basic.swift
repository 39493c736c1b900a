/// Zeroes elements with probability `p` in training mode; identity in evaluation mode.
public final class Dropout: Module, UnaryLayer, @unchecked Sendable {
    public let p: Double
    public init(p: Double) throws {
        guard (0..<1).contains(p) else { throw TorchError.invalidArgument(op: "Dropout", message: "p must be in [0, 1), got \(p)") }
        self.p = p
    }
    public func callAsFunction(_ input: Tensor) throws -> Tensor { try input.dropout(p: p, training: isTraining) }
}

/// A parameter-free activation as a layer.
public final class Activation: Module, UnaryLayer, @unchecked Sendable {
    public enum Kind: Sendable, Equatable { case relu, leakyReLU(slope: Double), gelu, sigmoid, tanh, silu }
    public let kind: Kind
    public init(_ kind: Kind) { self.kind = kind }
    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        switch kind {
        case .relu: try input.relu()
        case let .leakyReLU(slope): try input.leakyReLU(slope: slope)
        case .gelu: try input.gelu()
        case .sigmoid: try input.sigmoid()
        case .tanh: try input.tanh()
        case .silu: try input.silu()
        }
    }
}

/// Applies layers in order; their parameters are named `layers.0.…`, `layers.1.…`.
public final class Sequential: Module, UnaryLayer, @unchecked Sendable {
    public let layers: [any UnaryLayer]
    public init(_ layers: [any UnaryLayer]) { self.layers = layers }
    public convenience init(_ layers: any UnaryLayer...) { self.init(layers) }
    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        try layers.reduce(input) { try $1($0) }
    }
}
