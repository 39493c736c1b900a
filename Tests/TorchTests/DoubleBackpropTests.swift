import Testing
@testable import Torch

/// Gradients of gradients (`createGraph: true`), as attribution-constrained training needs.
struct DoubleBackpropTests {
    /// f(x) = Σx³: ∇f = 3x², and ∇ Σ(∇f)² = ∇ Σ 9x⁴ = 36x³.
    @Test func cubeClosedForm() throws {
        let values: [Double] = [-1.5, -0.5, 0.25, 2]
        let x = try doubles(values).requiringGrad()
        let f = try x.pow(3).sum()
        let grad = try #require(Torch.gradients(of: f, wrt: [x], createGraph: true).first)
        #expect(grad.requiresGrad)
        #expect(try allClose(grad, values.map { 3 * $0 * $0 }, rtol: 1e-12))
        let penalty = try grad.square().sum()
        let second = try #require(Torch.gradients(of: penalty, wrt: [x]).first)
        #expect(try allClose(second, values.map { 36 * $0 * $0 * $0 }, rtol: 1e-12))
    }

    /// Without `createGraph` the gradient is a constant: a second differentiation fails.
    @Test func gradientWithoutCreateGraphIsNotDifferentiable() throws {
        let x = try doubles([1, 2]).requiringGrad()
        let grad = try Torch.gradients(of: try x.pow(3).sum(), wrt: [x])[0]
        #expect(!grad.requiresGrad)
        #expect(throws: TorchError.self) { try Torch.gradients(of: try grad.sum(), wrt: [x]) }
    }

    /// The gradient of ‖∂L/∂x‖² with respect to the weights of a small conv net matches finite differences.
    @Test func inputGradientPenaltyThroughConvNet() throws {
        let x = try randomTensor([1, 1, 3, 3, 3], seed: 31)
        let w1 = try randomTensor([2, 1, 2, 2, 2], seed: 32), b1 = try randomTensor([2], seed: 33)
        let w2 = try randomTensor([1, 2, 2, 2, 2], seed: 34)
        let readout = try randomTensor([1, 1, 1, 1, 1], seed: 35, domain: .positive)
        try checkGradient(inputs: [w1, b1, w2]) { p in
            try Torch.withGrad {
                let input = try x.detached().requiringGrad()
                let hidden = try input.conv3d(p[0], bias: p[1], padding: 1).tanh()
                let logit = try hidden.conv3d(p[2]).softplus()
                let loss = try (logit * readout).sum()
                let inputGrad = try Torch.gradients(of: loss, wrt: [input], createGraph: true)[0]
                return try inputGrad.square().sum()
            }
        }
    }

    /// Mixed second derivative through a norm layer and a loss: ∂/∂w of Σ(∂L/∂x · v).
    @Test func hessianVectorProductThroughGroupNormAndCrossEntropy() throws {
        let x = try randomTensor([2, 4, 2, 1, 1], seed: 41)
        let v = try randomTensor([2, 4, 2, 1, 1], seed: 42)
        let w = try randomTensor([3, 4, 1, 1, 1], seed: 43)
        try checkGradient(inputs: [w]) { p in
            try Torch.withGrad {
                let input = try x.detached().requiringGrad()
                let logits = try input.groupNorm(groups: 2).conv3d(p[0])
                let loss = try Loss.crossEntropy(logits, longs([0, 2, 1, 1], shape: [2, 2, 1, 1]))
                let g = try Torch.gradients(of: loss, wrt: [input], createGraph: true)[0]
                return try (g * v).sum()
            }
        }
    }

    @Test func unusedInputsGetZeroGradients() throws {
        let x = try doubles([1, 2]).requiringGrad(), y = try doubles([3, 4, 5]).requiringGrad()
        let grads = try Torch.gradients(of: try x.square().sum(), wrt: [x, y])
        #expect(try grads[0].array(Double.self) == [2, 4])
        #expect(try grads[1].array(Double.self) == [0, 0, 0])
    }

    @Test func gradientsWithGradOutputsWeightsSeveralOutputs() throws {
        let x = try doubles([1, 2]).requiringGrad()
        let grads = try Torch.gradients(of: [try x * 3, try x.square()], wrt: [x], gradOutputs: [try doubles([1, 10]), try doubles([2, 1])])
        // 3·[1, 10] + 2x·[2, 1] = [3 + 4, 30 + 4]
        #expect(try grads[0].array(Double.self) == [7, 34])
        #expect(throws: TorchError.self) { try Torch.gradients(of: [x], wrt: [x], gradOutputs: []) }
    }

    @Test func backwardAccumulatesAndZeroGradClears() throws {
        let x = try doubles([1, -2]).requiringGrad()
        try x.square().sum().backward()
        try x.square().sum().backward()
        #expect(try x.grad?.array(Double.self) == [4, -8])
        try x.zeroGrad()
        #expect(x.grad == nil)
        // backward with createGraph gives a differentiable grad.
        try x.pow(3).sum().backward(createGraph: true)
        let g = try #require(x.grad)
        #expect(g.requiresGrad)
        #expect(try Torch.gradients(of: try g.sum(), wrt: [x])[0].array(Double.self) == [6, -12])
    }
}
