import Foundation
import Testing
@testable import Rachis
import Torch

struct TaskWeightingTests {
    func constant(_ value: Double, count: Int) throws -> MaskedLoss { MaskedLoss(value: try Tensor(scalar: value), count: count) }

    @Test func fixedWeightsMultiply() throws {
        var weights = LossConfig.TaskWeights()
        weights.segmentation = 0.5
        weights.classification = 2
        let (total, terms) = try TaskWeighting(mode: .fixed, weights: weights)
            .combine([.segmentation: constant(4, count: 10), .classification: constant(1.5, count: 3)])
        #expect(try total!.item() == 0.5 * 4 + 2 * 1.5)
        #expect(terms[.classification] == TaskTerm(value: 1.5, weight: 2, count: 3))
    }

    @Test(arguments: [-1.0, 0.0, 0.3, 2.0])
    func uncertaintyMatchesClosedFormAndGradient(s: Double) throws {
        let weighting = try TaskWeighting(mode: .uncertainty)
        let sSeg = weighting.logVariance(.segmentation)!.tensor
        try Torch.noGrad { try sSeg.fill_(s) }
        let sCls = weighting.logVariance(.classification)!.tensor
        let (total, terms) = try weighting.combine([.segmentation: constant(2.5, count: 7), .classification: constant(9, count: 0)])
        // Only segmentation counts: exp(−s)·L + s; classification has count 0 and adds neither term.
        #expect(abs(try total!.item() - (exp(-s) * 2.5 + s)) < 1e-5)
        let grads = try Torch.gradients(of: total!, wrt: [sSeg, sCls])
        #expect(abs(try grads[0].item() - (-exp(-s) * 2.5 + 1)) < 1e-5)
        #expect(try grads[1].item() == 0)
        #expect(abs(terms[.segmentation]!.weight - exp(-s)) < 1e-6)
        #expect(terms[.classification]!.count == 0)
    }

    @Test func learnedLogVariancesAreNamedParameters() throws {
        var weights = LossConfig.TaskWeights()
        weights.autoencoder = 0
        let names = try TaskWeighting(mode: .uncertainty, weights: weights).namedParameters().map(\.name)
        #expect(names == ["localization", "identification", "classification", "segmentation"])
        #expect(try TaskWeighting(mode: .fixed).namedParameters().isEmpty)
    }
}

struct MultitaskLossTests {
    /// N = 2, one channel, 1×2×2 volumes, 2 classes.
    func batch(annotated: Bool) throws -> Batch {
        let known = annotated ? try Tensor.ones([2, 1, 2, 2]) : try Tensor.zeros([2, 1, 2, 2])
        let mask = annotated ? try floats([1, 1], [2]) : try Tensor.zeros([2])
        let classes: [Int?] = annotated ? [1, 0] : [nil, nil]
        return Batch(subjectIDs: ["a", "b"], cropOffsets: [[0, 0, 0], [0, 0, 0]], spacingMM: [[3, 1, 1], [3, 1, 1]],
                     image: try floats([1, 2, 3, 4, 5, 6, 7, 8], [2, 1, 1, 2, 2]), levels: try longs([0, 20, 20, 0, 1, 1, 0, 0], [2, 1, 2, 2]),
                     levelsKnown: known, structures: try longs([0, 1, 1, 0, 2, 2, 0, 0], [2, 1, 2, 2]), structuresKnown: known,
                     heatmap: try floats([0, 1, 0.5, 0, 0, 0, 1, 0], [2, 1, 1, 2, 2]),
                     taskMask: Dictionary(uniqueKeysWithValues: [LearningTask.segmentation, .localization, .identification, .classification]
                                            .map { ($0, mask) }),
                     vertebrae: classes.enumerated().map { VertebraTarget(sample: $0.offset, levelID: 20, classIndex: $0.element,
                                                                          centroidVoxel: nil, hasRegion: true, isCut: false) })
    }

    func output(reconstruction: Bool) throws -> (ModelOutput, [Tensor]) {
        let seg = try Torch.exclusiveRandomness { try Tensor.randn([2, 6, 1, 2, 2]) }.requiringGrad()
        let heat = try Torch.exclusiveRandomness { try Tensor.randn([2, 1, 1, 2, 2]) }.requiringGrad()
        let levels = try Torch.exclusiveRandomness { try Tensor.randn([2, LevelIndex.count, 1, 2, 2]) }.requiringGrad()
        return (ModelOutput(features: try Tensor.zeros([2, 4, 1, 2, 2]), segmentation: seg, heatmap: heat, levels: levels,
                            reconstruction: reconstruction ? try Tensor.zeros([2, 1, 1, 2, 2]).requiringGrad() : nil), [seg, heat, levels])
    }

    @Test func allUnannotatedBatchGivesZeroWithoutNaN() throws {
        let loss = try MultitaskLoss(config: LossConfig(), classCounts: [3, 1])
        let (out, heads) = try output(reconstruction: false)
        let logits = try Tensor.zeros([0, 2]).requiringGrad()
        let result = try loss(output: out, classLogits: logits, batch: batch(annotated: false))
        #expect(try result.total.item() == 0)
        #expect(Set(result.tasks.keys) == [.segmentation, .localization, .identification, .classification])
        #expect(result.tasks.values.allSatisfy { $0.count == 0 && $0.value == 0 })
        for g in try Torch.gradients(of: result.total, wrt: heads) {
            #expect(try g.to(.float64).array(Double.self).allSatisfy { $0 == 0 })
        }
    }

