/// A first-order optimizer over named parameters.
///
/// State (momentum buffers, moment estimates, step counts) is held as named tensors so a checkpoint can store
/// it and `load(state:)` can restore it exactly.
public protocol Optimizer: AnyObject {
    /// The parameters, by dotted name, in a fixed order.
    var parameters: [(name: String, parameter: Parameter)] { get }
    /// The learning rate used by the next `step()`; schedules set it.
    var learningRate: Double { get set }
    /// Applies one update from the parameters' accumulated gradients (parameters without a gradient are skipped).
    func step() throws
    /// The optimizer's state by name.
    func state() throws -> [(name: String, tensor: Tensor)]
    /// Restores state written by `state()`.
    func load(state: [String: Tensor]) throws
}

extension Optimizer {
    public func zeroGrad() throws {
        for (_, p) in parameters { try p.tensor.zeroGrad() }
    }
}

public enum OptimizerError: Error, CustomStringConvertible, Equatable {
    case invalidHyperparameter(optimizer: String, name: String, value: Double)
    case stateMismatch(optimizer: String, name: String, message: String)

    public var description: String {
        switch self {
        case let .invalidHyperparameter(optimizer, name, value): "\(optimizer): invalid \(name) \(value)"
        case let .stateMismatch(optimizer, name, message): "\(optimizer) state \(name): \(message)"
        }
    }
}

/// Per-parameter state tensors kept by name (created lazily on the first step).
final class SlotStore {
    private(set) var slots: [String: Tensor] = [:]

    func slot(_ kind: String, for name: String, like tensor: Tensor) throws -> Tensor {
        let key = kind + "." + name
        if let existing = slots[key] { return existing }
        let created = try tensor.zerosLike()
        slots[key] = created
        return created
    }

    func named() -> [(name: String, tensor: Tensor)] { slots.keys.sorted().map { ($0, slots[$0]!) } }

    func load(_ state: [String: Tensor], kinds: [String], parameters: [(name: String, parameter: Parameter)], optimizer: String) throws {
        var restored: [String: Tensor] = [:]
        for kind in kinds {
            for (name, p) in parameters {
                let key = kind + "." + name
                guard let value = state[key] else { continue }
                guard value.shape == p.tensor.shape else {
                    throw OptimizerError.stateMismatch(optimizer: optimizer, name: key, message: "shape \(value.shape), parameter has \(p.tensor.shape)")
                }
                restored[key] = try value.to(p.tensor.dtype, device: p.tensor.device).clone()
            }
        }
        slots = restored
    }
}

/// Reads a scalar count stored as a one-element tensor.
func scalarState(_ state: [String: Tensor], _ key: String) throws -> Int {
    guard let t = state[key] else { return 0 }
    return Int(try t.item())
}
