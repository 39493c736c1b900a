import Foundation
import HDF5
import Testing
import Torch
@testable import Rachis


enum TrainingFixture {
    /// A small model and loader for the 8x48x32 test phantoms.
    static func config(epochs: Int = 2, stepsPerEpoch: Int = 2) -> TrainingConfig {
        var config = TrainingConfig()
        config.model.width = 4
        config.model.blocksPerStage = [0, 1, 1, 1]
        config.model.normGroups = 4
        config.model.featureChannels = 4
        config.model.spacingMM = [4, 3, 3]
        config.loader.crop = [8, 48, 32]
        config.loader.workers = 1
        config.train.epochs = epochs
        config.train.stepsPerEpoch = stepsPerEpoch
        config.train.warmupSteps = 1
        return config
    }

    static func dataset(in folder: TemporaryFolder) throws -> URL {
        let subjects = try TestData.phantomSubjects(count: 8)
        let members = subjects.map { Splitting.Member(id: $0.id, stratum: Splitting.stratum(of: $0.vertebrae)) }
        let url = folder.file("d.h5")
        try TestData.writeDataset(subjects, to: url, splits: [try Splitting.holdout(members, val: 0.25, test: 0, seed: 0)])
        return url
    }
}

struct TrainingConfigTests {
    @Test func unknownKeysAreNamedAndDefaultsFillTheRest() throws {
        let value = try JSONValue.parse(Data(#"{"model": {"widht": 3, "heads": {"segmentaton": false}}, "trian": {}}"#.utf8), source: "c.json")
        #expect(throws: TrainingConfig.Error.unknownKeys(source: "c.json", keys: ["model.heads.segmentaton", "model.widht", "trian"])) {
            try TrainingConfig.decode(value, source: "c.json")
        }
        let partial = try TrainingConfig.decode(try JSONValue.parse(Data(#"{"train": {"epochs": 3}, "model": {"heads": {"autoencoder": false}}}"#.utf8), source: "c"), source: "c")
        var expected = TrainingConfig()
        expected.train.epochs = 3
        expected.model.heads.autoencoder = false
        #expect(partial == expected)
    }

    @Test func wrongTypesAreReportedByTheSchema() throws {
        let value = try JSONValue.parse(Data(#"{"train": {"epochs": "ten"}, "loss": {"weighting": "learned"}}"#.utf8), source: "c")
        #expect(throws: TrainingConfig.Error.schemaViolations(source: "c", violations: [
            "loss.weighting: \"learned\" is not one of \"fixed\", \"uncertainty\"", "train.epochs: expected integer, found string",
        ])) { try TrainingConfig.decode(value, source: "c") }
    }

    @Test func theBestMetricsDirectionMustMatchItsName() throws {
        #expect(throws: TrainSettings.Error.self) { try TrainingConfig.load(nil, overrides: ["train.bestMetric=val.metric.balancedAccuracy"]) }
        #expect(throws: TrainSettings.Error.self) { try TrainingConfig.load(nil, overrides: ["train.bestMetricHigherIsBetter=true"]) }
        let ok = try TrainingConfig.load(nil, overrides: ["train.bestMetric=val.metric.auc", "train.bestMetricHigherIsBetter=true"])
        #expect(ok.train.bestMetricHigherIsBetter)
    }

    /// `--set` values: JSON, YAML flow collections as in a config file, strings otherwise.
    @Test func overridesTakeJSONYAMLFlowCollectionsAndStrings() throws {
        let config = try TrainingConfig.load(nil, overrides: [
            "loss.descriptors.kinds=[size, surface]", #"loss.boxes.classes=[1,5]"#, "train.bestMetric=val.metric.dice",
            "train.bestMetricHigherIsBetter=true", "loss.descriptors.temperature=0.5",
        ])
        #expect(config.loss.descriptors.kinds == [.size, .surface])
        #expect(config.loss.boxes.classes == [1, 5])
        #expect(config.train.bestMetric == "val.metric.dice")
        #expect(config.loss.descriptors.temperature == 0.5)
        // A flow sequence with a wrong item is still reported by the schema, under its key.
        #expect { try TrainingConfig.load(nil, overrides: ["loss.descriptors.kinds=[size, volume]"]) } throws: {
            "\($0)".contains("loss.descriptors.kinds")
        }
    }

    @Test func invalidValuesNameTheirKey() throws {
        let value = try JSONValue.parse(Data(#"{"train": {"epochs": 0}}"#.utf8), source: "c")
        #expect { try TrainingConfig.decode(value, source: "c") } throws: { "\($0)".contains("train.epochs is 0; expected at least 1") }
    }

    @Test func shippedExampleConfigsAreValid() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples/configs")
        let files = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil).filter { $0.pathExtension == "yaml" }
        #expect(!files.isEmpty)
        for file in files { _ = try TrainingConfig.load(file) }
    }

    @Test func configSchemaKnowsExactlyTheConfigKeys() throws {
        let schema = try JSONSchema.shipped("train-config.schema.json")
        #expect(schema.validate(try TrainingConfig().json()).isEmpty, "the defaults validate")
        #expect(!schema.validate(.object(["model": .object(["widht": .number(3)])])).isEmpty, "an unknown key does not")
        func keys(_ schemaNode: JSONValue, _ path: String) -> Set<String> {
            guard case let .object(properties)? = schemaNode["properties"] else { return [path] }
            return properties.reduce(into: Set<String>()) { $0.formUnion(keys($1.value, path.isEmpty ? $1.key : path + "." + $1.key)) }
        }
        func keys(value: JSONValue, _ path: String) -> Set<String> {
            guard case let .object(members) = value else { return [path] }
            return members.reduce(into: Set<String>()) { $0.formUnion(keys(value: $1.value, path.isEmpty ? $1.key : path + "." + $1.key)) }
        }
        #expect(keys(schema.root, "") == keys(value: try TrainingConfig().json(), ""))
    }
}

struct TrainingTests {
    @Test func aFewStepsReduceTheLossOnAFixedBatch() throws {
        try Torch.exclusiveRandomness {
            let folder = try TemporaryFolder()
            let url = try TrainingFixture.dataset(in: folder)
            var config = TrainingFixture.config()
            config.loader.augment.probability = LoaderConfig.Probability()
            Torch.manualSeed(1)
            let trainer = try Trainer(config: config, options: Trainer.Options(dataset: url, run: folder.file("run")))
            let batch = try trainer.loader.batch(epoch: 0, index: 0)
            let optimizer = try Adam(trainer.model.namedParameters(), learningRate: 3e-3)
            var losses: [Double] = []
            for _ in 0..<20 {
                let breakdown = try trainer.forward(batch).breakdown
                losses.append(try breakdown.total.item())
                try optimizer.zeroGrad()
                try breakdown.total.backward()
                try optimizer.step()
            }
            let first = losses.prefix(4).reduce(0, +) / 4, last = losses.suffix(4).reduce(0, +) / 4
            #expect(last < 0.85 * first, "\(losses)")
        }
    }

    @Test func checkpointRestoresIdenticalOutputs() throws {
        try Torch.exclusiveRandomness {
            let folder = try TemporaryFolder()
            let config = TrainingFixture.config().model
            Torch.manualSeed(2)
            let a = try SpineModel(config)
            Torch.manualSeed(3)
            let b = try SpineModel(config)
            let input = try Tensor.randn([1, 2, 8, 48, 32])
            let checkpoint = Checkpoint(state: .init(bestMetric: "x"), config: "{}", history: "{}",
                                        model: Dictionary(uniqueKeysWithValues: a.state().map { ($0.name, $0.tensor) }),
                                        optimizer: [:], lossWeighting: [:], rngState: try Torch.rngState())
            let url = folder.file("c.h5")
            try checkpoint.write(to: url)
            let read = try Checkpoint.read(from: url)
            try b.load(read.model)
            a.eval()
            b.eval()
            let (x, y) = (try a(input), try b(input))
            #expect(try x.features.array(Float.self) == y.features.array(Float.self))
            #expect(try x.reconstruction!.array(Float.self) == y.reconstruction!.array(Float.self))
            #expect(try read.rngState!.array(UInt8.self) == checkpoint.rngState!.array(UInt8.self))
        }
    }

    /// Stopping after 3 of 4 steps and resuming ends with exactly the weights of an uninterrupted run.
    @Test func resumeEqualsTheUninterruptedRun() throws {
        try Torch.exclusiveRandomness {
            let folder = try TemporaryFolder()
            let url = try TrainingFixture.dataset(in: folder)
            let config = TrainingFixture.config(epochs: 2, stepsPerEpoch: 2)
            var whole = Trainer.Options(dataset: url, run: folder.file("whole"))
            whole.seed = 5
            #expect(try Trainer(config: config, options: whole).run() == .finished(epochs: 2))

            var parts = Trainer.Options(dataset: url, run: folder.file("parts"))
            parts.seed = 5
            let stop = StopRequest()
            let first = try Trainer(config: config, options: parts)
            let outcome = try first.run(stop: stop) { if $0.step == 3 { stop.request("test") } }
            #expect(outcome == .stopped(signal: "test", epoch: 1, batch: 1))
            parts.resume = true
            #expect(try Trainer(config: config, options: parts).run() == .finished(epochs: 2))

            let a = try Checkpoint.read(from: folder.file("whole/checkpoint_last.h5"))
            let b = try Checkpoint.read(from: folder.file("parts/checkpoint_last.h5"))
            #expect(a.state == b.state)
            #expect(Set(a.model.keys) == Set(b.model.keys) && !a.model.isEmpty)
            for name in a.model.keys.sorted() {
                #expect(try a.model[name]!.array(Double.self) == b.model[name]!.array(Double.self), "\(name) differs after resume")
            }
            for name in a.optimizer.keys.sorted() {
                #expect(try a.optimizer[name]!.array(Double.self) == b.optimizer[name]!.array(Double.self), "optimizer \(name) differs")
            }
            let file = try HDF5.File.open(folder.file("parts/checkpoint_last.h5"))
            let violations = try JSONSchema.file("checkpoint.schema.json").validate(HDF5Tree.describe(file))
            #expect(violations.isEmpty, "\(violations)")
            let metrics = try String(contentsOf: folder.file("parts/metrics.csv"), encoding: .utf8)
            #expect(metrics == (try String(contentsOf: folder.file("whole/metrics.csv"), encoding: .utf8)))
        }
    }

    /// `model.spacingMM: []` plans the downsamplings for the spacing the model trains at: the training subjects'
    /// own (the fixture's [4, 3, 3]), or with `loader.spacingMM` [6, 1.5, 1.5] what resampling gives them: 5 slices
    /// of 32 / 5 = 6.4 mm over the 8 x 4 mm field of view, so the first two downsamplings keep D. The checkpoint
    /// stores the resolved spacing, the predictor plans the same downsamplings from it, and the unresolved config
    /// resumes the run.
    @Test func anEmptyModelSpacingFollowsTheTrainingSpacing() throws {
        try Torch.exclusiveRandomness {
            let folder = try TemporaryFolder()
            let url = try TrainingFixture.dataset(in: folder)
            var config = TrainingFixture.config(epochs: 1, stepsPerEpoch: 1)
            config.model.spacingMM = []
            let plain = try Trainer(config: config, options: Trainer.Options(dataset: url, run: folder.file("plain")))
            #expect(plain.config.model.spacingMM == [4, 3, 3])

            config.loader.spacingMM = [6, 1.5, 1.5]
            var options = Trainer.Options(dataset: url, run: folder.file("thick"))
            let trainer = try Trainer(config: config, options: options)
            let plan = [[1, 2, 2], [1, 2, 2], [2, 2, 2]]
            #expect(trainer.config.model.spacingMM == [6.4, 1.5, 1.5])
            #expect(try trainer.loader.reader.geometry(of: trainer.loader.labelledIDs[0]).spacingMM == [6.4, 1.5, 1.5])
            #expect(PoolingPlan.factors(trainer.config.model) == plan)
            #expect(trainer.loader.config.cropDivisor == [2, 8, 8])
            _ = try trainer.run()
            let checkpointURL = folder.file("thick/checkpoint_last.h5")
            let checkpoint = try Checkpoint.read(from: checkpointURL)
            let stored = try TrainingConfig.decode(try JSONValue.parse(Data(checkpoint.config.utf8), source: "checkpoint"), source: "checkpoint")
            #expect(stored.model.spacingMM == [6.4, 1.5, 1.5] && checkpoint.dataset?.spacingMM == [6.4, 1.5, 1.5])
            #expect(PoolingPlan.mismatch(stored.model, trainingSpacingMM: [6.4, 1.5, 1.5]) == nil)
            #expect(PoolingPlan.factors(try Predictor(checkpoint: checkpointURL).config.model) == plan)
            options.resume = true
            config.train.epochs = 2
            #expect(try Trainer(config: config, options: options).run() == .finished(epochs: 2))

            config.loader.spacingMM = [0, 1.5, 1.5]
            #expect { try Trainer(config: config, options: Trainer.Options(dataset: url, run: folder.file("zero"))) } throws: {
                "\($0)".contains("spacingMM")
            }
        }
    }

    @Test func resumingNeedsACheckpointAndStartingNeedsAFreshFolder() throws {
        // Building a trainer draws initial weights from the process-wide generator.
        try Torch.exclusiveRandomness {
            let folder = try TemporaryFolder()
            let url = try TrainingFixture.dataset(in: folder)
            let config = TrainingFixture.config(epochs: 1, stepsPerEpoch: 1)
            var options = Trainer.Options(dataset: url, run: folder.file("run"))
            options.resume = true
            #expect { try Trainer(config: config, options: options) } throws: { "\($0)".contains("has no checkpoint_last.h5") }
            options.resume = false
            _ = try Trainer(config: config, options: options).run()
            #expect { try Trainer(config: config, options: options) } throws: { "\($0)".contains("already holds a run") }
            var other = config
            other.train.learningRate = 1
            options.resume = true
            #expect { try Trainer(config: other, options: options) } throws: { "\($0)".contains("train.learningRate") }
        }
    }

    /// A model segments at least the dataset's structures: one without the rib class is refused a dataset that names
    /// ribs, naming the file and the key; a dataset written before the rib class (six structure names, no rib
    /// voxels) still trains the seven-class model.
    @Test func theModelSegmentsEveryStructureTheDatasetNames() throws {
        try Torch.exclusiveRandomness {
            let folder = try TemporaryFolder()
            let url = try TrainingFixture.dataset(in: folder)
            #expect(try DatasetReader(url: url).header.structureNames.last == "rib")
            var config = TrainingFixture.config(epochs: 1, stepsPerEpoch: 1)
            config.model.structureClasses = 6
            #expect { try Trainer(config: config, options: Trainer.Options(dataset: url, run: folder.file("a"))) } throws: {
                "\($0)" == "\(url.path) names 7 structures (structure_names), the model config segments 6 (model.structureClasses): set it to at least 7"
            }
            #expect(!FileManager.default.fileExists(atPath: folder.file("a").path))
            // The pre-rib dataset: the same subjects with ribs relabelled background, and six structure names.
            let old = folder.file("old.h5")
            var subjects = try TestData.phantomSubjects(count: 8)
            for k in subjects.indices {
                subjects[k].structureLabels = subjects[k].structureLabels.map { $0 == StructureLabel.rib.rawValue ? 0 : $0 }
            }
            var header = TestData.header(for: subjects)
            header.structureNames.removeLast()
            let members = subjects.map { Splitting.Member(id: $0.id, stratum: Splitting.stratum(of: $0.vertebrae)) }
            try DatasetFile.create(at: old, header: header, provenance: Provenance(command: "test")) { writer in
                for s in subjects { try writer.add(s) }
                try writer.add(try Splitting.holdout(members, val: 0.25, test: 0, seed: 0))
            }
            #expect(try DatasetValidator().validate(old).isEmpty)
            config.model.structureClasses = 7
            #expect(try Trainer(config: config, options: Trainer.Options(dataset: old, run: folder.file("b"))).run() == .finished(epochs: 1))
        }
    }
}

