/// A trainable tensor owned by a module. The tensor keeps its identity for the module's whole life:
/// optimizers and checkpoint loading update it in place.
public final class Parameter: @unchecked Sendable {
    public let tensor: Tensor
    public init(_ tensor: Tensor) throws {
        self.tensor = try tensor.detached().requiringGrad()
    }
}

/// A non-trainable tensor that belongs to a module's state (running statistics).
public final class Buffer: @unchecked Sendable {
    public let tensor: Tensor
    public init(_ tensor: Tensor) { self.tensor = tensor }
}

/// The outcome of loading named tensors into a module.
public struct LoadReport: Equatable, Sendable {
    /// Names whose values were copied in.
    public var applied: [String] = []
    /// Names the module has but the source lacked.
    public var missing: [String] = []
    /// Names the source had but the module does not.
    public var unused: [String] = []
}

public enum ModuleError: Error, CustomStringConvertible, Equatable {
    case shapeMismatch(name: String, expected: [Int], found: [Int])
    case incomplete(LoadReport)

    public var description: String {
        switch self {
        case let .shapeMismatch(name, expected, found):
            return "parameter \(name): expected shape \(expected), found \(found)"
        case let .incomplete(report):
            var parts: [String] = []
            if !report.missing.isEmpty { parts.append("missing: " + report.missing.joined(separator: ", ")) }
            if !report.unused.isEmpty { parts.append("unused: " + report.unused.joined(separator: ", ")) }
            return "state does not match the module (" + parts.joined(separator: "; ") + ")"
        }
    }
}

/// A node in a tree of named parameters, buffers and child modules.
///
/// Subclasses declare their state as stored properties: `Parameter`, `Buffer`, `Module`, optionals of these,
/// and arrays of modules. Names come from the property names (`encoder.stages.0.conv.weight`), found by
/// reflection; there is nothing to register.
open class Module: @unchecked Sendable {
    public private(set) var isTraining = true

    public init() {}

    private enum Entry {
        case parameter(Parameter)
        case buffer(Buffer)
        case module(Module)
    }

    /// Direct entries in declaration order (superclass properties first).
    private func entries() -> [(String, Entry)] {
        var mirrors: [Mirror] = []
        var mirror: Mirror? = Mirror(reflecting: self)
        while let m = mirror {
            mirrors.append(m)
            mirror = m.superclassMirror
        }
        var result: [(String, Entry)] = []
        for m in mirrors.reversed() {
            for child in m.children {
                guard var label = child.label else { continue }
                if label.hasPrefix("_") { label.removeFirst() }
                collect(label, child.value, into: &result)
            }
        }
        return result
    }

    private func collect(_ name: String, _ value: Any, into result: inout [(String, Entry)]) {
        switch value {
        case let p as Parameter: result.append((name, .parameter(p)))
        case let b as Buffer: result.append((name, .buffer(b)))
        case let m as Module: result.append((name, .module(m)))
        case let list as [Any]:
            for (i, element) in list.enumerated() { collect("\(name).\(i)", element, into: &result) }
        default: break
        }
    }

    /// Child modules by name, in declaration order.
    public func namedChildren() -> [(name: String, module: Module)] {
        entries().compactMap { if case let .module(m) = $1 { return ($0, m) } else { return nil } }
    }

    /// Every module in the tree with its dotted path ("" for self), depth first.
    public func namedModules() -> [(name: String, module: Module)] {
        [("", self)] + namedChildren().flatMap { child in
            child.module.namedModules().map { (child.name + ($0.name.isEmpty ? "" : "." + $0.name), $0.module) }
        }
    }

    private func walk(prefix: String, _ visit: (String, Entry) -> Void) {
        for (name, entry) in entries() {
            let path = prefix.isEmpty ? name : prefix + "." + name
            if case let .module(m) = entry { m.walk(prefix: path, visit) } else { visit(path, entry) }
        }
    }

    /// Every parameter with its dotted name.
    public func namedParameters() -> [(name: String, parameter: Parameter)] {
        var result: [(String, Parameter)] = []
        walk(prefix: "") { if case let .parameter(p) = $1 { result.append(($0, p)) } }
        return result
    }

    public func parameters() -> [Tensor] { namedParameters().map(\.parameter.tensor) }

    public func namedBuffers() -> [(name: String, buffer: Buffer)] {
        var result: [(String, Buffer)] = []
        walk(prefix: "") { if case let .buffer(b) = $1 { result.append(($0, b)) } }
        return result
    }

    /// Parameters and buffers by dotted name: what a checkpoint stores.
    public func state() -> [(name: String, tensor: Tensor)] {
        var result: [(String, Tensor)] = []
        walk(prefix: "") { name, entry in
            switch entry {
            case let .parameter(p): result.append((name, p.tensor))
            case let .buffer(b): result.append((name, b.tensor))
            case .module: break
            }
        }
        return result
    }

    public var parameterCount: Int { parameters().reduce(0) { $0 + $1.count } }

    /// Copies values in by name. Shapes must match. With `strict`, any missing or unused name is an error and
    /// nothing is copied.
    @discardableResult
    public func load(_ values: [String: Tensor], strict: Bool = true) throws -> LoadReport {
        let own = state()
        var report = LoadReport()
        let ownNames = Set(own.map(\.name))
        report.missing = own.map(\.name).filter { values[$0] == nil }
        report.unused = values.keys.filter { !ownNames.contains($0) }.sorted()
        for (name, tensor) in own {
            if let value = values[name], value.shape != tensor.shape {
                throw ModuleError.shapeMismatch(name: name, expected: tensor.shape, found: value.shape)
            }
        }
        if strict, !report.missing.isEmpty || !report.unused.isEmpty { throw ModuleError.incomplete(report) }
        try Torch.noGrad {
            for (name, tensor) in own {
                guard let value = values[name] else { continue }
                try tensor.copy_(value)
                report.applied.append(name)
            }
        }
        return report
    }

    /// Switches this module and every descendant to training (or evaluation) mode.
    public func train(_ on: Bool = true) {
        for (_, m) in namedModules() { m.isTraining = on }
    }

    public func eval() { train(false) }

    /// Moves every parameter and buffer, in place (tensors keep their identity).
    public func move(to device: Device, dtype: DType? = nil) throws {
        try Torch.noGrad {
            for (_, tensor) in state() {
                let target = dtype.map { tensor.dtype.isFloatingPoint ? $0 : tensor.dtype } ?? tensor.dtype
                try tensor.setData(try tensor.to(target, device: device))
            }
        }
    }

    /// Lays every 5-D parameter and buffer (3-D convolution weights) out channels-last, as PyTorch's
    /// `module.to(memory_format=torch.channels_last_3d)` does: with channels-last input, convolutions then run without
    /// reordering their weights. Values are unchanged; checkpoints still store the usual (contiguous) layout.
    public func channelsLast3d() throws {
        try Torch.noGrad {
            for (_, tensor) in state() where tensor.rank == 5 { try tensor.setData(try tensor.channelsLast3d()) }
        }
    }

    /// Drops every parameter's accumulated gradient.
    public func zeroGrad() throws {
        for p in parameters() { try p.zeroGrad() }
    }
}

/// A module with one input and one output.
public protocol UnaryLayer: Module {
    func callAsFunction(_ input: Tensor) throws -> Tensor
}
