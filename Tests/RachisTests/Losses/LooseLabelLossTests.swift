import Foundation
import Testing
@testable import Rachis
import Torch

/// The loose-label terms as the training loss uses them: soft-target segmentation, cut boxes, the barrier
/// schedule, and the descriptor and box terms inside `MultitaskLoss`.
struct LooseLabelLossTests {
    /// Two samples, 3 classes, 4 voxels ([1, 1, 4]); sample 1 has soft targets q, sample 0 hard targets.
    static func case1() throws -> (logits: Tensor, target: Tensor, known: Tensor, q: [Double], soft: Tensor, softSamples: Tensor) {
        let z: [Double] = [0.3, -1.2, 0.5, 2.0, 1.1, 0.0, -0.4, 0.7, -0.8, 0.9, 0.2, -1.5,
                           0.1, 0.4, -0.6, 1.3, -0.2, 0.8, 0.0, -0.9, 1.0, -0.3, 0.6, 0.2]
        let q: [Double] = [0.2, 0.5, 0.0, 1.0, 0.7, 0.25, 0.6, 0.0, 0.1, 0.25, 0.4, 0.0]
        var soft = [Double](repeating: 0, count: 24)
        for i in 0..<12 { soft[12 + i] = q[i] }
        return (try Tensor(z, shape: [2, 3, 1, 1, 4]).requiringGrad(), try longs([0, 2, 1, 0, 1, 1, 1, 1], [2, 1, 1, 4]),
                try floats([1, 1, 0, 1, 1, 1, 1, 0], [2, 1, 1, 4]), q,
                try Tensor(soft, shape: [2, 3, 1, 1, 4]), try floats([0, 1], [2]))
    }

    /// Deterministic float64 values in about [−2, 2].
    static func waves(_ shape: [Int], phase: Double) throws -> Tensor {
        let values: [Double] = (0..<shape.reduce(1, *)).map { (i: Int) -> Double in
            let x = Double(i)
            return 2 * sin(x * 0.73 + phase) * cos(x * 0.19)
        }
        return try Tensor(values, shape: shape)
    }

    /// Cross-entropy only: value (1/|M|)·Σ_{v ∈ M} −Σ_c q_c log p_c, gradient (p − q)/|M| on M, 0 elsewhere.
    @Test func softCrossEntropyMatchesItsClosedFormAndGradient() throws {
        let c = try Self.case1()
        let loss = try SegmentationLoss(diceWeight: 0)(logits: c.logits, target: c.target, known: c.known,
                                                       sampleMask: floats([1, 1], [2]), soft: c.soft, softSamples: c.softSamples)
        let z = try c.logits.array(Double.self), targets = [0, 2, 1, 0, 1, 1, 1, 1], known = [1.0, 1, 0, 1, 1, 1, 1, 0]
        var expected = 0.0, expectedGradient = [Double](repeating: 0, count: 24)
        let m = known.reduce(0, +)
        for n in 0..<2 {
            for v in 0..<4 where known[n * 4 + v] > 0 {
                let logits = (0..<3).map { z[(n * 3 + $0) * 4 + v] }
                let logSum = log(logits.map(exp).reduce(0, +))
                for k in 0..<3 {
                    let qk = n == 1 ? c.q[k * 4 + v] : (targets[n * 4 + v] == k ? 1 : 0)
                    expected += -qk * (logits[k] - logSum) / m
                    expectedGradient[(n * 3 + k) * 4 + v] = (exp(logits[k] - logSum) - qk) / m
                }
            }
        }
        #expect(abs(try loss.value.item() - expected) < 1e-12)
        #expect(loss.count == 6)
        let g = try gradient(of: loss.value, wrt: c.logits)
        #expect(zip(g, expectedGradient).allSatisfy { abs($0 - $1) < 1e-12 }, "\(g) vs \(expectedGradient)")
    }

