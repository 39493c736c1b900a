import Foundation
import Testing
@testable import Rachis
import Torch

struct LocalizationLossTests {
    @Test func weightedMSEMatchesHand() throws {
        let prediction = try floats([9, 9, 9, 9, 0.5, 0, 0, 0], [2, 1, 1, 2, 2]).requiringGrad()
        let target = try floats([1, 0, 0, 0, 1, 0, 0, 0.5], [2, 1, 1, 2, 2])
        let loss = try LocalizationLoss(peakWeight: 2)(prediction: prediction, target: target, sampleMask: floats([0, 1], [2]))
        // Sample 1: w = 1 + 2t = [3, 1, 1, 2], (p − t)² = [0.25, 0, 0, 0.25] → (0.75 + 0.5) / 7.
        #expect(abs(try loss.value.item() - 1.25 / 7) < 1e-6)
        #expect(loss.count == 4)
        let g = try gradient(of: loss.value, wrt: prediction)
        #expect(g[0..<4].allSatisfy { $0 == 0 })
        // d/dp of w(p − t)²/Σw at voxel 4: 3·2·(−0.5)/7.
        #expect(abs(g[4] + 3.0 / 7) < 1e-6)
    }
}

struct IdentificationLossTests {
    @Test func maskedCrossEntropyMatchesHand() throws {
        let l = LevelIndex.count
        var values = Array(repeating: 0.0, count: 2 * l * 4)
        values[3 * 4 + 0] = 2  // sample 0, class 3, voxel 0
        let logits = try floats(values, [2, l, 1, 2, 2]).requiringGrad()
        // Voxel 1 of sample 0 is unknown and holds a value that is no class at all.
        let levels = try longs([3, 999, 0, 5, 1, 1, 1, 1], [2, 1, 2, 2])
        let known = try floats([1, 0, 1, 1, 1, 1, 1, 1], [2, 1, 2, 2])
        let loss = try IdentificationLoss()(logits: logits, target: levels, known: known, sampleMask: floats([1, 0], [2]))
        let L = Double(l)
        let expected = (log(exp(2) + L - 1) - 2 + 2 * log(L)) / 3
        #expect(loss.count == 3)
        #expect(abs(try loss.value.item() - expected) < 1e-5)
        let g = try gradient(of: loss.value, wrt: logits)
        let outside = indices(sample: 0, voxel: 1, classes: l, voxels: 4) + Array(l * 4..<2 * l * 4)
        #expect(outside.allSatisfy { g[$0] == 0 })
    }

    @Test func spinalRegionTermIsTheMeanCrossEntropyOfTheVertebrae() throws {
        // Vertebra 0: logits 0 everywhere, target thoracic: ln 5. Vertebra 1: logit 3 on lumbar, its target: ln(e³ + 4) − 3.
        let logits = try floats([0, 0, 0, 0, 0, 0, 0, 0, 3, 0], [2, 5]).requiringGrad()
        let loss = try IdentificationLoss().regions(logits: logits, targets: [1, 3])
        #expect(loss.count == 2)
        let expected = (log(5.0) + log(exp(3.0) + 4) - 3) / 2
        #expect(abs(try loss.value.item() - expected) < 1e-6)
        // d/dz of the mean: (softmax − onehot) / 2.
        let g = try gradient(of: loss.value, wrt: logits)
        #expect(abs(g[1] - (0.2 - 1) / 2) < 1e-6 && abs(g[8] - (exp(3.0) / (exp(3.0) + 4) - 1) / 2) < 1e-6)
        let none = try IdentificationLoss().regions(logits: Tensor.zeros([0, 5]), targets: [])
        #expect(none.count == 0)
        #expect(try none.value.item() == 0)
        #expect(throws: LossError.self) { try IdentificationLoss().regions(logits: Tensor.zeros([2, 3]), targets: [0, 1]) }
    }

    @Test func weightedSpinalRegionTermIsTheWeightedMeanCrossEntropy() throws {
        // The vertebrae above with weights 2 (thoracic) and 6 (lumbar): (2·ln 5 + 6·(ln(e³ + 4) − 3)) / 8.
        let logits = try floats([0, 0, 0, 0, 0, 0, 0, 0, 3, 0], [2, 5]).requiringGrad()
        let loss = try IdentificationLoss(regionWeights: [1, 2, 4, 6, 1]).regions(logits: logits, targets: [1, 3])
        #expect(loss.count == 2)
        let lumbar = log(exp(3.0) + 4) - 3
        #expect(abs(try loss.value.item() - (2 * log(5.0) + 6 * lumbar) / 8) < 1e-6)
        // d/dz: w_v (softmax − onehot) / Σw.
        let g = try gradient(of: loss.value, wrt: logits)
        #expect(abs(g[1] - 2 * (0.2 - 1) / 8) < 1e-6 && abs(g[8] - 6 * (exp(3.0) / (exp(3.0) + 4) - 1) / 8) < 1e-6)
        // Uniform weights give the unweighted mean.
        let uniform = try IdentificationLoss(regionWeights: [3, 3, 3, 3, 3]).regions(logits: logits, targets: [1, 3])
        #expect(abs(try uniform.value.item() - (log(5.0) + lumbar) / 2) < 1e-6)
    }
}

