import Foundation
import Testing
@testable import Rachis
import Torch

struct DescriptorLossTests {
    /// Two samples `[2, D, H, W]` int64, three classes: sample 0 has a block of class 1 and one of class 2,
    /// sample 1 only a block of class 1.
    static func labels() throws -> (target: Tensor, shape: [Int]) {
        let shape = [6, 8, 8]
        var t = [Int](repeating: 0, count: 2 * shape.reduce(1, *))
        func index(_ n: Int, _ d: Int, _ h: Int, _ w: Int) -> Int { ((n * shape[0] + d) * shape[1] + h) * shape[2] + w }
        for d in 1..<4 { for h in 1..<5 { for w in 2..<6 { t[index(0, d, h, w)] = 1 } } }
        for d in 3..<5 { for h in 5..<7 { for w in 1..<4 { t[index(0, d, h, w)] = 2 } } }
        for d in 2..<5 { for h in 2..<7 { for w in 3..<7 { t[index(1, d, h, w)] = 1 } } }
        return (try Tensor(t.map(Int64.init), shape: [2] + shape), shape)
    }

    @Test func boundsFromLabelsAreSatisfiedByTheLabels() throws {
        let (target, _) = try Self.labels()
        let spacing = [2.0, 1.0, 1.0]
        let bounds = try DescriptorBounds.fromLabels(target, structures: 3, spacingMM: spacing,
                                                     tolerance: .init(relative: 0.1, centroidMM: 5))
        #expect(bounds.hasBounds(sample: 0) && bounds.hasBounds(sample: 1))
        // Sample 1 has no class 2: no bound there; background never.
        #expect(bounds.lower[bounds.index(1, 2, .sizeMM3)].isNaN && bounds.upper[bounds.index(0, 0, .sizeMM3)].isNaN)
        #expect(abs(bounds.lower[bounds.index(0, 1, .sizeMM3)] - 48 * 2 * 0.9) < 1e-9)
        #expect(abs(bounds.upper[bounds.index(0, 1, .sizeMM3)] - 48 * 2 * 1.1) < 1e-9)
        // A confident prediction of the labels: size, distance and surface sit at z = −0.1 on both sides
        // (ψ = −log 0.1 / t), the centroid at z = −1 (ψ = 0): the mean over the 12 sides is log 10 / (2t).
        let logits = try target.oneHot(classes: 3).permute([0, 4, 1, 2, 3]).to(.float64) * 40
        let loss = try DescriptorLoss(barrier: LogBarrier(t: 5))(logits: logits, bounds: bounds, spacingMM: spacing)
        #expect(loss.count == 2)
        let value = try loss.value.item()
        #expect(abs(value - log(10) / 10) < 1e-6, "\(value)")
    }

    @Test func violationsCostAndPushTheRightWay() throws {
        let (target, shape) = try Self.labels()
        let bounds = try DescriptorBounds.fromLabels(target, structures: 3, spacingMM: [1, 1, 1])
        // Predicts background almost everywhere: every size is far below its lower bound.
        var values = [Double](repeating: 0, count: 2 * 3 * shape.reduce(1, *))
        for i in 0..<(2 * shape.reduce(1, *)) { values[(i / shape.reduce(1, *)) * 3 * shape.reduce(1, *) + i % shape.reduce(1, *)] = 3 }
        let logits = try Tensor(values, shape: [2, 3] + shape).requiringGrad()
        let loss = try DescriptorLoss()(logits: logits, bounds: bounds, spacingMM: [1, 1, 1])
        #expect(try loss.value.item() > 1)
        let g = try gradient(of: loss.value, wrt: logits)
        // Descending the gradient raises class 1 inside its block of sample 0 (a voxel in the middle).
        let voxels = shape.reduce(1, *)
        let middle = (2 * shape[1] + 3) * shape[2] + 3
        let towardClass1 = g[voxels + middle]
        #expect(towardClass1 < 0, "\(towardClass1)")
        #expect(!g.contains { !$0.isFinite })
    }

    @Test func samplesWithoutBoundsOrMaskedOutDoNotCount() throws {
        let (target, shape) = try Self.labels()
        let logits = try Tensor.zeros([2, 3] + shape, dtype: .float64).requiringGrad()
        var bounds = DescriptorBounds(samples: 2, structures: 3)
        let none = try DescriptorLoss()(logits: logits, bounds: bounds, spacingMM: [1, 1, 1])
        let noneValue = try none.value.item()
        #expect(none.count == 0 && noneValue == 0)
        #expect(try gradient(of: none.value, wrt: logits).allSatisfy { $0 == 0 })
        // A hand-given bound on sample 1 only: class 1 fills at most 20 voxels (it predicts 1/3 of 384 = 128).
        bounds.set(sample: 1, structure: 1, .sizeMM3, lower: nil, upper: 20, scale: 20)
        let one = try DescriptorLoss(barrier: LogBarrier(t: 5))(logits: logits, bounds: bounds, spacingMM: [1, 1, 1])
        #expect(one.count == 1)
        let z = (Double(shape.reduce(1, *)) / 3 - 20) / 20
        #expect(abs(try one.value.item() - LogBarrier(t: 5).value(z)) < 1e-9)
        let masked = try DescriptorLoss()(logits: logits, bounds: bounds, spacingMM: [1, 1, 1], sampleMask: Tensor([1.0, 0], shape: [2]))
        #expect(masked.count == 0)
        #expect(throws: LossError.self) {
            try DescriptorLoss()(logits: logits, bounds: DescriptorBounds(samples: 1, structures: 3), spacingMM: [1, 1, 1])
        }
        _ = target
    }
}
