import Foundation
import Logging
import Torch

/// Trains the multitask model on a dataset file into a run folder, validating every few epochs, writing
/// `checkpoint_last.h5` every epoch and `checkpoint_best.h5` on the best validation metric, and resuming exactly:
/// the same next batch, optimizer state, loss weights and RNG state, so a resumed run ends with the same weights as
/// an uninterrupted one (same seed, same threads).
///
/// With a `DistributedContext` it is one rank of a data-parallel run: every rank trains on its share of each global
/// batch (see `DataLoader.Shard`), gradients are averaged across ranks before clipping and the optimizer step, and
/// validation is shared out; only rank 0 writes the run folder. See `DistributedContext`.
public final class Trainer {
    public struct Options: Sendable {
        public var dataset: URL
        public var run: URL
        /// nil: 0 for a new run, the stored seed on resume (a different one is refused).
        public var seed: UInt64? = nil
        /// The libtorch thread count the caller set (recorded in checkpoints; nil: libtorch's current count).
        public var threads: Int? = nil
        public var device: Device = .cpu
        public var resume = false
        public init(dataset: URL, run: URL) { (self.dataset, self.run) = (dataset, run) }
    }

    /// One optimizer step, for progress display.
    public struct StepReport: Sendable {
        public var epoch: Int, epochs: Int
        public var batch: Int, batchesPerEpoch: Int
        public var step: Int
        /// Over all ranks.
        public var samplesPerSecond: Double
        public var secondsRemaining: Double
        /// This step's gradient all-reduce (0 in a single process).
        public var allReduceSeconds: Double
        public var losses: [String: Double]
        public var learningRate: Double
    }

    public enum Outcome: Equatable, Sendable {
        case finished(epochs: Int)
        /// Stopped by a signal after saving checkpoint_last.h5.
        case stopped(signal: String, epoch: Int, batch: Int)
    }

    public enum Error: Swift.Error, CustomStringConvertible {
        case runExists(String)
        case nothingToResume(String)
        case configMismatch(run: String, keys: [String])
        case seedMismatch(run: String, stored: UInt64, given: UInt64)
        case channelMismatch(dataset: String, channels: Int, model: Int)
        case classMismatch(dataset: String, classes: Int, model: Int)
        case structureMismatch(dataset: String, structures: Int, model: Int)
        case nonFiniteLoss(epoch: Int, batch: Int, subjects: [String])

        public var description: String {
            switch self {
            case let .runExists(path): "\(path) already holds a run: pass --resume to continue it, or choose another --run folder"
            case let .nothingToResume(path): "\(path) has no checkpoint_last.h5 to resume from"
            case let .configMismatch(run, keys):
                "the config differs from the one \(run) was started with (\(keys.joined(separator: ", "))); resume without --config, or start a new run"
            case let .seedMismatch(run, stored, given):
                "\(run) was started with --seed \(stored); resuming it with --seed \(given) would not continue the same run: drop --seed (or pass --seed \(stored))"
            case let .channelMismatch(dataset, channels, model):
                "\(dataset) has \(channels) image channels, the model config expects \(model) (model.inChannels)"
            case let .classMismatch(dataset, classes, model):
                "\(dataset) names \(classes) vertebra classes, the model config has \(model) (model.classes)"
            case let .structureMismatch(dataset, structures, model):
                "\(dataset) names \(structures) structures (structure_names), the model config segments \(model) (model.structureClasses): set it to at least \(structures)"
            case let .nonFiniteLoss(epoch, batch, subjects):
                "the loss is not finite at epoch \(epoch + 1), batch \(batch + 1) (subjects \(subjects.joined(separator: ", "))); lower train.learningRate or check those subjects with rachis dataset validate"
            }
        }
    }