    /// A one-hot soft target is the hard target: same value, cross-entropy and Dice.
    @Test func oneHotSoftTargetsEqualHardTargets() throws {
        let c = try Self.case1()
        let oneHot = try c.target.oneHot(classes: 3).permute([0, 4, 1, 2, 3]).to(.float64)
        let hard = try SegmentationLoss(diceWeight: 0.5)(logits: c.logits, target: c.target, known: c.known, sampleMask: floats([1, 1], [2]))
        let soft = try SegmentationLoss(diceWeight: 0.5)(logits: c.logits, target: c.target, known: c.known, sampleMask: floats([1, 1], [2]),
                                                         soft: oneHot, softSamples: floats([1, 1], [2]))
        #expect(abs(try hard.value.item() - soft.value.item()) < 1e-12)
    }

    @Test func barrierScheduleGrowsGeometrically() {
        var schedule = LossConfig.BarrierSchedule()
        (schedule.t0, schedule.tGrowth) = (2, 1.5)
        #expect(schedule.t(epoch: 0) == 2)
        #expect(abs(schedule.t(epoch: 3) - 2 * 1.5 * 1.5 * 1.5) < 1e-12)
    }

    /// A cut box gets no tightness term: its loss is the loss with the tightness prior switched off, and a box that
    /// is not cut costs the tightness term on top. `known` restricts the outside term.
    @Test func cutBoxesSkipTightnessAndKnownMasksTheOutside() throws {
        let map = try BoxLossTests.boxMap()
        let logits = try Self.waves([1, 3] + BoxLossTests.shape, phase: 4)
        let loss = BoxLoss(classes: [1, 2], tightnessWeight: 0.5)
        let cut = try loss(logits: logits, boxes: map, cut: [BoxLoss.BoxKey(sample: 0, id: 7)]).value.item()
        let whole = try loss(logits: logits, boxes: map).value.item()
        var loose = loss
        loose.tightnessWeight = 0
        #expect(abs(cut - (try loose(logits: logits, boxes: map).value.item())) < 1e-12)
        #expect(whole != cut)
        // Outside term over the first two D slices only: −log(1 − p_C) averaged there.
        var known = [Double](repeating: 0, count: BoxLossTests.shape.reduce(1, *))
        for i in 0..<(2 * 36) { known[i] = 1 }
        loose.sizeWeight = 0
        let masked = try loose(logits: logits, boxes: map, known: Tensor(known, shape: [1] + BoxLossTests.shape)).value.item()
        let p = try logits.softmax(dim: 1).array(Double.self), ids = try map.array(Int64.self)
        var sum = 0.0, count = 0.0
        for i in 0..<(2 * 36) where ids[i] == 0 {
            sum += -log(p[i])
            count += 1
        }
        #expect(abs(masked - sum / count) < 1e-12)
    }

