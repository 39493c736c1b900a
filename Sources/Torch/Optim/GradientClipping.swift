import CTorch

public enum GradientClipping {
    /// Scales all gradients together so their global L2 norm is at most `maxNorm`; returns the norm before clipping.
    @discardableResult
    public static func clipNorm(_ parameters: [Tensor], maxNorm: Double) throws -> Double {
        try globalNorm(parameters, clippingTo: maxNorm, operation: "clipNorm")
    }

    /// The global L2 norm of the parameters' gradients (parameters without one count as zero); changes nothing.
    public static func norm(_ parameters: [Tensor]) throws -> Double {
        try globalNorm(parameters, clippingTo: nil, operation: "gradient norm")
    }

    /// The shim's global gradient norm, scaling the gradients to at most `maxNorm` when one is given.
    private static func globalNorm(_ parameters: [Tensor], clippingTo maxNorm: Double?, operation: String) throws -> Double {
        guard !parameters.isEmpty else { return 0 }
        var handles = parameters.map { Optional($0.handle) }
        let total = ct_clip_grad_norm(&handles, Int32(parameters.count), maxNorm ?? 0, maxNorm == nil ? 0 : 1)
        if total < 0 { throw TorchError.last(operation, []) }
        return total
    }

    /// Clamps every gradient element to [-limit, limit].
    public static func clipValue(_ parameters: [Tensor], limit: Double) throws {
        try Torch.noGrad {
            for g in parameters.compactMap(\.grad) { try g.copy_(try g.clamp(min: -limit, max: limit)) }
        }
    }
}