    public let config: TrainingConfig
    public let options: Options
    public let folder: RunFolder
    public let model: SpineModel
    public let loss: MultitaskLoss
    public let loader: DataLoader
    public let optimizer: any Optimizer
    public let schedule: any LearningRateSchedule
    public internal(set) var state: Checkpoint.State
    /// The rows of metrics.csv so far.
    public var history: [[String: Double]] { log.rows }
    /// The epochs' rows and the running sums of the epoch in progress (kept in checkpoints so resumed logs match).
    private var log = TrainingLog()
    let logger: Logger
    let stepsPerEpoch: Int
    /// Set in a data-parallel run.
    public let distributed: DistributedContext?
    /// Whether this process writes the run folder (rank 0, or a single process).
    public var isMain: Bool { distributed?.isMain ?? true }
    /// Stored in every checkpoint for inference's input checks.
    let trainingData: Checkpoint.TrainingData
    /// The seed and threads the run was started with, stored in every checkpoint for `--resume`.
    public let runSettings: Checkpoint.RunSettings

    /// - Parameter distributed: the process group of a data-parallel run, joined before: every rank constructs its
    ///   trainer with the same config, dataset and seed.
    public init(config: TrainingConfig, options: Options, logger: Logger = Logger(label: "rachis.train"),
                distributed: DistributedContext? = nil) throws {
        self.options = options
        self.logger = logger
        self.distributed = distributed
        folder = RunFolder(options.run)
        let reader = try DatasetReader(url: options.dataset)
        // What validate refuses is refused here too, in the subjects training reads (an unknown split is the loader's error).
        try reader.requireValid(subjects: try reader.splits().first { $0.name == config.loader.split }.map { $0.train + $0.val } ?? [])
        // `model.spacingMM: []` plans the downsamplings for the spacing the model trains at; the config stored in every
        // checkpoint (and compared on resume) holds that spacing.
        let trainingSpacing = try DataLoader.trainingSpacing(reader: reader, config: config.loader)
        var config = config
        if config.model.spacingMM.isEmpty { config.model.spacingMM = trainingSpacing }
        self.config = config
        let channelNames = try config.loader.channelNames(in: reader.header, file: options.dataset.path)
        guard channelNames.count == config.model.inChannels else {
            throw Error.channelMismatch(dataset: options.dataset.path, channels: channelNames.count, model: config.model.inChannels)
        }
        guard reader.header.classNames.count == config.model.classes else {
            throw Error.classMismatch(dataset: options.dataset.path, classes: reader.header.classNames.count, model: config.model.classes)
        }
        guard reader.header.structureNames.count <= config.model.structureClasses else {
            throw Error.structureMismatch(dataset: options.dataset.path, structures: reader.header.structureNames.count, model: config.model.structureClasses)
        }
        let checkpoint: Checkpoint?
        if options.resume {
            guard FileManager.default.fileExists(atPath: folder.lastCheckpoint.path) else { throw Error.nothingToResume(options.run.path) }
            checkpoint = try Checkpoint.read(from: folder.lastCheckpoint)
            let stored = try JSONValue.parse(Data(checkpoint!.config.utf8), source: folder.lastCheckpoint.path)
            // Only the number of epochs may change on resume (to train longer or stop earlier).
            let differing = Self.differences(stored, try config.json()).filter { $0 != "train.epochs" }
            guard differing.isEmpty else { throw Error.configMismatch(run: options.run.path, keys: differing) }
            if let stored = checkpoint!.run, let given = options.seed, given != stored.seed {
                throw Error.seedMismatch(run: options.run.path, stored: stored.seed, given: given)
            }
        } else {
            // Only rank 0 owns the run folder (other ranks may see it on a shared file system).
            if distributed?.isMain ?? true, FileManager.default.fileExists(atPath: folder.lastCheckpoint.path) { throw Error.runExists(options.run.path) }
            checkpoint = nil
        }

        let seed = options.seed ?? checkpoint?.run?.seed ?? 0
        runSettings = Checkpoint.RunSettings(seed: seed, threads: options.threads ?? Torch.threads)
        if let stored = checkpoint?.run, stored.threads != runSettings.threads {
            logger.warning("resuming with a different thread count: results may differ slightly from an uninterrupted run",
                           metadata: ["threads": "\(runSettings.threads)", "started with": "\(stored.threads)"])
        }
        Torch.manualSeed(seed)
        model = try SpineModel(config.model)
        // Crops must be divisible by what the model's downsampling needs.
        var loaderConfig = config.loader
        let divisor = SpineModel.requiredDivisor(config.model)
        loaderConfig.cropDivisor = zip(loaderConfig.cropDivisor, divisor).map { a, b in a * b / Self.gcd(a, b) }
        loader = try DataLoader(reader: reader, config: loaderConfig, seed: seed,
                                shard: distributed.map { DataLoader.Shard(rank: $0.rank, count: $0.worldSize) } ?? .whole,
                                targets: LooseTargets(loss: config.loss))
        // From each labelled training subject's vertebra table: the class counts (class weights), the region counts
        // of the vertebrae that train identification (region weights), and the most cranial level, of all vertebrae
        // and of those the field of view does not cut (the level decoder's start prior, stored in the checkpoint).
        var classCounts = [Int](repeating: 0, count: config.model.classes)
        var firstLevelCounts = [Int](repeating: 0, count: VertebraLevel.anatomicalIDs.count)
        var firstWholeLevelCounts = firstLevelCounts
        var regionCounts = [Int](repeating: 0, count: SpinalRegion.count)
        for id in loader.labelledIDs {
            let vertebrae = try reader.vertebrae(of: id)
            for v in vertebrae { if let c = v.classIndex, c < classCounts.count { classCounts[c] += 1 } }
            for v in vertebrae where v.annotation.tasks.contains(.identification) { if let r = SpinalRegion.index(ofLevelID: v.level.id) { regionCounts[r] += 1 } }
            if let first = vertebrae.map(\.level.anatomicalOrder).min() { firstLevelCounts[first] += 1 }
            if let first = vertebrae.filter({ !$0.cutByFieldOfView }).map(\.level.anatomicalOrder).min() { firstWholeLevelCounts[first] += 1 }
        }
        var structureCounts: [Int]? = nil
        if config.loss.structureWeights == .balanced {
            let classes = config.model.structureClasses
            structureCounts = try loader.labelledIDs.reduce(into: [Int](repeating: 0, count: classes)) { total, id in
                for (c, n) in try reader.annotatedStructureCounts(of: id, classes: classes).enumerated() { total[c] += n }
            }
        }
        loss = try MultitaskLoss(config: config.loss, classCounts: classCounts, structureCounts: structureCounts, regionCounts: regionCounts)
        if let weights = loss.segmentation.classWeights {
            logger.info("segmentation structure weights", metadata: ["weights": "\(weights.map { ($0 * 1000).rounded() / 1000 })"])
        }
        if let weights = loss.identification.regionWeights {
            logger.info("spinal-region weights", metadata: ["counts": "\(regionCounts)", "weights": "\(weights.map { ($0 * 1000).rounded() / 1000 })"])
        }
        trainingData = Checkpoint.TrainingData(
            name: reader.header.name, channelNames: channelNames, classNames: reader.header.classNames,
            structureNames: reader.header.structureNames,
            spacingMM: trainingSpacing,
            firstLevelCounts: firstLevelCounts, firstWholeLevelCounts: firstWholeLevelCounts)
        if let advice = PoolingPlan.mismatch(config.model, trainingSpacingMM: trainingData.spacingMM) { logger.warning("\(advice)") }
        try model.move(to: options.device)
        if config.train.channelsLast { try model.channelsLast3d() }
        try loss.move(to: options.device)
        let parameters = model.namedParameters() + loss.namedParameters().map { ("loss." + $0.name, $0.parameter) }
        optimizer = try config.train.makeOptimizer(parameters)
        let perEpoch = config.train.stepsPerEpoch > 0 ? Swift.min(config.train.stepsPerEpoch, loader.batchesPerEpoch) : loader.batchesPerEpoch
        stepsPerEpoch = Swift.max(1, perEpoch)
        schedule = config.train.makeSchedule(stepsPerEpoch: stepsPerEpoch)
        state = Checkpoint.State(bestMetric: config.train.bestMetric)

        if let checkpoint {
            try model.load(checkpoint.model)
            try loss.load(checkpoint.lossWeighting)
            try optimizer.load(state: checkpoint.optimizer)
            if let rng = checkpoint.rngState { try Torch.setRNGState(rng) }
            state = checkpoint.state
            log = try TrainingLog(stored: checkpoint.history)
            logger.info("resuming", metadata: ["epoch": "\(state.epoch + 1)", "batch": "\(state.nextBatch + 1)", "step": "\(state.step)"])
        }
        if let distributed {
            // Every rank starts from rank 0's weights, at the same step.
            try distributed.requireSameState(state)
            try distributed.broadcastFromMain(model.state().map(\.tensor) + loss.state().map(\.tensor))
        }
    }

