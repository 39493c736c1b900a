import Foundation
import Testing
import Torch
@testable import Rachis

struct AttributionMethodTests {
    static let shape = [1, 2, 2, 3, 4]

    /// x and w with fixed values, and the linear score F(x) = Σ w ⊙ x per sample.
    static func linear() throws -> (x: Tensor, w: Tensor, target: AttributionTarget, xs: [Float], ws: [Float]) {
        let n = shape.reduce(1, *)
        let xs = (0..<n).map { Float(sin(Double($0) * 1.3) * 2) }
        let ws = (0..<n).map { Float(cos(Double($0) * 0.7)) }
        let x = try Tensor(xs, shape: shape), w = try Tensor(ws, shape: shape)
        return (x, w, AttributionTarget(score: { try ($0 * w).sum(dims: [1, 2, 3, 4]) }), xs, ws)
    }

    func attribute(_ method: AttributionMethod, _ target: AttributionTarget, _ x: Tensor, configure: (inout AttributionSettings) -> Void = { _ in }) throws -> [Float] {
        var settings = AttributionSettings()
        settings.method = method
        configure(&settings)
        let map = try Attributor(settings: settings).attribute(target, input: x)
        // One map per channel (Grad-CAM: one for all), without the batch axis.
        #expect(map.shape == (method == .gradCAM ? [1] : [x.shape[1]]) + Array(x.shape[2...]), "\(method)")
        return try map.array(Float.self)
    }

