import Foundation
import Testing
@testable import Rachis
import Torch

/// `EntropyLoss` against a per-voxel computation in Swift, and the descriptor temperature against the closed-form
/// soft size of a uniform prediction.
struct EntropyLossTests {
    /// Two samples, 3 classes, 5 voxels ([1, 1, 5]); the field of view leaves out voxel 4 of sample 0.
    static let z: [Double] = [0.3, -1.2, 0.5, 2.0, 1.1, 0.0, -0.4, 0.7, -0.8, 0.9, 0.2, -1.5, 3.0, 0.6, -0.3,
                              0.1, 0.4, -0.6, 1.3, -0.2, 0.8, 0.0, -0.9, 1.0, -0.3, 0.6, 0.2, 0.0, -2.0, 0.5]
    static let fov: [Double] = [1, 1, 1, 1, 0, 1, 1, 1, 1, 1]

    /// Per sample Σ_v m_v·H_v / Σ m / log 3, with H_v = −Σ p log p, and the analytic gradient
    /// dℓ/dz_s,v = −p_s·(log p_s + H_v) · m_v / (Σ m · log 3), each divided by the number of samples kept.
    static func reference(keep: [Bool]) -> (value: Double, gradient: [Double]) {
        var value = 0.0, gradient = [Double](repeating: 0, count: 30)
        let kept = Double(keep.filter { $0 }.count)
        for n in 0..<2 where keep[n] {
            let m = (0..<5).map { fov[n * 5 + $0] }, total = m.reduce(0, +)
            for v in 0..<5 {
                let logits = (0..<3).map { z[(n * 3 + $0) * 5 + v] }
                let logSum = log(logits.map(exp).reduce(0, +))
                let logP = logits.map { $0 - logSum }
                let h = -logP.map { exp($0) * $0 }.reduce(0, +)
                value += m[v] * h / total / log(3) / kept
                for s in 0..<3 { gradient[(n * 3 + s) * 5 + v] = -exp(logP[s]) * (logP[s] + h) * m[v] / (total * log(3)) / kept }
            }
        }
        return (value, gradient)
    }

    @Test func entropyMatchesItsClosedFormAndGradient() throws {
        let logits = try Tensor(Self.z, shape: [2, 3, 1, 1, 5]).requiringGrad()
        let fieldOfView = try Tensor(Self.fov, shape: [2, 1, 1, 1, 5])
        for keep in [[true, true], [false, true]] {
            let loss = try EntropyLoss()(logits: logits, sampleMask: Tensor(keep.map { $0 ? 1.0 : 0 }, shape: [2]), fieldOfView: fieldOfView)
            let (value, expected) = Self.reference(keep: keep)
            #expect(loss.count == keep.filter { $0 }.count)
            #expect(abs(try loss.value.item() - value) < 1e-12)
            let g = try gradient(of: loss.value, wrt: logits)
            #expect(zip(g, expected).allSatisfy { abs($0 - $1) < 1e-12 }, "\(g) vs \(expected)")
        }
    }

    /// 1 for a uniform prediction, about 0 for a confident one, and nothing from samples left out.
    @Test func entropyRunsFromOneForUniformToZeroForOneHot() throws {
        let uniform = try EntropyLoss()(logits: Tensor.zeros([1, 4, 2, 2, 2], dtype: .float64), sampleMask: Tensor([1.0], shape: [1]))
        #expect(abs(try uniform.value.item() - 1) < 1e-12)
        let confident = try Tensor((0..<32).map { $0 < 8 ? 60.0 : 0 }, shape: [1, 4, 2, 2, 2])
        #expect(try EntropyLoss()(logits: confident, sampleMask: Tensor([1.0], shape: [1])).value.item() < 1e-20)
        let none = try EntropyLoss()(logits: confident, sampleMask: Tensor([0.0], shape: [1]))
        let noneValue = try none.value.item()
        #expect(none.count == 0 && noneValue == 0)
        #expect(throws: LossError.self) { try EntropyLoss()(logits: confident, sampleMask: Tensor([1.0, 1.0], shape: [2])) }
    }

    /// Class 1 leads nowhere but holds p = e^a / (e^a + 2) of every voxel, a thin spread whose soft size N·p meets
    /// the bound [0.9, 1.1]·N·p. With temperature τ the size is N·e^(a/τ) / (e^(a/τ) + 2): at τ = 0.25 it falls far
    /// below the bound, and the barrier's value is ψ_t of the closed-form violation.
    @Test func temperatureSharpensThinSpreadOutOfTheSoftSize() throws {
        let shape = [2, 4, 4], voxels = 32, a = -3.0
        var values = [Double](repeating: 0, count: 3 * voxels)
        for v in 0..<voxels { values[voxels + v] = a }
        let logits = try Tensor(values, shape: [1, 3] + shape)
        let spread = Double(voxels) * exp(a) / (exp(a) + 2)
        var bounds = DescriptorBounds(samples: 1, structures: 3)
        bounds.set(sample: 0, structure: 1, .sizeMM3, lower: 0.9 * spread, upper: 1.1 * spread, scale: spread)
        let barrier = LogBarrier(t: 5)
        let soft = try DescriptorLoss(barrier: barrier)(logits: logits, bounds: bounds, spacingMM: [1, 1, 1])
        #expect(abs(try soft.value.item() - barrier.value(-0.1)) < 1e-9)
        let tau = 0.25
        let sharp = Double(voxels) * exp(a / tau) / (exp(a / tau) + 2)
        let sharpened = try DescriptorLoss(barrier: barrier, temperature: tau)(logits: logits, bounds: bounds, spacingMM: [1, 1, 1])
        let expected = (barrier.value((0.9 * spread - sharp) / spread) + barrier.value((sharp - 1.1 * spread) / spread)) / 2
        #expect(abs(try sharpened.value.item() - expected) < 1e-9)
        // The lower side is violated by almost 0.9 of the bound's scale (the mean over the two sides halves it).
        #expect(try sharpened.value.item() > barrier.value(0.85) / 2)
    }
}