struct AutoencoderLossTests {
    @Test(arguments: [(AutoencoderLoss.Kind.l1, false, 1.5), (.mse, false, 3.5), (.l1, true, 1.5), (.mse, true, 2.5)])
    func matchesHand(kind: AutoencoderLoss.Kind, firstSampleOnly: Bool, expected: Double) throws {
        let image = try floats([1, -2, 3, 0], [2, 1, 1, 1, 2])
        let mask = firstSampleOnly ? try floats([1, 0], [2]) : nil
        let loss = try AutoencoderLoss(kind: kind)(reconstruction: Tensor.zeros([2, 1, 1, 1, 2]), image: image, sampleMask: mask)
        #expect(abs(try loss.value.item() - expected) < 1e-6)
        #expect(loss.count == (firstSampleOnly ? 1 : 2))
    }
}

struct ClassificationLossTests {
    func vertebra(_ sample: Int, _ c: Int?, soft: [Double]? = nil) -> VertebraTarget {
        VertebraTarget(sample: sample, levelID: 20, classIndex: c, softClass: soft, centroidVoxel: nil, hasRegion: true, isCut: false)
    }

    @Test func weightsAndSmoothingMatchHand() throws {
        // Softmax rows: [0.5, 0.5] and [0.75, 0.25]. The vertebra without a class has no logit row.
        let logits = try floats([0, 0, log(3), 0], [2, 2])
        let loss = try ClassificationLoss(classWeights: [1, 3], labelSmoothing: 0.1)(
            logits: logits, vertebrae: [vertebra(0, 1), vertebra(0, nil), vertebra(1, 0)])
        let l0 = log(2.0)
        let l1 = -(0.95 * log(0.75) + 0.05 * log(0.25))
        #expect(loss.count == 2)
        #expect(abs(try loss.value.item() - (3 * l0 + 1 * l1) / 4) < 1e-6)
    }

    @Test func softTargetsMatchHand() throws {
        let logits = try floats([log(3), 0], [1, 2])
        let loss = try ClassificationLoss(classWeights: [2, 4])(logits: logits, vertebrae: [vertebra(0, 1, soft: [0.25, 0.75])])
        #expect(abs(try loss.value.item() - -(0.25 * log(0.75) + 0.75 * log(0.25))) < 1e-6)
    }

    @Test func hardTargetsWithoutSmoothingEqualPyTorchWeightedCrossEntropy() throws {
        let logits = try floats([0.3, -1, 2, 0.1, 0.4, 0.5, -0.2, 0, 1.5], [3, 3])
        let weights = [0.5, 2, 1.0]
        let ours = try ClassificationLoss(classWeights: weights)(logits: logits, vertebrae: [vertebra(0, 2), vertebra(0, 0), vertebra(1, 1)])
        let torch = try Loss.crossEntropy(logits, longs([2, 0, 1], [3]), weight: floats(weights, [3]))
        #expect(abs(try ours.value.item() - torch.item()) < 1e-6)
    }

    @Test func balancedWeightsFromCounts() {
        // n / (K·n_c): 8 / (2·6), 8 / (2·2); 4 / (3·3), absent, 4 / (3·1).
        let twoClasses: [Double] = [8.0 / 12.0, 2.0]
        let threeClasses: [Double] = [4.0 / 9.0, 0.0, 4.0 / 3.0]
        #expect(ClassificationLoss.balancedWeights(counts: [6, 2]) == twoClasses)
        #expect(ClassificationLoss.balancedWeights(counts: [3, 0, 1]) == threeClasses)
    }

    @Test func noClassifiedVertebraGivesZero() throws {
        let logits = try Tensor.zeros([0, 2]).requiringGrad()
        let loss = try ClassificationLoss()(logits: logits, vertebrae: [vertebra(0, nil)])
        #expect(loss.count == 0)
        #expect(try loss.value.item() == 0)
    }

    @Test func rowCountMismatchIsAnError() throws {
        #expect(throws: LossError.countMismatch(loss: "classification", what: "logit rows", expected: 1, found: 2)) {
            try ClassificationLoss()(logits: Tensor.zeros([2, 2]), vertebrae: [vertebra(0, 1), vertebra(0, nil)])
        }
    }
}