    func close(_ a: [Float], _ b: [Float], _ tolerance: Float = 1e-5) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) }
    }

    @Test func aLinearModelsGradientIsItsWeights() throws {
        let (x, _, target, xs, ws) = try Self.linear()
        #expect(close(try attribute(.saliency, target, x), ws))
        #expect(close(try attribute(.gradientTimesInput, target, x), zip(xs, ws).map(*)))
        // The gradient is constant, so noise changes nothing.
        let smooth = try Torch.exclusiveRandomness(seed: 1) {
            try attribute(.smoothGrad, target, x) { $0.smoothGradSamples = 5; $0.batch = 2 }
        }
        #expect(close(smooth, ws))
        // Integrated gradients from baseline b: (x − b) ⊙ w exactly.
        #expect(close(try attribute(.integratedGradients, target, x) { $0.baseline = 0.5; $0.integratedGradientsSteps = 3 }, zip(xs, ws).map { ($0 - 0.5) * $1 }))
    }

    @Test func integratedGradientsAreCompleteOnAQuadratic() throws {
        // F(x) = Σ (w ⊙ x)²: the gradient is linear along the path, so the midpoint rule is exact and Σ IG = F(x) − F(0).
        let (x, w, _, xs, ws) = try Self.linear()
        let target = AttributionTarget(score: { try ($0 * w).square().sum(dims: [1, 2, 3, 4]) })
        let ig = try attribute(.integratedGradients, target, x) { $0.integratedGradientsSteps = 4 }
        #expect(close(ig, zip(xs, ws).map { $0 * $0 * $1 * $1 }, 1e-4))
    }

    @Test func occlusionDropsTheWindowsShare() throws {
        let (x, _, target, xs, ws) = try Self.linear()
        // 1-voxel windows, baseline 0: each voxel gets Σ_c w_c x_c at that voxel, in every channel.
        let single = try attribute(.occlusion, target, x) { $0.occlusionWindow = [1, 1, 1]; $0.occlusionStride = [1, 1, 1]; $0.batch = 5 }
        let voxels = 2 * 3 * 4
        let perVoxel = (0..<voxels).map { v in xs[v] * ws[v] + xs[voxels + v] * ws[voxels + v] }
        #expect(close(single, perVoxel + perVoxel))
        // One window over everything: F(x) − F(0) spread evenly.
        let whole = try attribute(.occlusion, target, x) { $0.occlusionWindow = [2, 3, 4]; $0.occlusionStride = [2, 3, 4] }
        let total = zip(xs, ws).map(*).reduce(0, +)
        #expect(close(whole, [Float](repeating: total / Float(voxels), count: 2 * voxels)))
    }

    @Test func gradCAMWeighsChannelsByTheirMeanGradient() throws {
        let (x, _, _, xs, _) = try Self.linear()
        let v: [Float] = [2, -3]
        let vt = try Tensor(v, shape: [1, 2, 1, 1, 1])
        // The layer is the input itself; the head is Σ_k v_k · mean(A_k), so α_k = v_k / (D·H·W).
        let target = AttributionTarget(score: { try ($0 * vt).mean(dims: [2, 3, 4]).sum(dims: [1]) },
                                       activations: { try $0.detached().requiringGrad() },
                                       head: { try ($0 * vt).mean(dims: [2, 3, 4]).sum(dims: [1]) })
        let cam = try attribute(.gradCAM, target, x)
        let voxels = 24
        let expected = (0..<voxels).map { i in max(0, (v[0] * xs[i] + v[1] * xs[voxels + i]) / Float(voxels)) }
        #expect(close(cam, expected))
    }

    @Test func settingsAreCheckedByName() {
        var settings = AttributionSettings()
        settings.integratedGradientsSteps = 0
        #expect(throws: AttributionError.invalidSetting(key: "integratedGradientsSteps", message: "must be at least 1, found 0")) { try settings.validate() }
        settings = AttributionSettings()
        settings.gradCAMLayer = "stem"
        #expect(throws: AttributionError.self) { try settings.validate() }
    }

    @Test func theModelsDecisionTargetIsCompleteUnderIntegratedGradients() throws {
        try Torch.exclusiveRandomness(seed: 3) {
            var config = TrainingFixture.config().model
            config.classifierDropout = 0
            let model = try SpineModel(config)
            model.eval()
            let x = try Tensor.randn([1, 2, 8, 48, 32])
            var mask = [Float](repeating: 0, count: 8 * 48 * 32)
            for i in 0..<mask.count where (i / 32) % 48 >= 10 && (i / 32) % 48 < 20 { mask[i] = 1 }
            let target = try model.decisionTarget(mask: try Tensor(mask, shape: [8, 48, 32]), classIndex: 1)
            // From an image baseline (a constant one meets the group norm's shift and scale invariance: see
            // Attributor.integratedGradients).
            let baseline = try Tensor.randn([1, 2, 8, 48, 32])
            let delta = try Torch.noGrad { try target.score(x).item() - target.score(baseline).item() }
            var settings = AttributionSettings()
            // The integrand is rough (ReLUs, an untrained net): 16 steps were 6x off, 64 steps 0.9x, 256 steps 3 %.
            settings.integratedGradientsSteps = 256
            settings.batch = 32
            let ig = try Torch.withGrad { try Attributor(settings: settings).integratedGradients(target.score, input: x, baseline: baseline).sum().item() }
            #expect(abs(ig - delta) <= 0.1 * abs(delta), "Σ IG \(ig) against F(x) − F(0) \(delta)")
            // Grad-CAM at every layer gives a non-negative map on the input grid.
            for layer in model.gradCAMLayers {
                settings.method = .gradCAM
                settings.gradCAMLayer = layer
                let cam = try Attributor(settings: settings).attribute(try model.decisionTarget(mask: try Tensor(mask, shape: [8, 48, 32]), classIndex: 1, gradCAMLayer: layer), input: x)
                #expect(cam.shape == [1, 8, 48, 32], "\(layer)")
                #expect(try cam.min().item() >= 0, "\(layer)")
            }
            #expect(throws: AttributionError.self) { try model.decisionTarget(mask: try Tensor(mask, shape: [8, 48, 32]), classIndex: 1, gradCAMLayer: "encoder.9") }
        }
    }
}

