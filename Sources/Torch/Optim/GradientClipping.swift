public enum GradientClipping {
    /// Scales all gradients together so their global L2 norm is at most `maxNorm`; returns the norm before clipping.
    @discardableResult
    public static func clipNorm(_ parameters: [Tensor], maxNorm: Double) throws -> Double {
        let grads = parameters.compactMap(\.grad)
        guard !grads.isEmpty else { return 0 }
        let total = try Torch.noGrad {
            try grads.reduce(0.0) { $0 + (try $1.to(.float64).square().sum().item()) }.squareRoot()
        }
        let scale = maxNorm / (total + 1e-6)
        if scale < 1 {
            try Torch.noGrad { for g in grads { try g.mul_(scale) } }
        }
        return total
    }

    /// Clamps every gradient element to [-limit, limit].
    public static func clipValue(_ parameters: [Tensor], limit: Double) throws {
        try Torch.noGrad {
            for g in parameters.compactMap(\.grad) { try g.copy_(try g.clamp(min: -limit, max: limit)) }
        }
    }
}
