import Foundation
import Testing
import Torch
@testable import Rachis

/// Serialises the tests that seed and draw from libtorch's process-wide generator (module initialisation, rand).
private enum SeededTorch {
    static func run<T>(_ seed: UInt64, _ body: () throws -> T) rethrows -> T {
        try Torch.exclusiveRandomness(seed: seed, body)
    }
}

private func tinyConfig(spacing: [Double] = [1, 1, 1], stages: Int = 3) -> ModelConfig {
    var c = ModelConfig()
    (c.width, c.stages, c.blocksPerStage, c.normGroups, c.featureChannels, c.classifierHidden, c.spacingMM) =
        (4, stages, Array(repeating: 1, count: stages), 2, 4, 5, spacing)
    return c
}

private func maxDifference(_ a: Tensor, _ b: Tensor) throws -> Double {
    try (a - b).abs().max().item()
}

/// `maxDifference` over the larger magnitude of `b` (at least 1): for two float32 paths that sum in different orders,
/// whose rounding grows with the values and differs between CPUs.
private func relativeDifference(_ a: Tensor, _ b: Tensor) throws -> Double {
    try maxDifference(a, b) / max(1, try b.abs().max().item())
}

struct ModelConfigTests {
    @Test func poolingFactorsFollowSpacing() {
        let iso = [[2, 2, 2], [2, 2, 2], [2, 2, 2]]
        // [3.5, 2, 2]: 3.5 <= 2·2, so every axis is halved from the start.
        #expect(PoolingPlan.factors(spacingMM: [3.5, 2, 2], stages: 4) == iso)
        #expect(PoolingPlan.factors(spacingMM: [1, 1, 1], stages: 4) == iso)
        #expect(PoolingPlan.factors(spacingMM: [], stages: 4) == iso, "not yet resolved from data: isotropic")
        // [5, 2, 2]: D kept first (5 > 4), then spacing [5, 4, 4] is within 2×.
        #expect(PoolingPlan.factors(spacingMM: [5, 2, 2], stages: 4) == [[1, 2, 2], [2, 2, 2], [2, 2, 2]])
        // [6, 1, 1]: D kept twice ([6, 2, 2] then [6, 4, 4]).
        #expect(PoolingPlan.factors(spacingMM: [6, 1, 1], stages: 4) == [[1, 2, 2], [1, 2, 2], [2, 2, 2]])
        var c = ModelConfig()
        c.spacingMM = [6, 1, 1]
        #expect(SpineModel.requiredDivisor(c) == [2, 8, 8])
        #expect(SpineModel.requiredDivisor(ModelConfig()) == [8, 8, 8])
    }

    /// Training warns when model.spacingMM plans other downsamplings than the training spacing would.
    @Test func poolingPlanMismatchNamesBothPlans() throws {
        var c = ModelConfig()
        c.spacingMM = [3.5, 2, 2]
        #expect(PoolingPlan.mismatch(c, trainingSpacingMM: [3.5, 2, 2]) == nil)
        #expect(PoolingPlan.mismatch(c, trainingSpacingMM: [1, 1, 1]) == nil, "the same plan: every axis halved each time")
        let advice = try #require(PoolingPlan.mismatch(c, trainingSpacingMM: [6, 1, 1]))
        #expect(advice.contains("[[2, 2, 2], [2, 2, 2], [2, 2, 2]]") && advice.contains("[[1, 2, 2], [1, 2, 2], [2, 2, 2]]"), "\(advice)")
        #expect(advice.contains("--set 'model.spacingMM=[6, 1, 1]'"), "\(advice)")
    }

    @Test func rangesAreValidatedByKey() throws {
        var c = ModelConfig()
        c.normGroups = 3
        #expect(throws: ModelConfigError.self) { try c.validate() }
        do { try c.validate() } catch let ModelConfigError.invalid(key, _, _) { #expect(key == "normGroups") }
        c = ModelConfig()
        c.blocksPerStage = [1, 1]
        do { try c.validate(); Issue.record("accepted") } catch let ModelConfigError.invalid(key, _, _) { #expect(key == "blocksPerStage") }
        c.blocksPerStage = [1, 0, 1, 1]
        #expect(throws: ModelConfigError.self) { try c.validate() }
        c.blocksPerStage = [0, 1, 1, 1]
        try c.validate()
    }

    /// A partial model section (of a training config: `TrainingConfig.load`, as `rachis model summary` reads it)
    /// takes the defaults for the rest; unknown keys are `TrainingConfig`'s error (`TrainingTests`).
    @Test func aPartialModelSectionTakesTheDefaults() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("model-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: url) }
        try "model:\n  width: 8\n  normGroups: 4\n  heads: {autoencoder: false}\n".write(to: url, atomically: true, encoding: .utf8)
        let c = try TrainingConfig.load(url).model
        #expect(c.width == 8 && c.normGroups == 4 && c.stages == 4 && !c.heads.autoencoder && c.heads.segmentation)
    }

    @Test func baseConfigIsValid() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/configs/base.yaml")
        let c = try TrainingConfig.load(url.standardizedFileURL).model
        #expect(SpineModel.requiredDivisor(c).enumerated().allSatisfy { [24, 96, 64][$0.offset] % $0.element == 0 })
    }
}

struct SpineModelTests {
    @Test(arguments: [[1.0, 1, 1], [5.0, 2, 2]])
    func headShapes(spacing: [Double]) throws {
        let (model, image) = try SeededTorch.run(1) { (try SpineModel(tinyConfig(spacing: spacing)), try Tensor.rand([2, 2, 8, 16, 16])) }
        let out = try model(image)
        #expect(out.features.shape == [2, 4, 8, 16, 16])
        #expect(out.segmentation?.shape == [2, StructureLabel.allCases.count, 8, 16, 16])
        #expect(out.heatmap?.shape == [2, 1, 8, 16, 16])
        #expect(out.levels?.shape == [2, LevelIndex.count, 8, 16, 16])
        #expect(out.reconstruction?.shape == [2, 2, 8, 16, 16])
        let levels = try model.encode(image)
        let bottleneck = spacing[0] == 1 ? [2, 16, 2, 4, 4] : [2, 16, 4, 4, 4]
        #expect(levels.map(\.shape) == [[2, 4, 8, 16, 16], [2, 8, spacing[0] == 1 ? 4 : 8, 8, 8], bottleneck])
    }