struct AttributionConsistencyTests {
    @Test func metricsOnAHandBuiltMap() {
        let r: [Float] = [3, -1, 2, 0, 5, 0]
        let m = [true, true, false, false, false, false]
        let c = AttributionConsistency.compute(relevance: r, mask: m, topK: 3)
        #expect(abs(c.massInsidePositive - 0.3) < 1e-12)      // 3 / (3 + 2 + 5)
        #expect(abs(c.massInsideAbsolute - 4.0 / 11) < 1e-12)  // (3 + 1) / 11
        #expect(c.rankAccuracy == 0.5)                         // top 2 = {5, 3}: one inside
        #expect(c.pointingGame == 0)                           // the maximum (5) is outside
        #expect(abs(c.topKIntersection - 1.0 / 3) < 1e-12)     // top 3 = {5, 3, 2}
        #expect(c.auc == 3.0 / 8)                              // 3 > {2, 0, 0}; −1 beats nothing
        #expect(c.maskVoxels == 2)
    }

    @Test func allInsideAndEmptyMasks() {
        let inside = AttributionConsistency.compute(relevance: [0, 4, 1, 0], mask: [false, true, true, false], topK: 1)
        #expect(inside.massInsidePositive == 1 && inside.pointingGame == 1 && inside.rankAccuracy == 1 && inside.auc == 1)
        let empty = AttributionConsistency.compute(relevance: [0, 4, 1, 0], mask: [false, false, false, false], topK: 1)
        #expect(empty.massInsidePositive.isNaN && empty.pointingGame.isNaN && empty.auc.isNaN && empty.rankAccuracy.isNaN && empty.maskVoxels == 0)
        let zero = AttributionConsistency.compute(relevance: [0, 0, 0, 0], mask: [false, true, false, false], topK: 1)
        #expect(zero.massInsidePositive.isNaN && zero.massInsideAbsolute.isNaN)
        let whole = AttributionConsistency.compute(relevance: [1, 2], mask: [true, true], topK: 1)
        #expect(whole.auc.isNaN && whole.massInsidePositive == 1)
    }

    @Test func marginsGrowTheRegionInMillimetres() {
        var mask = [Bool](repeating: false, count: 25)
        mask[12] = true  // the centre of a [1, 5, 5] grid
        let count = { (m: [Bool]) in m.filter { $0 }.count }
        #expect(count(AttributionConsistency.grow(mask, shape: [1, 5, 5], spacingMM: [1, 1, 1], marginMM: 0)) == 1)
        #expect(count(AttributionConsistency.grow(mask, shape: [1, 5, 5], spacingMM: [1, 1, 1], marginMM: 1)) == 5)
        #expect(count(AttributionConsistency.grow(mask, shape: [1, 5, 5], spacingMM: [1, 1, 1], marginMM: 1.5)) == 9)
        #expect(count(AttributionConsistency.grow(mask, shape: [1, 5, 5], spacingMM: [1, 2, 1], marginMM: 1)) == 3)
    }

    /// Training grows a region on tensors (`loss.attribution.marginMM`) exactly as the check grows it on arrays.
    @Test(arguments: [(2.0, [1.0, 1.0, 1.0]), (4.5, [4.0, 3.0, 3.0]), (3.0, [1.0, 2.5, 1.5]), (0.0, [1.0, 1.0, 1.0])])
    func trainingAndTheCheckGrowRegionsAlike(marginMM: Double, spacingMM: [Double]) throws {
        let shape = [6, 9, 7]
        var rng = SplitMix64(seed: 5)
        let mask = (0..<shape.reduce(1, *)).map { _ in rng.bernoulli(0.04) }
        let margin = RegionMargin(marginMM: marginMM)
        let onArrays = margin.grow(mask, shape: shape, spacingMM: spacingMM)
        let onTensors = try margin.grow(Tensor(mask.map { $0 ? Float(1) : 0 }, shape: shape), spacingMM: spacingMM).array(Float.self)
        #expect(onTensors == onArrays.map { $0 ? Float(1) : 0 })
        #expect(onArrays.filter { $0 }.count > mask.filter { $0 }.count || marginMM == 0)
    }
}