struct StartPriorTrainingTests {
    /// The checkpoint counts where the labelled training subjects' fields of view start (their most cranial level,
    /// from the generator's own subjects here), and the Predictor decodes with that prior.
    @Test func theCheckpointRecordsWhereFieldsOfViewStartAndThePredictorUsesIt() throws {
        try Torch.exclusiveRandomness {
            let folder = try TemporaryFolder()
            let url = try TrainingFixture.dataset(in: folder)
            let trainer = try Trainer(config: TrainingFixture.config(epochs: 1, stepsPerEpoch: 1), options: Trainer.Options(dataset: url, run: folder.file("run")))
            _ = try trainer.run()
            let subjects = Dictionary(uniqueKeysWithValues: try TestData.phantomSubjects(count: 8).map { ($0.id, $0) })
            var expected = [Int](repeating: 0, count: VertebraLevel.anatomicalIDs.count)
            var expectedWhole = expected
            for id in trainer.loader.labelledIDs {
                let vertebrae = try #require(subjects[id]?.vertebrae)
                let first = try #require(vertebrae.map { VertebraLevel.anatomicalIDs.firstIndex(of: $0.level.id)! }.min())
                expected[first] += 1
                let firstWhole = try #require(vertebrae.filter { !$0.cutByFieldOfView }.map { VertebraLevel.anatomicalIDs.firstIndex(of: $0.level.id)! }.min())
                expectedWhole[firstWhole] += 1
            }
            #expect(expected.reduce(0, +) == trainer.loader.labelledIDs.count && !trainer.loader.labelledIDs.isEmpty)
            #expect(expected != expectedWhole, "the fixture's fields of view should cut a first vertebra somewhere")
            let checkpoint = try Checkpoint.read(from: folder.file("run").appendingPathComponent("checkpoint_last.h5"))
            #expect(checkpoint.dataset?.firstLevelCounts == expected)
            #expect(checkpoint.dataset?.firstWholeLevelCounts == expectedWhole)
            let predictor = try Predictor(checkpoint: folder.file("run").appendingPathComponent("checkpoint_last.h5"))
            #expect(predictor.options.decoder.sequence.startPrior == LevelSequenceDecoder.startPrior(counts: expectedWhole))
            #expect(predictor.options.decoder.sequence.startPrior != nil && predictor.options.decoder.sequence.priorOnFirstWhole)
        }
    }
}

