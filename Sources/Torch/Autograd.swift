import CTorch

extension Tensor {
    /// Whether autograd records operations on this tensor.
    public var requiresGrad: Bool {
        get { ct_requires_grad(handle) == 1 }
        set { _ = ct_set_requires_grad(handle, newValue ? 1 : 0); ct_clear_error() }
    }

    /// Sets `requiresGrad` and returns self, for chaining.
    @discardableResult
    public func requiringGrad(_ flag: Bool = true) throws -> Tensor {
        try status("requiresGrad", [self]) { ct_set_requires_grad(handle, flag ? 1 : 0) }
        return self
    }

    /// The gradient accumulated by `backward`, if any.
    public var grad: Tensor? {
        var defined: Int32 = 0
        guard let handle = ct_grad(handle, &defined), defined == 1 else { ct_clear_error(); return nil }
        return Tensor(handle: handle)
    }

    /// Replaces the accumulated gradient with `gradient` (shared, not copied), or drops it when nil.
    public func setGrad(_ gradient: Tensor?) throws {
        try status("setGrad", [self] + (gradient.map { [$0] } ?? [])) { ct_set_grad(handle, gradient?.handle) }
    }

    /// Drops the accumulated gradient.
    public func zeroGrad() throws { try status("zeroGrad", [self]) { ct_zero_grad(handle) } }

    /// Accumulates d(self)/d(leaf) into every leaf's `grad`. A non-scalar needs `gradient` (same shape).
    public func backward(gradient: Tensor? = nil, retainGraph: Bool = false, createGraph: Bool = false) throws {
        try status("backward", [self]) { ct_backward(handle, gradient?.handle, retainGraph ? 1 : 0, createGraph ? 1 : 0) }
    }
}

extension Torch {
    /// Gradients of Σᵢ sum(outputs[i] · gradOutputs[i]) with respect to each input (gradOutputs default to ones).
    /// With `createGraph` the result is itself differentiable (double backprop). Inputs the outputs do not
    /// depend on get zeros.
    public static func gradients(of outputs: [Tensor], wrt inputs: [Tensor], gradOutputs: [Tensor]? = nil,
                                 retainGraph: Bool = false, createGraph: Bool = false) throws -> [Tensor] {
        if let gradOutputs, gradOutputs.count != outputs.count {
            throw TorchError.invalidArgument(op: "gradients", message: "\(gradOutputs.count) output gradients for \(outputs.count) outputs")
        }
        var outs: [OpaquePointer?] = outputs.map(\.handle)
        var ins: [OpaquePointer?] = inputs.map(\.handle)
        var gos: [OpaquePointer?] = gradOutputs?.map(\.handle) ?? []
        var results = [OpaquePointer?](repeating: nil, count: inputs.count)
        try status("gradients", outputs + inputs) {
            gos.withUnsafeMutableBufferPointer { go in
                ct_gradients(&outs, Int32(outs.count), &ins, Int32(ins.count), go.isEmpty ? nil : go.baseAddress,
                             retainGraph ? 1 : 0, createGraph ? 1 : 0, 1, &results)
            }
        }
        return results.map { Tensor(handle: $0!) }
    }

    /// Gradient of one output with respect to inputs; see `gradients(of:wrt:...)`.
    public static func gradients(of output: Tensor, wrt inputs: [Tensor], retainGraph: Bool = false,
                                 createGraph: Bool = false) throws -> [Tensor] {
        try gradients(of: [output], wrt: inputs, retainGraph: retainGraph, createGraph: createGraph)
    }

    public static var isGradEnabled: Bool { ct_is_grad_enabled() == 1 }

    /// Runs `body` with autograd recording off, restoring the previous mode afterwards (also on throw).
    public static func noGrad<T>(_ body: () throws -> T) rethrows -> T {
        let previous = ct_set_grad_enabled(0)
        defer { _ = ct_set_grad_enabled(previous) }
        return try body()
    }

    /// Runs `body` with autograd recording on, restoring the previous mode afterwards.
    public static func withGrad<T>(_ body: () throws -> T) rethrows -> T {
        let previous = ct_set_grad_enabled(1)
        defer { _ = ct_set_grad_enabled(previous) }
        return try body()
    }
}