struct AttributionPenaltyTests {
    /// A two-sample "model": logits_v = Σ_u tanh(w_u · x_{s,u}) · c_v, differentiable in w; the penalty against a
    /// mask. Its gradient in w (double backprop) must match central finite differences.
    @Test(arguments: [LossConfig.AttributionConstraint.Method.saliency, .gradientTimesInput])
    func theGradientMatchesFiniteDifferences(method: LossConfig.AttributionConstraint.Method) throws {
        let n = 2 * 1 * 1 * 2 * 3
        let xs = (0..<n).map { sin(Double($0) * 0.9) + 0.3 }
        let x = try Tensor(xs, shape: [2, 1, 1, 2, 3])
        let mask = try Tensor([1.0, 1, 0, 0, 0, 1], shape: [1, 2, 3])
        func penalty(_ ws: [Double]) throws -> (Tensor, Tensor) {
            let w = try Tensor(ws, shape: [1, 1, 1, 2, 3]).requiringGrad()
            let input = try x.detached().requiringGrad()
            let pooled = try (input * w).tanh().sum(dims: [1, 2, 3, 4])  // [2]
            let logits = try Tensor.stack([pooled * 1.5, pooled * -0.5], dim: 1)  // [2 samples, 2 classes]
            let vertebrae = [AttributionPenalty.Vertebra(sample: 0, row: 0, classIndex: 0, mask: mask),
                             AttributionPenalty.Vertebra(sample: 1, row: 1, classIndex: 1, mask: mask)]
            return (try AttributionPenalty.outsideFraction(logits: logits, input: input, vertebrae: vertebrae, method: method)!, w)
        }
        let w0 = (0..<6).map { 0.4 + 0.2 * cos(Double($0)) }
        let (p, w) = try penalty(w0)
        let analytic = try Torch.gradients(of: p, wrt: [w])[0].array(Double.self)
        let h = 1e-6
        for i in 0..<6 {
            var up = w0, down = w0
            up[i] += h
            down[i] -= h
            let numeric = (try penalty(up).0.item() - penalty(down).0.item()) / (2 * h)
            #expect(abs(analytic[i] - numeric) < 1e-6 * max(1, abs(numeric)), "w[\(i)]: \(analytic[i]) against \(numeric)")
        }
        #expect(try p.item() > 0 && p.item() < 1)
    }

    @Test func aRelevanceInsideTheMaskCostsNothing() throws {
        // A logit that reads only masked voxels has no relevance outside.
        let mask = try Tensor([Float](arrayLiteral: 1, 1, 0, 0), shape: [1, 1, 4])
        let input = try Tensor.randn([1, 1, 1, 1, 4]).requiringGrad()
        let logits = try (input * mask.unsqueeze(dim: 0).unsqueeze(dim: 0)).sum(dims: [1, 2, 3, 4]).unsqueeze(dim: 1)
        let p = try AttributionPenalty.outsideFraction(logits: logits, input: input, vertebrae: [.init(sample: 0, row: 0, classIndex: 0, mask: mask)], method: .saliency)!
        #expect(try p.item() == 0)
        #expect(try AttributionPenalty.outsideFraction(logits: logits, input: input, vertebrae: [], method: .saliency) == nil)
    }

    /// A trainer with the attribution constraint on (weight 1) on the small fixture, `configure` setting the rest.
    static func constrainedTrainer(in folder: TemporaryFolder, _ configure: (inout LossConfig.AttributionConstraint) -> Void) throws -> Trainer {
        var config = TrainingFixture.config(epochs: 1, stepsPerEpoch: 2)
        config.loss.attribution.weight = 1
        configure(&config.loss.attribution)
        return try Trainer(config: config, options: Trainer.Options(dataset: try TrainingFixture.dataset(in: folder), run: folder.file("run")))
    }