struct RegionTrainingVoxelsTests {
    /// With `model.regionTrainingVoxels: segmentedBone` the spinal-region head pools each labelled vertebra's voxels
    /// the segmentation calls vertebral bone (body, lesion, posterior elements), computed here independently from the
    /// batch's arrays; with `vertebra`, the whole labelled vertebra.
    @Test(arguments: [ModelConfig.RegionTrainingVoxels.vertebra, .segmentedBone])
    func theRegionHeadPoolsTheVoxelsInferenceWouldPool(voxels: ModelConfig.RegionTrainingVoxels) throws {
        try Torch.exclusiveRandomness(seed: 5) {
            let folder = try TemporaryFolder()
            let url = try TrainingFixture.dataset(in: folder)
            var config = TrainingFixture.config(epochs: 1)
            config.model.regionTrainingVoxels = voxels
            let trainer = try Trainer(config: config, options: Trainer.Options(dataset: url, run: folder.file("run")))
            trainer.model.eval()
            let batch = try #require(try trainer.loader.validationBatches().first { $0.vertebrae.contains { $0.hasRegion } })
            let output = try Torch.noGrad { try trainer.model(batch.image) }
            let trained = try #require(try Torch.noGrad { try trainer.spinalRegions(output, batch) })
            let shape = Array(batch.levels.shape.dropFirst()), n = shape.reduce(1, *)
            let levels = try batch.levels.contiguous().array(Int64.self)
            let structures = try output.segmentation!.argmax(dim: 1).contiguous().array(Int64.self)
            var regions: [(sample: Int, mask: Tensor)] = []
            var restrictedSome = false
            for v in batch.vertebrae where v.hasRegion && SpinalRegion.index(ofLevelID: v.levelID) != nil {
                let index = Int64(LevelIndex.index(ofLevelID: v.levelID))
                let base = v.sample * n
                let whole = (0..<n).map { levels[base + $0] == index }
                let bone = (0..<n).map { whole[$0] && [1, 4, 5].contains(structures[base + $0]) }
                let mask = voxels == .segmentedBone && bone.contains(true) ? bone : whole
                restrictedSome = restrictedSome || mask != whole
                regions.append((v.sample, try Tensor(mask.map { $0 ? Float(1) : 0 }, shape: shape)))
            }
            try #require(regions.count == trained.targets.count && !regions.isEmpty)
            #expect(restrictedSome == (voxels == .segmentedBone), "an untrained segmentation calls some labelled voxels something else")
            let expected = try Torch.noGrad { try trainer.model.classifyRegions(features: output.features, context: trainer.model.context(output), regions: regions) }
            #expect(try (trained.logits - expected).abs().max().item() < 1e-5)
        }
    }
}