    /// The descriptor and box terms enter the total with their weights and are reported under their names; with
    /// their weights at 0 they are not computed at all.
    @Test func multitaskLossAddsTheLooseTermsWithTheirWeights() throws {
        let shape = [4, 6, 6], voxels = shape.reduce(1, *)
        let logits = try Self.waves([2, 6] + shape, phase: 9)
        var structures = [Int64](repeating: 0, count: 2 * voxels)
        for d in 1..<3 { for h in 1..<4 { for w in 2..<5 { structures[(d * 6 + h) * 6 + w] = 1 } } }
        let target = try Tensor(structures, shape: [2] + shape)
        var batch = Batch(subjectIDs: ["a", "b"], cropOffsets: [[0, 0, 0], [0, 0, 0]], spacingMM: [[2, 1, 1], [2, 1, 1]],
                          image: try Tensor.zeros([2, 1] + shape), levels: try Tensor.zeros([2] + shape, dtype: .int64),
                          levelsKnown: try Tensor.zeros([2] + shape), structures: target, structuresKnown: try Tensor.ones([2] + shape),
                          heatmap: try Tensor.zeros([2, 1] + shape), taskMask: [.segmentation: try floats([1, 0], [2])], vertebrae: [])
        batch.descriptorBounds = try DescriptorBounds.fromLabels(target, structures: 6, spacingMM: [2, 1, 1], samples: [true, false])
        batch.boxes = try longs(structures.enumerated().map { $0 < voxels ? 0 : Int($1) * 3 }, [2] + shape)
        batch.boxSamples = try floats([0, 1], [2])
        let output = ModelOutput(features: logits, segmentation: logits, heatmap: nil, levels: nil, reconstruction: nil)
        var config = LossConfig()
        let plain = try MultitaskLoss(config: config, classCounts: [1, 1, 1])(output: output, classLogits: nil, batch: batch)
        #expect(plain.extra.isEmpty)
        (config.descriptors.weight, config.descriptors.barrier.t0, config.boxes.weight) = (0.3, 7, 2)
        (config.descriptors.entropyWeight, config.descriptors.temperature) = (0, 1)
        let loss = try MultitaskLoss(config: config, classCounts: [1, 1, 1])
        loss.epoch = 2
        let full = try loss(output: output, classLogits: nil, batch: batch)
        let descriptor = try DescriptorLoss(barrier: LogBarrier(t: 7 * 1.1 * 1.1))(logits: logits, bounds: batch.descriptorBounds!, spacingMM: [2, 1, 1])
        let box = try BoxLoss(classes: [1, 4, 5], barrier: LogBarrier(t: 5 * 1.1 * 1.1))(logits: logits, boxes: batch.boxes!, sampleMask: batch.boxSamples)
        #expect(full.extra["descriptors"]?.count == 1 && full.extra["boxes"]?.count == 1)
        #expect(abs(full.extra["descriptors"]!.value - (try descriptor.value.item())) < 1e-9)
        #expect(abs(full.extra["boxes"]!.value - (try box.value.item())) < 1e-9)
        let expected = try plain.total.item() + 0.3 * descriptor.value.item() + 2 * box.value.item()
        #expect(abs(try full.total.item() - expected) < 1e-9)
        #expect(full.extra["entropy"] == nil)
        // The entropy term covers the samples with descriptor bounds (sample 0), the temperature the descriptors.
        (config.descriptors.entropyWeight, config.descriptors.temperature) = (0.4, 0.5)
        let sharpened = try MultitaskLoss(config: config, classCounts: [1, 1, 1])
        sharpened.epoch = 2
        let withEntropy = try sharpened(output: output, classLogits: nil, batch: batch)
        let entropy = try EntropyLoss()(logits: logits, sampleMask: floats([1, 0], [2]))
        let cooled = try DescriptorLoss(barrier: LogBarrier(t: 7 * 1.1 * 1.1), temperature: 0.5)(logits: logits, bounds: batch.descriptorBounds!, spacingMM: [2, 1, 1])
        #expect(withEntropy.extra["entropy"]?.count == 1)
        #expect(abs(withEntropy.extra["entropy"]!.value - (try entropy.value.item())) < 1e-6)
        #expect(abs(withEntropy.extra["descriptors"]!.value - (try cooled.value.item())) < 1e-9)
        #expect(abs(withEntropy.extra["descriptors"]!.value - full.extra["descriptors"]!.value) > 1e-6)
        let expectedWithEntropy = try plain.total.item() + 0.3 * cooled.value.item() + 2 * box.value.item() + 0.4 * entropy.value.item()
        #expect(abs(try withEntropy.total.item() - expectedWithEntropy) < 1e-6)
    }

    @Test(arguments: ["descriptors.relativeTolerance=1", "descriptors.structures=[0, 1]", "descriptors.barrier.tGrowth=0.9",
                      "boxes.fill=[0.9, 0.2]", "boxes.classes=[6]", "descriptors.kinds=[]",
                      "descriptors.entropyWeight=-1", "descriptors.temperature=0"])
    func invalidLooseLabelKeysNameTheKey(setting: String) throws {
        let key = String(setting.split(separator: "=")[0])
        #expect { try TrainingConfig.load(nil, overrides: ["loss." + setting]) } throws: { error in
            "\(error)".contains("loss." + key)
        }
    }
}
