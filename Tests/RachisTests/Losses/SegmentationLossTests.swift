import Foundation
import Testing
@testable import Rachis
import Torch

struct SegmentationLossTests {
    // N = 2, S = 3, D = 1, H = 2, W = 2. Sample 0 annotated at voxels 0-2; sample 1 not annotated for segmentation.
    let shape = [2, 3, 1, 2, 2]
    /// Voxel 3 of sample 0 is unknown and holds a value that is no class at all.
    let target = [0, 1, 2, 77, 2, 2, 0, 1]
    let known: [Double] = [1, 1, 1, 0, 1, 1, 1, 1]
    let sampleMask: [Double] = [1, 0]

    @Test func zeroLogitsMatchClosedForm() throws {
        let logits = try Tensor.zeros(shape)
        let loss = try SegmentationLoss(diceWeight: 0.5)(logits: logits, target: longs(target, [2, 1, 2, 2]),
                                                        known: floats(known, [2, 1, 2, 2]), sampleMask: floats(sampleMask, [2]))
        // CE = log 3 at each of the 3 annotated voxels. Dice, p = 1/3: class 1 and class 2 each have one target voxel,
        // Σp = 1, intersection 1/3 → 2·(1/3)/(1 + 1) = 1/3; Dice loss = 1 − 1/3.
        #expect(loss.count == 3)
        #expect(abs(try loss.value.item() - (0.5 * log(3) + 0.5 * 2 / 3)) < 1e-5)
    }

    @Test(arguments: [0.0, 0.5, 1.0])
    func randomLogitsMatchReference(diceWeight: Double) throws {
        var rng = SeedSequence(seed: 7)
        let values = (0..<24).map { _ in rng.uniform() * 4 - 2 }
        let logits = try floats(values, shape)
        let loss = try SegmentationLoss(diceWeight: diceWeight, smooth: 0)(
            logits: logits, target: longs(target, [2, 1, 2, 2]), known: floats(known, [2, 1, 2, 2]), sampleMask: floats(sampleMask, [2]))
        let annotated = [0, 1, 2]
        let ce = annotated.map { referenceCrossEntropy(logits: values, target: target, n: 2, classes: 3, voxels: 4, sample: 0, voxel: $0) }
            .reduce(0, +) / 3
        let p = annotated.map { v -> [Double] in
            let z = (0..<3).map { values[$0 * 4 + v] }
            let s = z.map(exp).reduce(0, +)
            return z.map { exp($0) / s }
        }
        let dice = [1, 2].map { c -> Double in
            let inter = annotated.indices.reduce(0.0) { $0 + (target[annotated[$1]] == c ? p[$1][c] : 0) }
            let sum = annotated.indices.reduce(0.0) { $0 + p[$1][c] + (target[annotated[$1]] == c ? 1 : 0) }
            return 2 * inter / sum
        }
        let expected = (1 - diceWeight) * ce + diceWeight * (1 - (dice[0] + dice[1]) / 2)
        #expect(abs(try loss.value.item() - expected) < 1e-5)
    }

    @Test func structureWeightsWeighEachVoxelByItsTargetClass() throws {
        var rng = SeedSequence(seed: 11)
        let values = (0..<24).map { _ in rng.uniform() * 4 - 2 }
        let w = [0.5, 2.0, 3.0]
        let loss = try SegmentationLoss(diceWeight: 0, classWeights: w)(
            logits: floats(values, shape), target: longs(target, [2, 1, 2, 2]), known: floats(known, [2, 1, 2, 2]), sampleMask: floats(sampleMask, [2]))
        // The mean over the 3 annotated voxels of w[target]·CE (not divided by Σ w: a batch's loss stays a mean per voxel).
        let expected = [0, 1, 2].map { w[target[$0]] * referenceCrossEntropy(logits: values, target: target, n: 2, classes: 3, voxels: 4, sample: 0, voxel: $0) }
            .reduce(0, +) / 3
        #expect(abs(try loss.value.item() - expected) < 1e-5)
    }