    @Test func totalIsTheWeightedSumOfTheTaskLosses() throws {
        var config = LossConfig()
        config.weights.localization = 3
        config.classWeights = .explicit([1, 1])
        config.labelSmoothing = 0
        let loss = try MultitaskLoss(config: config, classCounts: [3, 1])
        let (out, _) = try output(reconstruction: true)
        let logits = try floats([0, 0, log(3), 0], [2, 2])
        let b = try batch(annotated: true)
        let result = try loss(output: out, classLogits: logits, batch: b)
        #expect(result.tasks.count == 5)
        #expect(result.tasks[.autoencoding] == TaskTerm(value: 4.5, weight: 1, count: 2))
        #expect(abs(result.tasks[.classification]!.value - (log(2) - log(0.75)) / 2) < 1e-6)
        let expected = result.tasks.values.reduce(0) { $0 + $1.value * $1.weight }
        #expect(abs(try result.total.item() - expected) < 1e-4)
        let heat = try LocalizationLoss(peakWeight: 10)(prediction: out.heatmap!, target: b.heatmap, sampleMask: Tensor.ones([2]))
        #expect(abs(result.tasks[.localization]!.value - (try heat.value.item())) < 1e-6)
        #expect(result.tasks[.localization]!.weight == 3)
    }

    @Test func switchedOffHeadsContributeNothing() throws {
        let loss = try MultitaskLoss(config: LossConfig(), classCounts: [1, 1])
        let out = ModelOutput(features: try Tensor.zeros([2, 4, 1, 2, 2]), segmentation: nil, heatmap: nil, levels: nil,
                              reconstruction: try Tensor.zeros([2, 1, 1, 2, 2]))
        let result = try loss(output: out, classLogits: nil, batch: batch(annotated: true))
        #expect(Array(result.tasks.keys) == [.autoencoding])
        #expect(abs(try result.total.item() - 4.5) < 1e-6)
    }

    @Test func balancedRegionWeightsFollowTheInverseSquareRootOfEachRegionsShare() throws {
        var config = LossConfig()
        #expect(try MultitaskLoss(config: config, classCounts: [1, 1], regionCounts: [0, 100, 1, 100, 4]).identification.regionWeights == nil)
        config.regionWeights = .balanced
        let counts = [0, 100, 1, 100, 4]
        let weights = try #require(try MultitaskLoss(config: config, classCounts: [1, 1], regionCounts: counts).identification.regionWeights)
        // w ∝ 1/√share, mean 1 over the counted vertebrae; a region with none gets the largest weight.
        let k = 1 / (2 * (100.0 / 205).squareRoot() + (1.0 / 205).squareRoot() + (4.0 / 205).squareRoot())
        let expected = [0, 100.0, 1, 100, 4].map { $0 > 0 ? k / ($0 / 205).squareRoot() : k / (1.0 / 205).squareRoot() }
        #expect(zip(weights, expected).allSatisfy { abs($0 - $1) < 1e-9 })
        #expect(abs(zip(weights, counts).reduce(0) { $0 + $1.0 * Double($1.1) } / 205 - 1) < 1e-9)
        #expect(try MultitaskLoss(config: config, classCounts: [1, 1]).identification.regionWeights == nil)
    }

    @Test func explicitClassWeightsMustMatchTheClassCount() throws {
        var config = LossConfig()
        config.classWeights = .explicit([1, 2, 3])
        #expect(throws: LossConfig.Error.self) { try MultitaskLoss(config: config, classCounts: [5, 5]) }
    }
}

struct LossConfigTests {
    @Test func missingKeysTakeDefaults() throws {
        let json = #"{"weighting": "uncertainty", "weights": {"classification": 2}, "classWeights": [1, 3]}"#
        let config = try ConfigDecoding.decode(LossConfig.self, from: JSONValue.parse(Data(json.utf8), source: "test"), source: "loss")
        #expect(config.weighting == .uncertainty)
        #expect(config.weights.classification == 2 && config.weights.segmentation == 1)
        #expect(config.classWeights == .explicit([1, 3]))
        #expect(config.heatmapSigmaMM == 6 && config.labelSmoothing == 0.05 && config.autoencoderLoss == .l1)
        #expect(LossConfig().classWeights == .balanced)
    }

    @Test(arguments: [#"{"classWeights": "even"}"#, #"{"autoencoderLoss": "huber"}"#, #"{"weighting": "learned"}"#])
    func unknownValuesAreRejected(json: String) throws {
        #expect(throws: ConfigDecoding.Error.self) {
            try ConfigDecoding.decode(LossConfig.self, from: JSONValue.parse(Data(json.utf8), source: "test"), source: "loss")
        }
    }

    @Test(arguments: [("diceWeight", 1.5), ("labelSmoothing", 1.0), ("heatmapSigmaMM", 0.0), ("weights.identification", -1.0)])
    func outOfRangeValuesNameTheKey(key: String, value: Double) throws {
        var config = LossConfig()
        switch key {
        case "diceWeight": config.diceWeight = value
        case "labelSmoothing": config.labelSmoothing = value
        case "heatmapSigmaMM": config.heatmapSigmaMM = value
        default: config.weights.identification = value
        }
        #expect(throws: LossConfig.Error.self) { try config.validate() }
        do { try config.validate() } catch { #expect(error.key == key) }
    }
}