    /// The keys a step may log, in a fixed order (what ranks sum in `synchronizeStep`).
    static let stepLossKeys = ["loss.total", "loss.attribution"] + LossTerm.allCases.map { "loss." + $0.rawValue }
        + LearningTask.allCases.flatMap { ["loss." + $0.rawValue, "weight." + $0.rawValue] }

    static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }

    /// Dotted keys whose values differ between two configs.
    static func differences(_ a: JSONValue, _ b: JSONValue, path: String = "") -> [String] {
        if case let .object(x) = a, case let .object(y) = b {
            return Set(x.keys).union(y.keys).sorted().flatMap { key in
                differences(x[key] ?? .null, y[key] ?? .null, path: path.isEmpty ? key : path + "." + key)
            }
        }
        return a == b ? [] : [path]
    }

    public func run(stop: StopRequest = StopRequest(), onStep: (StepReport) -> Void = { _ in }) throws -> Outcome {
        if isMain {
            try folder.create()
            try AtomicFile.write(Data(try config.json().jsonText.utf8), to: folder.config)
        }
        let ranks = distributed?.worldSize ?? 1
        let epochs = config.train.epochs
        let clock = Date()
        var trained = 0
        while state.epoch < epochs {
            let epoch = state.epoch
            loss.epoch = epoch
            model.train()
            let stream = loader.batches(epoch: epoch, startingAt: state.nextBatch)
            defer { stream.cancel() }
            // This epoch's training steps in this process (validation excluded), for the throughput in the log.
            let epochClock = ContinuousClock.now
            var epochSamples = 0
            while state.nextBatch < stepsPerEpoch, let batch = try stream.next() {
                let learningRate = schedule.learningRate(at: state.step)
                optimizer.learningRate = learningRate
                let (losses, stopAgreed) = try trainStep(batch, epoch: epoch, stopRequested: stop.requested != nil)
                let allReduceSeconds = distributed?.lastAllReduceSeconds ?? 0
                log.addStep(distributed == nil ? losses : losses.merging(["allreduceSeconds": allReduceSeconds]) { $1 })
                state.step += 1
                state.nextBatch += 1
                trained += batch.count * ranks
                epochSamples += batch.count * ranks
                let elapsed = Date().timeIntervalSince(clock)
                let rate = Double(trained) / Swift.max(elapsed, 1e-9)
                let remainingSteps = (epochs - epoch - 1) * stepsPerEpoch + (stepsPerEpoch - state.nextBatch)
                onStep(StepReport(epoch: epoch, epochs: epochs, batch: state.nextBatch, batchesPerEpoch: stepsPerEpoch, step: state.step,
                                  samplesPerSecond: rate, secondsRemaining: Double(remainingSteps * loader.globalBatchSize) / Swift.max(rate, 1e-9),
                                  allReduceSeconds: allReduceSeconds, losses: losses, learningRate: learningRate))
                // A single process looks at the request as it stands now; ranks act on what they agreed in the step.
                if distributed == nil ? stop.requested != nil : stopAgreed {
                    let signal = stop.requested ?? Self.otherRankSignal
                    if isMain {
                        try saveLast()
                        logger.notice("stopped by \(signal); saved \(folder.lastCheckpoint.path)")
                    }
                    return .stopped(signal: signal, epoch: epoch, batch: state.nextBatch)
                }
            }
            var row = log.closeEpoch(epoch, learningRate: schedule.learningRate(at: Swift.max(0, state.step - 1)))
            // Timing goes to the log, not to metrics.csv (which a resumed run reproduces exactly).
            let throughput = epochSamples == 0 ? "" : String(format: " %.2f samples/s", Double(epochSamples) / Swift.max(DistributedContext.seconds(ContinuousClock.now - epochClock), 1e-9))
            state.epoch += 1
            state.nextBatch = 0
            var improved = false
            var validationTime = ""
            if state.epoch % config.train.validateEvery == 0 || state.epoch == epochs {
                let validationClock = ContinuousClock.now
                let metrics = try validate()
                validationTime = String(format: ", validation %.1f s", DistributedContext.seconds(ContinuousClock.now - validationClock))
                row.merge(metrics) { $1 }
                improved = TrainingLog.recordBest(metrics, metric: config.train.bestMetric, higherIsBetter: config.train.bestMetricHigherIsBetter,
                                                  epochs: state.epoch, in: &state)
            }
            log.append(row)
            if isMain {
                try folder.writeMetrics(history)
                try folder.writeProgress(history)
                try saveLast()
                if improved { try FileManager.default.copyItemReplacing(folder.lastCheckpoint, to: folder.bestCheckpoint) }
            }
            let summary = row.keys.sorted().filter { $0 != "epoch" }.map { "\($0)=\(String(format: "%.4g", row[$0]!))" }.joined(separator: " ")
            let brief = [("train", "train.loss.total"), ("val", "val.loss.total"), ("dice", "val.metric.dice"),
                         ("balancedAccuracy", "val.metric.balancedAccuracy"), ("identificationRate", "val.metric.identificationRate")]
                .compactMap { name, key in row[key].map { "\(name)=\(String(format: "%.3f", $0))" } }.joined(separator: " ")
            if isMain {
                logger.info("epoch \(state.epoch)/\(epochs) \(brief)\(throughput) (all values in metrics.csv)")
                folder.appendLog("epoch \(state.epoch)/\(epochs) \(summary)\(throughput)\(validationTime)")
            }
            let stopNow = try distributed.map { try $0.any(stop.requested != nil) } ?? (stop.requested != nil)
            if stopNow { return .stopped(signal: stop.requested ?? Self.otherRankSignal, epoch: state.epoch, batch: 0) }
        }
        return .finished(epochs: epochs)
    }

    /// The stop reason of a rank that received no signal itself.
    static let otherRankSignal = "a stop request on another rank"

    /// Class logits for the batch's vertebrae that have a class and a region: the labelled region when the labels
    /// cover it, else the identification head's soft region (`SoftRegions`, detached), each restricted by
    /// `SpineModel.classifierRegion`. A vertebra with neither is left out, and so is one with too little of itself in
    /// view (`ModelConfig.minimumClassRegionShare`). Returns the logits and the batch restricted
    /// to exactly those vertebrae, in the same order.
    func classification(_ output: ModelOutput, _ batch: Batch) throws -> (Tensor?, Batch) {
        var restricted = batch
        guard config.model.heads.classification else {
            restricted.vertebrae = []
            return (nil, restricted)
        }
        // Only vertebrae the labels give a class but no region (`classOnly` subjects) need the level head's regions.
        let needsSoftRegions = batch.vertebrae.contains { $0.classIndex != nil && !$0.hasRegion }
        let soft = needsSoftRegions ? try output.levels.map(SoftRegions.init) : nil
        // With `model.classifierRegion: body`, each region keeps its voxels labelled body or lesion (and those of
        // unknown structure), as inference keeps those the segmentation calls so.
        let allowed: Tensor? = switch config.model.classifierRegion {
        case .vertebra: nil
        case .body: try SpineModel.bodyVoxels(structures: batch.structures, known: batch.structuresKnown)
        case .segmentedBody: try Self.segmented(output).map { try SpineModel.bodyVoxels(structures: $0) }
        }
        var regions: [(sample: Int, mask: Tensor)] = []
        var kept: [VertebraTarget] = []
        var voxels: [Double] = []
        for vertebra in batch.vertebrae where vertebra.classIndex != nil {
            let index = LevelIndex.index(ofLevelID: vertebra.levelID)
            let mask: Tensor
            if vertebra.hasRegion {
                mask = try batch.labelledRegion(of: vertebra)
            } else if let soft {
                mask = try soft.region(sample: vertebra.sample, index: index)
                guard try mask.gt(0).any().item() != 0 else { continue }
            } else {
                continue
            }
            regions.append((vertebra.sample, try model.classifierRegion(mask, allowed: allowed?[.at(vertebra.sample)]).to(device: options.device)))
            kept.append(vertebra)
            if config.model.minimumClassRegionShare > 0 {
                let evidence = try allowed.map { try mask * $0[.at(vertebra.sample)] } ?? mask
                voxels.append(try evidence.gt(0.5).sum().item())
            }
        }
        // A sliver the field of view or the crop cuts is left out, as inference leaves it undecided; with no body
        // segmented anywhere in a sample yet (early in training) every region keeps its fallback.
        if config.model.minimumClassRegionShare > 0 {
            var large = [Bool](repeating: true, count: kept.count)
            for sample in Set(kept.map(\.sample)) {
                let rows = kept.indices.filter { kept[$0].sample == sample }
                let verdict = SpineModel.largeEnoughToClassify(voxels: rows.map { voxels[$0] }, cut: rows.map { kept[$0].isCut },
                                                               minimumShare: config.model.minimumClassRegionShare)
                for (row, ok) in zip(rows, verdict) { large[row] = ok }
            }
            regions = regions.indices.filter { large[$0] }.map { regions[$0] }
            kept = kept.indices.filter { large[$0] }.map { kept[$0] }
        }
        restricted.vertebrae = kept
        guard !regions.isEmpty else { return (nil, restricted) }
        return (try model.classify(features: output.features, image: batch.image, regions: regions), restricted)
    }

    /// Each level's soft region from identification logits `[N, LevelIndex.count, D, H, W]` (detached): the level's
    /// probability at the voxels where it wins (argmax), 0 elsewhere, as inference's regions hold the voxels decoded
    /// to their vertebra. A softmax is small but never 0 where the level loses, so the whole probability map spread
    /// the region over every vertebra of the sample: the local branch of `localInside` then read other vertebrae's
    /// voxels, and the common pooling window of every vertebra in the batch (`SpineModel.pool`) grew to the whole
    /// spine.
    struct SoftRegions {
        /// `[N, LevelIndex.count, D, H, W]` softmax probabilities.
        let probabilities: Tensor
        /// `[N, D, H, W]` the winning level index of every voxel.
        let winners: Tensor

        init(levels: Tensor) throws {
            let logits = try levels.detached()
            probabilities = try logits.softmax(dim: 1)
            winners = try logits.argmax(dim: 1)
        }

        /// `[D, H, W]`: the region of level index `index` in sample `sample`.
        func region(sample: Int, index: Int) throws -> Tensor {
            try probabilities[.at(sample), .at(index)] * winners[.at(sample)].eq(Double(index)).to(probabilities.dtype)
        }
    }

    /// The segmentation's structure of every voxel `[N, D, H, W]` (int64, detached), or nil without the head.
    static func segmented(_ output: ModelOutput) throws -> Tensor? {
        try output.segmentation.map { try $0.detached().argmax(dim: 1) }
    }

    /// Spinal-region logits for the batch's vertebrae whose region the labels give (nil without the region head),
    /// each region restricted by `SpineModel.regionTrainingRegion`.
    func spinalRegions(_ output: ModelOutput, _ batch: Batch) throws -> RegionLogits? {
        guard config.model.heads.identification else { return nil }
        let bone: Tensor? = config.model.regionTrainingVoxels == .segmentedBone
            ? try Self.segmented(output).map { try SpineModel.boneVoxels(structures: $0) } : nil
        var regions: [(sample: Int, mask: Tensor)] = []
        var targets: [Int] = []
        for vertebra in batch.vertebrae where vertebra.hasRegion {
            guard let target = SpinalRegion.index(ofLevelID: vertebra.levelID) else { continue }
            regions.append((vertebra.sample, try model.regionTrainingRegion(batch.labelledRegion(of: vertebra), bone: bone?[.at(vertebra.sample)])))
            targets.append(target)
        }
        guard !regions.isEmpty else { return nil }
        return RegionLogits(logits: try model.classifyRegions(features: output.features, context: model.context(output), regions: regions),
                            targets: targets)
    }

    /// What `forward` computed on a batch.
    struct ForwardPass {
        /// Every loss, and the total to differentiate.
        var breakdown: LossBreakdown
        var output: ModelOutput
        /// Class logits of `batch.vertebrae` (`classification(_:_:)`); nil without the classification head or when no
        /// vertebra could be classified.
        var classLogits: Tensor?
        /// The batch on the device, restricted to the vertebrae `classLogits` are for.
        var batch: Batch
        /// The image as the model saw it (requiring grad with `inputGradients`).
        var image: Tensor
    }

    /// The model and every loss on a batch. With `inputGradients` the image requires grad (for the attribution
    /// constraint).
    /// In data-parallel training (`shareAcrossRanks`), each task loss is rescaled by this rank's share of the step's
    /// annotated count (`DistributedContext.taskShares`), so the ranks' mean gradient is the combined batch's.
    func forward(_ batch: Batch, inputGradients: Bool = false, shareAcrossRanks: Bool = false) throws -> ForwardPass {
        var onDevice = try batch.to(device: options.device, channelsLast: config.train.channelsLast)
        if inputGradients { onDevice.image = try onDevice.image.detached().requiringGrad() }
        let output = try model(onDevice.image)
        let (logits, restricted) = try classification(output, onDevice)
        let terms = try loss.terms(output: output, classLogits: logits, batch: restricted)
        let shares = try shareAcrossRanks ? distributed.map { try $0.taskShares(terms.mapValues(\.count)) } : nil
        let regions = try spinalRegions(output, onDevice)
        var breakdown = try loss.combine(terms, shares: shares, extra: loss.looseTerms(output: output, batch: restricted) + loss.regionTerm(regions))
        breakdown.regions = regions
        return ForwardPass(breakdown: breakdown, output: output, classLogits: logits, batch: restricted, image: onDevice.image)
    }

    /// The attribution constraint's penalty on a batch (nil when off or when no vertebra has a labelled region):
    /// per sample, `vertebraePerSample` of its vertebrae with a class and a labelled region, taken in turn as the
    /// constrained steps (every `everySteps`-th) go by.
    func attributionPenalty(logits: Tensor?, batch: Batch, image: Tensor) throws -> Tensor? {
        let constraint = config.loss.attribution
        guard constraint.weight > 0, let logits else { return nil }
        let spacing = batch.spacingMM.first ?? config.model.spacingMM
        let margin = RegionMargin(marginMM: constraint.marginMM)
        var chosen: [AttributionPenalty.Vertebra] = []
        for sample in 0..<batch.count {
            let rows = batch.vertebrae.indices.filter { batch.vertebrae[$0].sample == sample && batch.vertebrae[$0].hasRegion }
            guard !rows.isEmpty else { continue }
            for k in 0..<Swift.min(constraint.vertebraePerSample, rows.count) {
                let row = rows[(constraint.turn(atStep: state.step) * constraint.vertebraePerSample + k) % rows.count]
                let v = batch.vertebrae[row]
                let mask = try margin.grow(batch.labelledRegion(of: v), spacingMM: spacing)
                chosen.append(AttributionPenalty.Vertebra(sample: sample, row: row, classIndex: v.classIndex!, mask: mask))
            }
        }
        return try AttributionPenalty.outsideFraction(logits: logits, input: image, vertebrae: chosen, method: constraint.method)
    }

    /// Seconds spent in each phase of the last `trainStep` (read by `rachis bench`). On a CPU every libtorch call
    /// is synchronous, so the split is exact; on CUDA the phases would need a synchronisation to be.
    public struct StepTiming: Sendable {
        /// Model, losses and the attribution penalty, up to the scalar objective.
        public var forward = 0.0
        public var backward = 0.0
        /// Averaging gradients and losses across ranks (0 in a single process).
        public var allReduce = 0.0
        /// Gradient clipping and the optimizer update.
        public var optimizer = 0.0
    }

    public private(set) var lastStepTiming = StepTiming()

    /// One optimizer step; returns the per-task losses (and "total"), averaged over the ranks in a data-parallel run,
    /// and whether to stop after it (`stopRequested` here, or on any rank).
    func trainStep(_ batch: Batch, epoch: Int, stopRequested: Bool = false) throws -> (losses: [String: Double], stop: Bool) {
        var timing = StepTiming()
        var mark = DispatchTime.now().uptimeNanoseconds
        func lap() -> Double {
            let now = DispatchTime.now().uptimeNanoseconds
            defer { mark = now }
            return Double(now - mark) / 1e9
        }
        let constrained = config.loss.attribution.isTaken(atStep: state.step)
        let pass = try forward(batch, inputGradients: constrained, shareAcrossRanks: true)
        let breakdown = pass.breakdown
        var objective = breakdown.total
        let penalty = constrained ? try attributionPenalty(logits: pass.classLogits, batch: pass.batch, image: pass.image) : nil
        if let penalty { objective = try objective + penalty * config.loss.attribution.weight }
        let total = try objective.item()
        timing.forward = lap()
        guard total.isFinite else { throw Error.nonFiniteLoss(epoch: epoch, batch: state.nextBatch, subjects: batch.subjectIDs) }
        try optimizer.zeroGrad()
        if objective.requiresGrad { try objective.backward() }
        timing.backward = lap()
        var losses = ["loss.total": total]
        if let penalty { losses["loss.attribution"] = try penalty.item() }
        for (task, term) in breakdown.tasks where term.count > 0 {
            losses["loss." + task.rawValue] = term.value
            if config.loss.weighting == .uncertainty { losses["weight." + task.rawValue] = term.weight }
        }
        for (name, term) in breakdown.extra { losses["loss." + name] = term.value }
        var (stop, update) = (stopRequested, objective.requiresGrad)
        if let distributed {
            // Every rank takes part whether or not its own batch gave a gradient.
            let agreed = try distributed.synchronizeStep(parameters: optimizer.parameters.map(\.parameter.tensor), losses: losses,
                                                         keys: Self.stepLossKeys, stop: stopRequested)
            (losses, stop, update) = (agreed.losses, agreed.stop, agreed.anyGradient)
            timing.allReduce = lap()
        }
        if update {
            // The norm of the gradient the step takes (the ranks' mean), before clipping: logged as `train.gradNorm`,
            // and with clipping on, the share of the epoch's steps it scaled down as `train.clipped`.
            let parameters = optimizer.parameters.map(\.parameter.tensor), limit = config.train.clipNorm
            let norm = limit > 0 ? try GradientClipping.clipNorm(parameters, maxNorm: limit) : try GradientClipping.norm(parameters)
            losses["gradNorm"] = norm
            if limit > 0 { losses["clipped"] = norm > limit ? 1 : 0 }
            try optimizer.step()
        }
        timing.optimizer = lap()
        lastStepTiming = timing
        return (losses, stop)
    }

    /// Validation losses and metrics over the validation split (prefixed `val.`).
    public func validate() throws -> [String: Double] {
        model.eval()
        defer { model.train() }
        return try Torch.noGrad {
            var evaluation = ValidationAccumulator(classes: config.model.classes, structureClasses: config.model.structureClasses)
            let ids = loader.validationIDs
            // Each rank runs its share of the subjects; the records are added in subject order on every rank, so
            // every rank gets the metrics one process would.
            var records: [Int: ValidationAccumulator.SubjectRecord] = [:]
            for index in distributed?.share(of: ids.count) ?? Array(ids.indices) {
                let batch = try loader.validationBatch(ids[index])
                let pass = try forward(batch)
                records[index] = try evaluation.record(batch: pass.batch, output: pass.output, classLogits: pass.classLogits, loss: pass.breakdown,
                                                       reader: loader.reader, model: model)
            }
            if let distributed {
                for share in try distributed.allGather(records, what: "validation results") { records.merge(share) { a, _ in a } }
            }
            for index in ids.indices { if let record = records[index] { try evaluation.add(record) } }
            return evaluation.result()
        }
    }

    func saveLast() throws {
        var checkpoint = Checkpoint(
            state: state, config: try config.json().jsonText,
            history: try log.stored(),
            model: Dictionary(uniqueKeysWithValues: model.state().map { ($0.name, $0.tensor) }),
            optimizer: Dictionary(uniqueKeysWithValues: try optimizer.state().map { ($0.name, $0.tensor) }),
            lossWeighting: Dictionary(uniqueKeysWithValues: loss.state().map { ($0.name, $0.tensor) }),
            rngState: try Torch.rngState())
        checkpoint.dataset = trainingData
        checkpoint.run = runSettings
        try checkpoint.write(to: folder.lastCheckpoint)
    }
}

extension FileManager {
    /// Copies `source` over `destination` atomically (a temporary copy renamed into place).
    func copyItemReplacing(_ source: URL, to destination: URL) throws {
        try AtomicFile.write(try Data(contentsOf: source), to: destination)
    }
}