    @Test func switchedOffHeadsAreNilAndHaveNoParameters() throws {
        var c = tinyConfig()
        c.heads.segmentation = false
        c.heads.identification = false
        c.heads.classification = false
        c.heads.autoencoder = false
        let (model, image) = try SeededTorch.run(2) { (try SpineModel(c), try Tensor.rand([1, 2, 4, 8, 8])) }
        let out = try model(image)
        #expect(out.segmentation == nil && out.levels == nil && out.reconstruction == nil && out.heatmap != nil)
        let roots = Set(model.namedParameters().map { String($0.name.split(separator: ".")[0]) })
        #expect(roots == ["encoder", "decoder", "localization"])
        #expect(throws: ModelError.headDisabled("classification")) {
            try model.classify(features: out.features, regions: [(0, try Tensor.ones([4, 8, 8]))])
        }
    }

    @Test func parameterCountMatchesClosedForm() throws {
        var c = tinyConfig(stages: 2)
        c.heads = .init()
        let model = try SeededTorch.run(3) { try SpineModel(c) }
        // Hand count for inChannels 2, width 4, 2 stages of 1 block, F = 4, hidden 5, factor [2, 2, 2]:
        // encoder 224 + 880 + 264 + 3488, decoder 36 + 1344, heads 35 (7 structures) + 5 + 5·L, classifier 45 + 18 (mean and max: 2F
        // inputs), spinal regions 85 + 30 (2F + 8 bottleneck channels in, 5 regions out), autoencoder 36 + 880 + 10.
        #expect(model.parameterCount == 7380 + 5 * LevelIndex.count)
        c.blocksPerStage = [0, 1]
        #expect(try SeededTorch.run(3) { try SpineModel(c) }.parameterCount == 7380 - 880 + 5 * LevelIndex.count)
        let names = model.namedParameters().map(\.name)
        for name in ["encoder.stem.conv.weight", "encoder.stages.0.blocks.0.conv1.weight", "encoder.stages.1.down.weight",
                     "decoder.stages.0.up.conv.weight", "decoder.stages.0.block.projection.weight", "segmentation.weight",
                     "identification.bias", "classifier.hidden.weight", "classifier.output.bias",
                     "autoencoder.stages.0.block.conv2.weight", "autoencoder.output.weight"] {
            #expect(names.contains(name), "\(name)")
        }
    }

    @Test func singleFullResolutionDecoderBlockHalvesTheFullResolutionConvolutions() throws {
        var c = tinyConfig(stages: 2)
        c.fullResolutionDecoder = .single
        let (model, image) = try SeededTorch.run(3) { (try SpineModel(c), try Tensor.rand([2, 2, 8, 16, 16])) }
        // parameterCountMatchesClosedForm's 7380, with one conv-norm-act at full resolution in each decoder: the
        // segmentation decoder's 8 → 4 (864 + 8) instead of the residual block's 1344, the autoencoder's 4 → 4
        // (432 + 8) instead of 880.
        #expect(model.parameterCount == 7380 - 1344 + 872 - 880 + 440 + 5 * LevelIndex.count)
        let names = model.namedParameters().map(\.name)
        for name in ["decoder.stages.0.block.conv.weight", "decoder.stages.0.block.norm.weight", "autoencoder.stages.0.block.conv.weight"] {
            #expect(names.contains(name), "\(name)")
        }
        #expect(!names.contains("decoder.stages.0.block.conv2.weight"))
        let out = try model(image)
        #expect(out.features.shape == [2, 4, 8, 16, 16])
        #expect(out.reconstruction?.shape == [2, 2, 8, 16, 16])
    }