struct ClassifierRegionTrainingTests {
    /// A vertebra whose class is labelled but not its voxels (`classOnly` subjects) is classified over the voxels where
    /// the level head's winning level is its own, weighted by that level's probability (computed here independently
    /// from the logits), not over the whole crop; one whose level wins nowhere is left out.
    @Test func aVertebraWithoutVoxelLabelsIsClassifiedWhereItsLevelWins() throws {
        try Torch.exclusiveRandomness(seed: 5) {
            let folder = try TemporaryFolder()
            let url = try TrainingFixture.dataset(in: folder)
            var config = TrainingFixture.config(epochs: 1)
            config.model.classifierRegion = .vertebra
            let trainer = try Trainer(config: config, options: Trainer.Options(dataset: url, run: folder.file("run")))
            trainer.model.eval()
            var batch = try #require(try trainer.loader.validationBatches().first { $0.vertebrae.contains { $0.classIndex != nil } })
            let output = try Torch.noGrad { try trainer.model(batch.image) }
            let logits = try #require(output.levels)
            let k = logits.shape[1], shape = Array(logits.shape.dropFirst(2)), n = shape.reduce(1, *)
            let values = try logits.contiguous().array(Float.self)
            // The winning level and its softmax probability at every voxel of every sample.
            var winner = [Int](repeating: 0, count: values.count / k), probability = [Float](repeating: 0, count: winner.count)
            for sample in 0..<logits.shape[0] {
                for voxel in 0..<n {
                    let row = (0..<k).map { values[(sample * k + $0) * n + voxel] }
                    let top = row.indices.max { row[$0] < row[$1] }!
                    winner[sample * n + voxel] = top
                    probability[sample * n + voxel] = 1 / row.map { exp($0 - row[top]) }.reduce(0, +)
                }
            }
            // The first classified vertebra loses its voxel labels and takes the level that wins most voxels of its
            // sample (the untrained head's regions are not the vertebrae); a copy of it takes a level that wins nowhere.
            let first = try #require(batch.vertebrae.firstIndex { $0.classIndex != nil })
            let winners = winner[(batch.vertebrae[first].sample * n)..<((batch.vertebrae[first].sample + 1) * n)]
            let counts = (1..<k).map { index in winners.count { $0 == index } }
            let most = try #require(counts.indices.max { counts[$0] < counts[$1] }.map { $0 + 1 })
            batch.vertebrae[first].levelID = try #require(LevelIndex.levelID(ofIndex: most))
            batch.vertebrae[first].hasRegion = false
            let nowhere = VertebraLevel.anatomicalIDs.first { !winners.contains(LevelIndex.index(ofLevelID: $0)) }
            var second = batch.vertebrae[first]
            if let nowhere { second.levelID = nowhere }
            batch.vertebrae.append(second)
            let (classified, kept) = try Torch.noGrad { try trainer.classification(output, batch) }
            let trained = try #require(classified)
            let v = batch.vertebrae[first], index = LevelIndex.index(ofLevelID: v.levelID)
            let mask = (0..<n).map { winner[v.sample * n + $0] == index ? probability[v.sample * n + $0] : 0 }
            try #require(mask.contains { $0 > 0 })
            #expect(mask.contains(0), "the region is not the whole crop")
            let expected = try Torch.noGrad {
                try trainer.model.classify(features: output.features, image: batch.image, regions: [(v.sample, try Tensor(mask, shape: shape))])
            }
            let row = try #require(kept.vertebrae.indices.first { !kept.vertebrae[$0].hasRegion })
            #expect(try (trained[.at(row)] - expected[.at(0)]).abs().max().item() < 1e-5)
            if nowhere != nil {
                #expect(kept.vertebrae.count == batch.vertebrae.filter { $0.classIndex != nil }.count - 1, "the vertebra whose level wins nowhere is left out")
            }
        }
    }