    @Test func constrainedTrainingStepsRunAndLogThePenalty() throws {
        try Torch.exclusiveRandomness(seed: 0) {
            let folder = try TemporaryFolder()
            let trainer = try Self.constrainedTrainer(in: folder) { $0.marginMM = 4 }
            _ = try trainer.run()
            let row = try #require(trainer.history.last)
            let penalty = try #require(row["train.loss.attribution"])
            #expect(penalty > 0 && penalty < 1)
        }
    }
}

struct AttributionPenaltyEveryStepsTests {
    /// With `everySteps: 2` the penalty is taken on optimizer steps 0, 2, 4, ... only (the others cost a plain step).
    @Test func thePenaltyIsTakenOnEveryKthStep() throws {
        try Torch.exclusiveRandomness(seed: 0) {
            let folder = try TemporaryFolder()
            let trainer = try AttributionPenaltyTests.constrainedTrainer(in: folder) { $0.everySteps = 2 }
            let batch = try trainer.loader.batch(epoch: 0, index: 0)
            var taken: [Bool] = []
            for step in 0..<4 {
                trainer.state.step = step
                taken.append(try trainer.trainStep(batch, epoch: 0).losses["loss.attribution"] != nil)
            }
            #expect(taken == [true, false, true, false])
            var config = trainer.config
            config.loss.attribution.everySteps = 0
            #expect { try config.loss.validate() } throws: { "\($0)".contains("attribution.everySteps") }
        }
    }
}

struct AttributionValidatorTests {
    /// The validator's shared-forward gradient path gives the same maps as the attributor on its own.
    @Test(arguments: [AttributionMethod.saliency, .gradientTimesInput])
    func sharedForwardEqualsOneAttributionPerDecision(method: AttributionMethod) throws {
        try Torch.exclusiveRandomness(seed: 0) {
            let folder = try TemporaryFolder()
            let reader = try DatasetReader(url: try TrainingFixture.dataset(in: folder))
            let predictor = try Predictor(checkpoint: try PredictorTests.checkpoint(in: folder))
            var settings = AttributionSettings()
            settings.method = method
            let validator = try AttributionValidator(predictor: predictor, settings: settings)
            let id = try #require(try reader.subjectIDs.first { try !AttributionValidator.referenceDecisions(reader, subject: $0).isEmpty })
            let decisions = try AttributionValidator.referenceDecisions(reader, subject: id)
            let input = try predictor.input(dataset: reader, subject: id)
            let checked = try validator.check(image: input.image, geometry: input.geometry, decisions: decisions)
            #expect(checked.count == decisions.count)
            var image = input.image
            Intensity.zscore(&image, channels: 2)
            let x = try Tensor(image, shape: [1, 2] + input.geometry.shape)
            for (decision, result) in zip(decisions, checked) {
                let mask = try Tensor(decision.region.map { $0 ? Float(1) : 0 }, shape: input.geometry.shape)
                let target = try predictor.model.decisionTarget(mask: mask, classIndex: result.row.decision)
                let alone = try Attributor(settings: settings).attribute(target, input: x).sum(dims: [0]).array(Float.self)
                let worst = zip(alone, result.relevance).map { abs($0 - $1) }.max()!
                #expect(worst <= 1e-5 * max(1, alone.map(abs).max()!), "\(decision.levelID): \(worst)")
                #expect(result.row.truth == decision.truth && result.row.consistency.maskVoxels == decision.region.filter { $0 }.count)
            }
            let summary = validator.summary(rows: checked.map(\.row), source: "d.h5", regions: "reference", maxFailingFraction: 0.2, seconds: 1)
            let json = try JSONValue.parse(try JSONEncoder().encode(summary), source: "attribution.json")
            #expect(try JSONSchema.file("attribution.schema.json").validate(json).isEmpty)
            #expect(summary.decisions == decisions.count && summary.accuracy.isFinite)
        }
    }
}