    @Test func indivisibleInputThrows() throws {
        let model = try SeededTorch.run(4) { try SpineModel(tinyConfig()) }
        #expect(throws: ModelError.indivisibleInput(shape: [1, 2, 6, 16, 16], divisor: [4, 4, 4])) {
            try model(Tensor.zeros([1, 2, 6, 16, 16]))
        }
        #expect(throws: ModelError.self) { try model(Tensor.zeros([1, 3, 8, 16, 16])) }
    }

    @Test func reconstructionReadsTheBottleneckOnly() throws {
        let (model, image) = try SeededTorch.run(5) { (try SpineModel(tinyConfig()), try Tensor.rand([1, 2, 8, 16, 16])) }
        let levels = try model.encode(image)
        let full = try model.decode(levels: levels)
        let skipsZeroed = try levels.dropLast().map { try $0.zerosLike() } + [levels[levels.count - 1]]
        let cut = try model.decode(levels: skipsZeroed)
        #expect(try maxDifference(full.reconstruction!, cut.reconstruction!) == 0)
        #expect(try maxDifference(full.features, cut.features) > 1e-4)
    }

    /// `identificationGradient` s changes no output and scales by s what the identification heads (per-voxel levels
    /// and spinal regions) send back into the shared network: the gradient of a loss on their logits with respect to
    /// a shared weight is s times the one at s = 1 (exactly 0 at s = 0), while the heads' own weights get all of it.
    @Test func identificationGradientScalesWhatReachesTheSharedNetwork() throws {
        let image = try SeededTorch.run(21) { try Tensor.rand([1, 2, 8, 16, 16]) }
        var weights = [Float](repeating: 0, count: 8 * 16 * 16)
        for i in [100, 101, 117, 300, 301] { weights[i] = 1 }
        let region = try Tensor(weights, shape: [8, 16, 16])
        let names = ["encoder.stem.conv.weight", "decoder.stages.0.block.conv1.weight", "identification.weight", "spinalRegions.output.weight"]
        func run(_ s: Double) throws -> (levels: Tensor, regions: Tensor, gradients: [Tensor]) {
            var config = tinyConfig()
            config.identificationGradient = s
            let model = try SeededTorch.run(20) { try SpineModel(config) }
            model.eval()
            let output = try model(image)
            let levels = try #require(output.levels)
            let regions = try model.classifyRegions(features: output.features, context: model.context(output), regions: [(0, region)])
            let loss = try levels.square().mean() + regions.square().sum()
            let parameters = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.parameter.tensor) })
            let inputs = try names.map { try #require(parameters[$0]) }
            return (levels, regions, try Torch.gradients(of: loss, wrt: inputs))
        }
        let all = try run(1), half = try run(0.5), none = try run(0)
        for other in [half, none] {
            #expect(try maxDifference(other.levels, all.levels) == 0 && maxDifference(other.regions, all.regions) == 0)
            // The heads' own weights: the same gradient.
            #expect(try relativeDifference(other.gradients[2], all.gradients[2]) < 1e-5)
            #expect(try relativeDifference(other.gradients[3], all.gradients[3]) < 1e-5)
        }
        for shared in 0..<2 {
            #expect(try all.gradients[shared].abs().max().item() > 1e-6)
            #expect(try relativeDifference(half.gradients[shared] * 2, all.gradients[shared]) < 1e-5)
            #expect(try none.gradients[shared].abs().max().item() == 0)
        }
        var config = tinyConfig()
        config.identificationGradient = 1.5
        #expect(throws: ModelConfigError.self) { try config.validate() }
    }

    @Test func channelsLastGivesTheSameOutputs() throws {
        let (model, image) = try SeededTorch.run(6) { (try SpineModel(tinyConfig(spacing: [5, 2, 2])), try Tensor.rand([1, 2, 8, 16, 16])) }
        let a = try model(image)
        let b = try model(image.channelsLast3d())
        for (x, y) in [(a.features, b.features), (a.segmentation!, b.segmentation!), (a.heatmap!, b.heatmap!),
                       (a.levels!, b.levels!), (a.reconstruction!, b.reconstruction!)] {
            #expect(try maxDifference(x, y) < 1e-4)
        }
        // Weights laid out channels-last too (as train.channelsLast does): same outputs, same stored state.
        let before = model.state().map { ($0.name, try! $0.tensor.array(Float.self)) }
        try model.channelsLast3d()
        let convolution = model.state().first { $0.tensor.rank == 5 }!.tensor
        #expect(convolution.isChannelsLast3d && !convolution.isContiguous)
        let c = try model(image.channelsLast3d())
        for (x, y) in [(a.features, c.features), (a.segmentation!, c.segmentation!), (a.reconstruction!, c.reconstruction!)] {
            #expect(try maxDifference(x, y) < 1e-4)
        }
        for ((name, values), entry) in zip(before, model.state()) {
            #expect(name == entry.name)
            #expect(try entry.tensor.array(Float.self) == values)
        }
    }
}

struct ClassificationHeadTests {
    @Test(arguments: ModelConfig.Pooling.allCases)
    func poolsInsideTheRegionThroughTheMLP(pooling: ModelConfig.Pooling) throws {
        var config = tinyConfig()
        config.pooling = pooling
        let (model, features) = try SeededTorch.run(7) { (try SpineModel(config), try Tensor.randn([2, 4, 4, 6, 6])) }
        model.eval()
        var weights = [Float](repeating: 0, count: 4 * 6 * 6)
        for i in [5, 6, 40, 41, 100] { weights[i] = 1 }
        weights[77] = 0.5
        weights[78] = 0.25
        let mask = try Tensor(weights, shape: [4, 6, 6])
        let logits = try model.classify(features: features, regions: [(1, mask), (0, mask)])
        #expect(logits.shape == [2, 3])

        // Outside the mask (and in the other sample) nothing matters.
        let outside = try (mask.eq(0).to(.float32) * Tensor.randn([2, 4, 4, 6, 6]) * 10)
        let changed = try model.classify(features: features + outside, regions: [(1, mask), (0, mask)])
        #expect(try maxDifference(logits, changed) < 1e-5)

        // Hand-computed: the masked mean, the maximum over voxels whose weight exceeds ½ (77 counts, 78 does not),
        // then Linear → ReLU → Linear (dropout is off in evaluation).
        let f = try features[.at(1)].array(Float.self)
        let total = weights.reduce(0, +)
        let mean = (0..<4).map { c in (0..<weights.count).reduce(Float(0)) { $0 + f[c * weights.count + $1] * weights[$1] } / total }
        let maximum = (0..<4).map { c in weights.indices.filter { weights[$0] > 0.5 }.map { f[c * weights.count + $0] }.max()! }
        let pooled: [Float] = switch pooling {
        case .mean: mean
        case .max: maximum
        case .meanMax: mean + maximum
        }
        let n = pooled.count
        #expect(n == config.pooledFeatures)
        let classifier = try #require(model.classifier)
        let (w1, b1) = (try classifier.hidden.weight.tensor.array(Float.self), try classifier.hidden.bias!.tensor.array(Float.self))
        let (w2, b2) = (try classifier.output.weight.tensor.array(Float.self), try classifier.output.bias!.tensor.array(Float.self))
        let hidden = (0..<5).map { j in max(0, b1[j] + (0..<n).reduce(Float(0)) { $0 + w1[j * n + $1] * pooled[$1] }) }
        let expected = (0..<3).map { k in b2[k] + (0..<5).reduce(Float(0)) { $0 + w2[k * 5 + $1] * hidden[$1] } }
        let got = try logits[.at(0)].array(Float.self)
        #expect(zip(got, expected).allSatisfy { abs($0 - $1) < 1e-4 }, "\(got) vs \(expected)")
    }