    /// With `model.minimumClassRegionShare`, training leaves out each labelled vertebra whose body voxels are fewer
    /// than that share of the median over its sample's uncut vertebrae, counted here independently from the
    /// batch's arrays; with a share of 0 it keeps every one.
    @Test func trainingLeavesOutVertebraeWithTooLittleInView() throws {
        try Torch.exclusiveRandomness(seed: 5) {
            let folder = try TemporaryFolder()
            let url = try TrainingFixture.dataset(in: folder)
            var config = TrainingFixture.config(epochs: 1)
            config.model.classifierRegion = .body
            config.model.minimumClassRegionShare = 0.6
            let trainer = try Trainer(config: config, options: Trainer.Options(dataset: url, run: folder.file("run")))
            config.model.minimumClassRegionShare = 0
            let keepsAll = try Trainer(config: config, options: Trainer.Options(dataset: url, run: folder.file("run0")))
            trainer.model.eval()
            var leftOut = 0
            let training = try (0..<trainer.loader.batchesPerEpoch).map { try trainer.loader.batch(epoch: 0, index: $0) }
            for batch in try training + trainer.loader.validationBatches() {
                let labelled = batch.vertebrae.filter { $0.classIndex != nil }
                guard labelled.allSatisfy(\.hasRegion) else { continue }
                let output = try Torch.noGrad { try trainer.model(batch.image) }
                let (_, kept) = try Torch.noGrad { try trainer.classification(output, batch) }
                let (_, all) = try Torch.noGrad { try keepsAll.classification(output, batch) }
                #expect(all.vertebrae.count == labelled.count)
                let shape = Array(batch.levels.shape.dropFirst()), n = shape.reduce(1, *)
                let levels = try batch.levels.contiguous().array(Int64.self)
                let structures = try batch.structures.contiguous().array(Int64.self)
                let known = try batch.structuresKnown.contiguous().array(Float.self)
                func body(_ v: VertebraTarget) -> Double {
                    let index = Int64(LevelIndex.index(ofLevelID: v.levelID)), base = v.sample * n
                    return Double((0..<n).count { levels[base + $0] == index && (known[base + $0] == 0 || [1, 4].contains(structures[base + $0])) })
                }
                var expected: [(Int, Int)] = []
                for sample in 0..<batch.count {
                    let rows = labelled.filter { $0.sample == sample }
                    let whole = rows.filter { !$0.isCut }.map(body).filter { $0 > 0 }.sorted()
                    let median = whole.isEmpty ? 0 : whole.count % 2 == 1 ? whole[whole.count / 2] : (whole[whole.count / 2 - 1] + whole[whole.count / 2]) / 2
                    for v in rows where whole.isEmpty || body(v) >= 0.6 * median { expected.append((v.sample, v.levelID)) }
                }
                #expect(kept.vertebrae.map(\.sample) == expected.map(\.0) && kept.vertebrae.map(\.levelID) == expected.map(\.1))
                leftOut += labelled.count - kept.vertebrae.count
            }
            #expect(leftOut > 0, "some vertebra had too little in view")
        }
    }