    @Test func weightedSoftTargetsEqualHardTargetsWhenOneHot() throws {
        var rng = SeedSequence(seed: 12)
        let values = (0..<24).map { _ in rng.uniform() * 4 - 2 }
        let w = [0.5, 2.0, 3.0]
        let hardTarget = target.map { $0 == 77 ? 0 : $0 }
        let oneHot = try longs(hardTarget, [2, 1, 2, 2]).oneHot(classes: 3).permute([0, 4, 1, 2, 3]).to(.float32)
        let args = (target: try longs(target, [2, 1, 2, 2]), known: try floats(known, [2, 1, 2, 2]), mask: try floats([1, 1], [2]))
        let hard = try SegmentationLoss(diceWeight: 0.5, classWeights: w)(logits: floats(values, shape), target: args.target, known: args.known, sampleMask: args.mask)
        let soft = try SegmentationLoss(diceWeight: 0.5, classWeights: w)(logits: floats(values, shape), target: args.target, known: args.known, sampleMask: args.mask,
                                                                         soft: oneHot, softSamples: floats([1, 1], [2]))
        #expect(abs(try hard.value.item() - soft.value.item()) < 1e-5)
    }

    @Test func balancedStructureWeightsMatchTheClosedForm() throws {
        // Shares 0.81, 0.09, 0.01, 0.09 → √: 0.9, 0.3, 0.1, 0.3 (Σ 1.6); w_c = (1/1.6)/√f_c.
        let w = try #require(SegmentationLoss.balancedWeights(counts: [81, 9, 1, 9, 0]))
        let roots: [Double] = [0.9, 0.3, 0.1, 0.3]
        let expected: [Double] = roots.map { (1.0 / 1.6) / $0 }
        for (a, b) in zip(w.prefix(4), expected) { #expect(abs(a - b) < 1e-12) }
        // The mean weight over the counted voxels is 1; an absent class gets the largest weight.
        let counts: [Double] = [81, 9, 1, 9]
        var mean = 0.0
        for (n, weight) in zip(counts, w) { mean += n * weight / 100 }
        #expect(abs(mean - 1) < 1e-12)
        #expect(w[4] == w.max())
        #expect(SegmentationLoss.balancedWeights(counts: [0, 0]) == nil)
    }

    @Test func structureWeightsOfTheWrongLengthAreRefused() throws {
        #expect(throws: LossError.countMismatch(loss: "segmentation", what: "structure weights", expected: 3, found: 2)) {
            try SegmentationLoss(classWeights: [1, 2])(logits: Tensor.zeros(shape), target: longs(target, [2, 1, 2, 2]),
                                                       known: floats(known, [2, 1, 2, 2]), sampleMask: floats(sampleMask, [2]))
        }
        var config = LossConfig()
        config.structureWeights = .explicit([1, 2])
        #expect(throws: LossConfig.Error.self) { try config.validate() }
    }

    @Test func gradientIsZeroOutsideTheAnnotation() throws {
        var rng = SeedSequence(seed: 3)
        let logits = try floats((0..<24).map { _ in rng.uniform() }, shape).requiringGrad()
        let loss = try SegmentationLoss()(logits: logits, target: longs(target, [2, 1, 2, 2]),
                                          known: floats(known, [2, 1, 2, 2]), sampleMask: floats(sampleMask, [2]))
        let g = try gradient(of: loss.value, wrt: logits)
        let outside = indices(sample: 0, voxel: 3, classes: 3, voxels: 4) + (12..<24)
        #expect(outside.allSatisfy { g[$0] == 0 })
        #expect((0..<3).flatMap { indices(sample: 0, voxel: $0, classes: 3, voxels: 4) }.contains { g[$0] != 0 })
    }

    @Test func nothingAnnotatedGivesZeroWithZeroGradient() throws {
        let logits = try Torch.exclusiveRandomness { try Tensor.randn(shape) }.requiringGrad()
        let loss = try SegmentationLoss()(logits: logits, target: longs(target, [2, 1, 2, 2]),
                                          known: Tensor.zeros([2, 1, 2, 2]), sampleMask: floats(sampleMask, [2]))
        #expect(loss.count == 0)
        #expect(try loss.value.item() == 0)
        #expect(try gradient(of: loss.value, wrt: logits).allSatisfy { $0 == 0 })
    }

    @Test func shapeMismatchNamesTheTensor() throws {
        #expect(throws: LossError.shapeMismatch(loss: "segmentation", tensor: "known mask", expected: [2, 1, 2, 2], found: [2, 4])) {
            try SegmentationLoss()(logits: Tensor.zeros(shape), target: longs(target, [2, 1, 2, 2]),
                                   known: Tensor.zeros([2, 4]), sampleMask: floats(sampleMask, [2]))
        }
    }
}

/// SplitMix64 for test inputs (libtorch's generator is process-wide and tests run in parallel).
struct SeedSequence {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func uniform() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
    }
}