    @Test(arguments: ModelConfig.Pooling.allCases)
    func emptyRegionGivesTheResponseToZeroFeatures(pooling: ModelConfig.Pooling) throws {
        var config = tinyConfig()
        config.pooling = pooling
        let (model, features) = try SeededTorch.run(8) { (try SpineModel(config), try Tensor.randn([1, 4, 4, 6, 6])) }
        model.eval()
        let logits = try model.classify(features: features, regions: [(0, try Tensor.zeros([4, 6, 6]))])
        #expect(try logits.isFinite().all().item() == 1)
        let classifier = try #require(model.classifier)
        #expect(try maxDifference(logits, classifier(Tensor.zeros([1, config.pooledFeatures]))) < 1e-6)
        #expect(try model.classify(features: features, regions: []).shape == [0, 3])
        #expect(throws: ModelError.self) { try model.classify(features: features, regions: [(1, try Tensor.zeros([4, 6, 6]))]) }
    }

    @Test func maxPoolingPassesTheGradientToTheLargestVoxelOnly() throws {
        var config = tinyConfig()
        config.pooling = .max
        let model = try SeededTorch.run(11) { try SpineModel(config) }
        var values = [Float](repeating: 0, count: 4 * 2 * 2 * 2)
        for c in 0..<4 { values[c * 8 + 3] = 2; values[c * 8 + 5] = 1 }
        let features = try Tensor(values, shape: [1, 4, 2, 2, 2]).requiringGrad()
        var weights = [Float](repeating: 0, count: 8)
        weights[5] = 1; weights[6] = 1
        let pooled = try model.pool(features: features, regions: [(0, try Tensor(weights, shape: [2, 2, 2]))])
        // Voxel 3 (value 2) lies outside the region: the maximum inside is voxel 5's 1.
        #expect(try pooled.array(Float.self) == [1, 1, 1, 1])
        try pooled.sum().backward()
        let gradient = try #require(features.grad).array(Float.self)
        #expect((0..<4).allSatisfy { c in (0..<8).allSatisfy { gradient[c * 8 + $0] == ($0 == 5 ? 1 : 0) } })
    }