    /// With `model.classifierRegion: body` training classifies each labelled vertebra over its voxels labelled body
    /// or lesion (and those of unknown structure), computed here independently from the batch's arrays; with
    /// `segmentedBody`, over those the segmentation head calls so.
    @Test(arguments: [ModelConfig.ClassifierRegion.body, .segmentedBody])
    func trainingPoolsTheBodyOfEachLabelledVertebra(region: ModelConfig.ClassifierRegion) throws {
        try Torch.exclusiveRandomness(seed: 5) {
            let folder = try TemporaryFolder()
            let url = try TrainingFixture.dataset(in: folder)
            var config = TrainingFixture.config(epochs: 1)
            config.model.classifierRegion = region
            let trainer = try Trainer(config: config, options: Trainer.Options(dataset: url, run: folder.file("run")))
            trainer.model.eval()
            let batch = try #require(try trainer.loader.validationBatches().first { $0.vertebrae.contains { $0.hasRegion && $0.classIndex != nil } })
            let output = try Torch.noGrad { try trainer.model(batch.image) }
            let (logits, kept) = try Torch.noGrad { try trainer.classification(output, batch) }
            let shape = Array(batch.levels.shape.dropFirst()), n = shape.reduce(1, *)
            let levels = try batch.levels.contiguous().array(Int64.self)
            let structures = region == .body ? try batch.structures.contiguous().array(Int64.self)
                : try output.segmentation!.argmax(dim: 1).contiguous().array(Int64.self)
            let known = region == .body ? try batch.structuresKnown.contiguous().array(Float.self) : [Float](repeating: 1, count: levels.count)
            var regions: [(sample: Int, mask: Tensor)] = []
            var rows: [Int] = []
            var restrictedSome = false
            for (row, v) in kept.vertebrae.enumerated() where v.hasRegion {
                rows.append(row)
                let index = Int64(LevelIndex.index(ofLevelID: v.levelID))
                let base = v.sample * n
                let whole = (0..<n).map { levels[base + $0] == index }
                let body = (0..<n).map { whole[$0] && (known[base + $0] == 0 || [1, 4].contains(structures[base + $0])) }
                let mask = body.contains(true) ? body : whole
                restrictedSome = restrictedSome || mask != whole
                regions.append((v.sample, try Tensor(mask.map { $0 ? Float(1) : 0 }, shape: shape)))
            }
            try #require(!regions.isEmpty)
            if region == .body { #expect(restrictedSome, "the labelled posterior elements are left out") }
            let expected = try Torch.noGrad { try trainer.model.classify(features: output.features, image: batch.image, regions: regions) }
            let trained = try #require(logits)
            for (i, row) in rows.enumerated() {
                let difference = try (trained[.at(row)] - expected[.at(i)]).abs().max().item()
                #expect(difference < 1e-5)
            }
        }
    }
}