    /// Regions of different sizes in both samples of a batch (soft weights, two that overlap, one at the far corner,
    /// one empty): every value and the gradient of their sum against a loop over the whole volume (the weighted mean;
    /// the maximum over weights above ½, whose gradient goes to the first largest voxel), in both memory layouts,
    /// which `pool` reads differently.
    @Test(arguments: [false, true]) func manyRegionsPoolAsEachAloneOverTheWholeVolume(channelsLast: Bool) throws {
        let (c, grid) = (3, [4, 5, 6])
        let voxels = grid.reduce(1, *)
        let values = try SeededTorch.run(21) { try Tensor.randn([2, c, 4, 5, 6]) }.array(Float.self)
        var masks: [(sample: Int, weights: [Float])] = []
        func region(_ sample: Int, _ set: [(Int, Float)]) {
            var w = [Float](repeating: 0, count: voxels)
            for (i, v) in set { w[i] = v }
            masks.append((sample, w))
        }
        region(0, [(0, 1), (1, 1), (7, 0.5), (31, 1), (32, 0.25)])
        region(1, [(voxels - 1, 1), (voxels - 2, 0.75), (voxels - 8, 1)])
        region(1, [(31, 1), (32, 1), (62, 1)])
        region(0, [])
        region(0, [(59, 0.2), (60, 0.4)])
        let plain = try Tensor(values, shape: [2, c, 4, 5, 6])
        let features = try (channelsLast ? plain.channelsLast3d() : plain).requiringGrad()
        #expect(features.isChannelsLast3d == channelsLast)
        let regions = try masks.map { (sample: $0.sample, mask: try Tensor($0.weights, shape: grid)) }
        let pooled = try SpineModel.pool(features: features, regions: regions, pooling: .meanMax)
        #expect(pooled.shape == [masks.count, 2 * c])
        try pooled.sum().backward()
        var expected: [Float] = [], gradient = [Float](repeating: 0, count: values.count)
        for (sample, w) in masks {
            let total = w.reduce(0, +)
            let at = { (channel: Int, voxel: Int) in (sample * c + channel) * voxels + voxel }
            for channel in 0..<c {
                expected.append(w.indices.reduce(Float(0)) { $0 + values[at(channel, $1)] * w[$1] } / (total + Float(SpineModel.regionEpsilon)))
                for v in w.indices { gradient[at(channel, v)] += w[v] / (total + Float(SpineModel.regionEpsilon)) }
            }
            for channel in 0..<c {
                let inside = w.indices.filter { w[$0] > 0.5 }
                guard let best = inside.max(by: { values[at(channel, $0)] < values[at(channel, $1)] || (values[at(channel, $0)] == values[at(channel, $1)] && $0 > $1) }) else {
                    expected.append(0); continue
                }
                expected.append(values[at(channel, best)])
                gradient[at(channel, best)] += 1
            }
        }
        let got = try pooled.contiguous().array(Float.self)
        #expect(zip(got, expected).allSatisfy { abs($0 - $1) < 1e-5 }, "\(got) vs \(expected)")
        let grad = try #require(features.grad).contiguous().array(Float.self)
        #expect(zip(grad, gradient).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    @Test func regionHeadReadsItsVertebraAndTheContextAveragedOverIt() throws {
        let model = try SeededTorch.run(12) { try SpineModel(tinyConfig()) }
        model.eval()
        let (features, image) = try SeededTorch.run(13) { (try Tensor.randn([1, 4, 4, 8, 8]), try Tensor.randn([1, 2, 4, 8, 8])) }
        let output = try model(image)
        let context = try model.fullResolutionContext(output)
        // The bottleneck (16 channels at 1/4) brought to the features' grid.
        #expect(context.shape == [1, 16, 4, 8, 8] && model.config.regionFeatures == 2 * 4 + 16)
        var weights = [Float](repeating: 0, count: 4 * 8 * 8)
        for i in [9, 10, 37, 6] { weights[i] = 1 }
        let mask = try Tensor(weights, shape: [4, 8, 8])
        let logits = try model.classifyRegions(features: features, context: context, regions: [(0, mask)])
        #expect(logits.shape == [1, SpinalRegion.count])
        let head = try #require(model.spinalRegions)
        let meanContext = try (context[.at(0)].reshape([16, -1]).matmul(mask.reshape([-1])) / 4).unsqueeze(dim: 0)
        let expected = try head(Tensor.cat([model.pool(features: features, regions: [(0, mask)]), meanContext], dim: 1))
        #expect(try maxDifference(logits, expected) < 1e-5)
        // Context outside the vertebra does not count.
        let outside = try mask.eq(0).to(.float32) * Tensor.randn([1, 16, 4, 8, 8])
        #expect(try maxDifference(logits, model.classifyRegions(features: features, context: context + outside, regions: [(0, mask)])) < 1e-5)
        #expect(try model.classifyRegions(features: features, context: context, regions: []).shape == [0, SpinalRegion.count])
        // The bottleneck itself (training's context) gives the same logits: each mask is averaged over the cells.
        let coarse = try model.context(output)
        #expect(coarse.shape == [1, 16, 1, 2, 2])
        // Averaging the cells is the same sum as the matmul in another order: equal up to float32 rounding.
        #expect(try relativeDifference(logits, model.classifyRegions(features: features, context: coarse, regions: [(0, mask)])) < 1e-4)
        // Independently: cells are 4×4×4 voxels; voxels 9 and 10 (d 0, h 1, w 1-2) lie in cell 0, 6 (h 0, w 6) in
        // cell 1 (h 0, w 1), 37 (h 4, w 5) in cell 3 (h 1, w 1).
        let cells = try coarse[.at(0)].reshape([16, 4])
        let byHand = try ((cells.select(dim: 1, index: 0) * 2 + cells.select(dim: 1, index: 1) + cells.select(dim: 1, index: 3)) / 4).unsqueeze(dim: 0)
        #expect(try maxDifference(byHand, meanContext) < 1e-5)
        // A mask whose size the context's grid does not divide is refused.
        #expect(throws: ModelError.self) {
            try model.classifyRegions(features: features, context: Tensor.cat([coarse, coarse, coarse], dim: 2), regions: [(0, mask)])
        }
    }

    /// With `regionLateral` the region head also reads the features over the vertebra's lateral region: every D
    /// slice at the (H, W) where the mask is set in some slice, computed here by hand on a 4x8x8 grid.
    @Test func lateralRegionHeadReadsTheSlicesBesideTheVertebra() throws {
        var config = tinyConfig()
        config.regionLateral = true
        #expect(config.regionFeatures == 2 * (2 * 4) + 16)
        let model = try SeededTorch.run(12) { try SpineModel(config) }
        model.eval()
        let (features, image) = try SeededTorch.run(13) { (try Tensor.randn([1, 4, 4, 8, 8]), try Tensor.randn([1, 2, 4, 8, 8])) }
        let context = try model.fullResolutionContext(try model(image))
        var weights = [Float](repeating: 0, count: 4 * 8 * 8)
        for i in [9, 10, 64 + 9, 128 + 37] { weights[i] = 1 }  // (d, h, w): (0,1,1) (0,1,2) (1,1,1) (2,4,5)
        let mask = try Tensor(weights, shape: [4, 8, 8])
        var lateral = [Float](repeating: 0, count: 4 * 8 * 8)
        for d in 0..<4 { for hw in [9, 10, 37] { lateral[d * 64 + hw] = 1 } }
        #expect(try SpineModel.lateralRegion(mask).array(Float.self) == lateral)
        let lateralMask = try Tensor(lateral, shape: [4, 8, 8])
        let head = try #require(model.spinalRegions)
        let meanContext = try (context[.at(0)].reshape([16, -1]).matmul(mask.reshape([-1])) / 4).unsqueeze(dim: 0)
        let expected = try head(Tensor.cat([model.pool(features: features, regions: [(0, mask)]), meanContext,
                                            model.pool(features: features, regions: [(0, lateralMask)])], dim: 1))
        #expect(try maxDifference(model.classifyRegions(features: features, context: context, regions: [(0, mask)]), expected) < 1e-5)
        // Features beside the vertebra in its lateral region change the decision; features elsewhere do not.
        let beside = try Tensor((0..<(4 * 64)).map { $0 == 3 * 64 + 10 ? Float(5) : 0 }, shape: [1, 1, 4, 8, 8])
        #expect(try maxDifference(model.classifyRegions(features: features + beside, context: context, regions: [(0, mask)]), expected) > 1e-4)
        let elsewhere = try Tensor((0..<(4 * 64)).map { $0 == 3 * 64 + 20 ? Float(5) : 0 }, shape: [1, 1, 4, 8, 8])
        #expect(try maxDifference(model.classifyRegions(features: features + elsewhere, context: context, regions: [(0, mask)]), expected) < 1e-5)
    }

    @Test func imagePoolingClassifierReadsTheImageInsideTheVertebra() throws {
        var config = tinyConfig()
        config.poolImage = true
        #expect(config.classifierInputs == 2 * 4 + 2 * 2)
        let model = try SeededTorch.run(14) { try SpineModel(config) }
        model.eval()
        let (features, image) = try SeededTorch.run(15) { (try Tensor.randn([2, 4, 4, 8, 8]), try Tensor.randn([2, 2, 4, 8, 8])) }
        var weights = [Float](repeating: 0, count: 4 * 8 * 8)
        for i in [3, 70, 71, 200] { weights[i] = 1 }
        let mask = try Tensor(weights, shape: [4, 8, 8])
        let logits = try model.classify(features: features, image: image, regions: [(1, mask), (0, mask)])
        // Independently: the mean and the maximum of each image channel over the 4 voxels, after the pooled features.
        let values = try image.contiguous().array(Float.self)
        func stats(_ sample: Int) -> [Float] {
            let channels = (0..<2).map { c in [3, 70, 71, 200].map { values[(sample * 2 + c) * 256 + $0] } }
            return channels.map { $0.reduce(0, +) / 4 } + channels.map { $0.max()! }
        }
        let head = try #require(model.classifier)
        let pooled = try model.pool(features: features, regions: [(1, mask), (0, mask)])
        let expected = try head(Tensor.cat([pooled, Tensor(stats(1) + stats(0), shape: [2, 4])], dim: 1))
        #expect(try maxDifference(logits, expected) < 1e-5)
        // The image outside the vertebra does not count; inside it does.
        let outside = try mask.eq(0).to(.float32) * Tensor.randn([2, 2, 4, 8, 8])
        #expect(try maxDifference(logits, model.classify(features: features, image: image + outside, regions: [(1, mask), (0, mask)])) < 1e-5)
        #expect(try maxDifference(logits, model.classify(features: features, image: image + mask * 3, regions: [(1, mask), (0, mask)])) > 1e-3)
        // Without the image, or with one off the features' grid, it refuses.
        #expect(throws: ModelError.imageRequired) { try model.classify(features: features, regions: [(0, mask)]) }
        #expect(throws: ModelError.self) { try model.classify(features: features, image: Tensor.zeros([2, 2, 4, 8, 4]), regions: [(0, mask)]) }
        // The attribution target scores the same decision from the image alone.
        let x = try image.slice(dim: 0, start: 0, end: 1)
        let output = try model(x)
        let direct = try model.classify(features: output.features, image: x, regions: [(0, mask)])[.at(0), .at(2)]
        let target = try model.decisionTarget(mask: mask, classIndex: 2)
        #expect(abs(try target.score(x)[.at(0)].item() - direct.item()) < 1e-5)
    }

    /// The noise gauge against closed forms: on a signal quadratic along W, `a·w²`, every second difference is
    /// `2a`, so the gauge is `|2a|` wherever a region has a voxel with both W-neighbours inside it, and 0 where it has
    /// none; the image outside the region does not count.
    @Test func noiseGaugeIsTheMeanAbsoluteSecondDifferenceInsideTheRegion() throws {
        let (d, h, w) = (3, 4, 8)
        var values: [Float] = []
        for c in 0..<2 {
            let a: Float = c == 0 ? 0.5 : -1.5
            for _ in 0..<(d * h) { values += (0..<w).map { a * Float($0 * $0) + 7 } }
        }
        let image = try Tensor(values, shape: [1, 2, d, h, w])
        func mask(_ voxels: [(Int, Int, Int)]) throws -> Tensor {
            var m = [Float](repeating: 0, count: d * h * w)
            for (z, y, x) in voxels { m[(z * h + y) * w + x] = 1 }
            return try Tensor(m, shape: [d, h, w])
        }
        let row = try mask((2..<7).map { (1, 2, $0) }), lone = try mask([(0, 0, 3), (2, 3, 5)])
        let gauge = try SpineModel.noiseGauge(image, regions: [(0, row), (0, lone)]).contiguous().array(Float.self)
        #expect(abs(gauge[0] - 1) < 1e-5 && abs(gauge[1] - 3) < 1e-5, "\(gauge)")
        #expect(gauge[2] == 0 && gauge[3] == 0, "\(gauge)")
        // Noise outside the row, beyond its end voxels' neighbours, changes nothing.
        let far = try mask((0..<w).map { (0, 0, $0) })
        let moved = try SpineModel.noiseGauge(image + far * 5, regions: [(0, row)]).contiguous().array(Float.self)
        #expect(abs(moved[0] - 1) < 1e-5 && abs(moved[1] - 3) < 1e-5)
        var config = tinyConfig()
        (config.poolImage, config.poolImageNoise) = (true, true)
        #expect(config.classifierInputs == 2 * 4 + 2 * 2 + 2)
    }

    /// With `classifierFeatures: local` a decision depends on the image in its region and within one voxel of it,
    /// and nowhere else: its input gradient is exactly 0 beyond that rim, and not 0 on it.
    @Test func localClassifierFeaturesSeeTheRegionAndAOneVoxelRim() throws {
        var config = tinyConfig()
        (config.poolImage, config.classifierFeatures) = (true, .local)
        let model = try SeededTorch.run(16) { try SpineModel(config) }
        model.eval()
        let names = model.namedParameters().map(\.name)
        #expect(names.contains("localFeatures.conv1.weight") && names.contains("localFeatures.conv2.weight"))
        let image = try SeededTorch.run(17) { try Tensor.randn([1, 2, 8, 8, 8]) }.requiringGrad()
        let features = try model(image).features
        // The region: d in 3...4, h in 2...5, w in 3...4.
        func inBox(_ d: Int, _ h: Int, _ w: Int, grow g: Int) -> Bool {
            (3 - g...4 + g).contains(d) && (2 - g...5 + g).contains(h) && (3 - g...4 + g).contains(w)
        }
        var weights = [Float](repeating: 0, count: 512)
        for d in 0..<8 { for h in 0..<8 { for w in 0..<8 where inBox(d, h, w, grow: 0) { weights[d * 64 + h * 8 + w] = 1 } } }
        let mask = try Tensor(weights, shape: [8, 8, 8])
        let logit = try Torch.withGrad { try model.classify(features: features, image: image, regions: [(0, mask)])[.at(0), .at(1)] }
        let g = try Torch.gradients(of: logit, wrt: [image])[0].abs().sum(dims: [0, 1]).contiguous().array(Float.self)
        var rim: Float = 0, beyond: Float = 0
        for d in 0..<8 { for h in 0..<8 { for w in 0..<8 {
            let v = g[d * 64 + h * 8 + w]
            if !inBox(d, h, w, grow: 1) { beyond += v } else if !inBox(d, h, w, grow: 0) { rim += v }
        } } }
        #expect(beyond == 0)
        #expect(rim > 0)
        // The decoder's features no longer count; Grad-CAM reads the local branch, and the decision target scores
        // the same logit.
        #expect(try maxDifference(model.classify(features: features * 3 + 1, image: image, regions: [(0, mask)]),
                                  model.classify(features: features, image: image, regions: [(0, mask)])) < 1e-6)
        #expect(model.gradCAMLayers == ["local"])
        let x = try image.detached()
        let target = try model.decisionTarget(mask: mask, classIndex: 1, gradCAMLayer: "local")
        #expect(abs(try target.score(x)[.at(0)].item() - logit.item()) < 1e-5)
        #expect(throws: AttributionError.unknownLayer("encoder.2", available: ["local"])) {
            try model.decisionTarget(mask: mask, classIndex: 1, gradCAMLayer: "encoder.2")
        }
        var settings = AttributionSettings()
        (settings.method, settings.gradCAMLayer) = (.gradCAM, "local")
        let cam = try Attributor(settings: settings).attribute(target, input: x)
        #expect(cam.shape == [1, 8, 8, 8])
        #expect(throws: ModelError.imageRequired) { try model.classify(features: features, regions: [(0, mask)]) }
    }

    /// With `classifierFeatures: localInside` a decision depends on the image inside its region alone: its input
    /// gradient is exactly 0 outside the region (the rim included) and not 0 inside. The branch on each region's
    /// bounding box gives what the branch on the whole volume, zeroed outside the region, gives (computed here
    /// apart); an empty region pools to zeros; Grad-CAM's `local` target scores the same logit.
    @Test func localInsideClassifierFeaturesSeeTheRegionAlone() throws {
        var config = tinyConfig()
        (config.poolImage, config.classifierFeatures) = (true, .localInside)
        let model = try SeededTorch.run(16) { try SpineModel(config) }
        model.eval()
        let image = try SeededTorch.run(17) { try Tensor.randn([2, 2, 8, 8, 8]) }.requiringGrad()
        let features = try model(image).features
        // A box in sample 1 (d 3...4, h 2...5, w 3...4) and, in sample 0, a soft L-shaped region at a corner of the
        // volume, whose bounding box holds voxels outside it.
        func inBox(_ d: Int, _ h: Int, _ w: Int) -> Bool { (3...4).contains(d) && (2...5).contains(h) && (3...4).contains(w) }
        func inCorner(_ d: Int, _ h: Int, _ w: Int) -> Bool { d < 2 && h >= 5 && w < 3 && !(d == 1 && h == 5) }
        var box = [Float](repeating: 0, count: 512), corner = box
        for d in 0..<8 { for h in 0..<8 { for w in 0..<8 {
            if inBox(d, h, w) { box[d * 64 + h * 8 + w] = 1 }
            if inCorner(d, h, w) { corner[d * 64 + h * 8 + w] = d == 0 ? 1 : 0.3 }
        } } }
        let regions = [(sample: 1, mask: try Tensor(box, shape: [8, 8, 8])), (sample: 0, mask: try Tensor(corner, shape: [8, 8, 8])),
                       (sample: 0, mask: try Tensor.zeros([8, 8, 8]))]
        let logits = try Torch.withGrad { try model.classify(features: features, image: image, regions: regions) }
        let g = try Torch.gradients(of: logits[.at(0), .at(1)], wrt: [image])[0].abs().sum(dims: [1]).contiguous().array(Float.self)
        var inside: Float = 0, outside: Float = 0
        for d in 0..<8 { for h in 0..<8 { for w in 0..<8 {
            let v = g[512 + d * 64 + h * 8 + w]
            if inBox(d, h, w) { inside += v } else { outside += v }
        } } }
        #expect(outside == 0 && g[..<512].allSatisfy { $0 == 0 })
        #expect(inside > 0)
        let again = try Torch.withGrad { try model.classify(features: features, image: image, regions: regions) }
        let gc = try Torch.gradients(of: again[.at(1), .at(0)], wrt: [image])[0].abs().sum(dims: [1]).contiguous().array(Float.self)
        #expect(gc[512...].allSatisfy { $0 == 0 })
        for d in 0..<8 { for h in 0..<8 { for w in 0..<8 {
            let v = gc[d * 64 + h * 8 + w]
            #expect(inCorner(d, h, w) ? v > 0 : v == 0, "voxel \(d), \(h), \(w)")
        } } }
        // The same decisions from the branch on each whole volume, zeroed outside the region.
        let branch = try #require(model.localFeatures)
        let x = try image.detached()
        for (index, region) in regions.enumerated() {
            let masked = try x[.range(region.sample, region.sample + 1)] * region.mask.gt(0).to(.float32)
            let pooled = try SpineModel.pool(features: branch(masked), regions: [(0, region.mask)], pooling: config.pooling)
            let expected = try model.classify(pooled: pooled, image: x[.range(region.sample, region.sample + 1)], regions: [(0, region.mask)])
            #expect(try maxDifference(logits[.range(index, index + 1)], expected) < 1e-5)
        }
        let pooledInside = try model.poolInside(branch, image: x, regions: regions)
        #expect(pooledInside.shape == [3, config.featureChannels * 2])
        #expect(try pooledInside[.at(2)].abs().max().item() == 0)
        #expect(try model.poolInside(branch, image: x, regions: [regions[2]]).abs().max().item() == 0)
        // The decision target, by gradient and by Grad-CAM's local layer, scores the same logit.
        let target = try model.decisionTarget(mask: regions[0].mask, classIndex: 1, gradCAMLayer: "local")
        let one = try x[.range(1, 2)]
        #expect(abs(try target.score(one)[.at(0)].item() - logits[.at(0), .at(1)].item()) < 1e-5)
        let activations = try #require(target.activations), head = try #require(target.head)
        #expect(abs(try head(activations(one))[.at(0)].item() - logits[.at(0), .at(1)].item()) < 1e-5)
        // Grad-CAM's map of each class lies inside the region: the branch's activations outside it are not read.
        var settings = AttributionSettings()
        (settings.method, settings.gradCAMLayer) = (.gradCAM, "local")
        var camInside: Float = 0
        for classIndex in 0..<3 {
            let t = try model.decisionTarget(mask: regions[0].mask, classIndex: classIndex, gradCAMLayer: "local")
            let cam = try Attributor(settings: settings).attribute(t, input: one).contiguous().array(Float.self)
            for d in 0..<8 { for h in 0..<8 { for w in 0..<8 {
                if inBox(d, h, w) { camInside += cam[d * 64 + h * 8 + w] } else { #expect(cam[d * 64 + h * 8 + w] == 0) }
            } } }
        }
        #expect(camInside > 0)
        #expect(throws: ModelError.regionMismatch(index: 0, sample: 2, maskShape: [8, 8, 8], featureShape: [2, 2, 8, 8, 8])) {
            try model.classify(features: features, image: x, regions: [(2, regions[0].mask)])
        }
    }

    @Test func bodyClassifierRegionKeepsTheBodyAndLesionVoxelsOfTheVertebra() throws {
        // Structures of 6 voxels: background, body, disc, canal, lesion, posterior elements; the 5th voxel's unknown.
        let structures = try Tensor([0, 1, 2, 3, 4, 5].map(Int64.init), shape: [1, 1, 6])
        let known = try Tensor([1, 1, 1, 1, 1, 0] as [Float], shape: [1, 1, 6])
        #expect(try SpineModel.bodyVoxels(structures: structures).contiguous().array(Float.self) == [0, 1, 0, 0, 1, 0])
        #expect(try SpineModel.bodyVoxels(structures: structures, known: known).contiguous().array(Float.self) == [0, 1, 0, 0, 1, 1])
        #expect(try SpineModel.boneVoxels(structures: structures).contiguous().array(Float.self) == [0, 1, 0, 0, 1, 1])
        let vertebra = try Tensor([0, 1, 1, 0, 1, 1] as [Float], shape: [1, 1, 6])
        var config = tinyConfig()
        let whole = try SpineModel(config)
        let allowed = try SpineModel.bodyVoxels(structures: structures)
        #expect(try whole.classifierRegion(vertebra, allowed: allowed).contiguous().array(Float.self) == [0, 1, 1, 0, 1, 1])
        config.classifierRegion = .body
        let body = try SpineModel(config)
        #expect(try body.classifierRegion(vertebra, allowed: allowed).contiguous().array(Float.self) == [0, 1, 0, 0, 1, 0])
        #expect(try body.classifierRegion(vertebra, allowed: nil).contiguous().array(Float.self) == [0, 1, 1, 0, 1, 1])
        // A vertebra without a body voxel (a sliver of posterior elements) keeps its own voxels.
        let sliver = try Tensor([0, 0, 0, 0, 0, 1] as [Float], shape: [1, 1, 6])
        #expect(try body.classifierRegion(sliver, allowed: allowed).contiguous().array(Float.self) == [0, 0, 0, 0, 0, 1])
    }
}

struct ModelSummaryTests {
    @Test func recordsLayersWithClosedFormFLOPs() throws {
        let model = try SeededTorch.run(10) { try SpineModel(tinyConfig()) }
        let summary = try ModelSummary.run(model, crop: [8, 16, 16], batch: 2)
        #expect(summary.totalParameters == model.parameterCount)
        #expect(summary.layers.reduce(0) { $0 + $1.parameters } == model.parameterCount)
        let stem = try #require(summary.layers.first { $0.name == "encoder.stem.conv" })
        #expect(stem.type == "Conv3d" && stem.outputShape == [2, 4, 8, 16, 16])
        #expect(stem.flops == 2 * (2 * 4 * 8 * 16 * 16) * (2 * 27))
        let hidden = try #require(summary.layers.first { $0.name == "classifier.hidden" })
        // Mean and max pooling: 2F = 8 inputs.
        #expect(hidden.flops == 2 * 2 * 8 * 5 && hidden.parameters == 8 * 5 + 5)
        let up = try #require(summary.layers.first { $0.name == "decoder.stages.0.up.conv" })
        #expect(up.flops == 2 * (2 * 4 * 4 * 8 * 8) * 8 && up.outputShape == [2, 4, 4, 8, 8])
        let interpolation = try #require(summary.layers.first { $0.name == "decoder.stages.0.up" })
        #expect(interpolation.type == "Upsampling" && interpolation.outputShape == [2, 4, 8, 16, 16])
        #expect(summary.totalFLOPs == summary.layers.reduce(0) { $0 + $1.flops })
        #expect(summary.table.contains("Total params: "))
        #expect(SummaryRecorder.current == nil)
    }
}
