import Foundation
import Torch

/// The training data loader: seeded, resumable batches of crops with their targets, and whole validation subjects.
///
/// Determinism contract: the order of an epoch's samples is a pure function of (seed, epoch), and the batch at
/// (epoch, index), crop offsets and augmentation included, a pure function of (seed, epoch, index). So
/// `batches(epoch: e, startingAt: k)` yields exactly the batches k, k+1, ... of an uninterrupted epoch e, whatever the
/// number of workers.
///
/// Sharding for data-parallel training: with `shard` (rank r of N) a global batch is `N · batchSize` samples and rank r
/// takes its r-th consecutive `batchSize` of them, crops and augmentation drawn exactly as for that position of the
/// global batch. So N ranks with batch size B together see, step by step, exactly the samples (and crops) that one
/// process with batch size N·B sees, and no sample twice.
public final class DataLoader: Sendable {
    /// Which share of every global batch this loader yields: rank `rank` of `count`.
    public struct Shard: Sendable, Equatable {
        public var rank: Int, count: Int
        public init(rank: Int, count: Int) { (self.rank, self.count) = (rank, count) }
        public static let whole = Shard(rank: 0, count: 1)
    }

    public let reader: DatasetReader
    public let config: LoaderConfig
    public let seed: UInt64
    public let shard: Shard
    /// The split's training ids annotated for more than autoencoding, and those annotated for nothing else.
    public let labelledIDs: [String], unlabelledIDs: [String]
    public let validationIDs: [String]
    /// Samples per epoch over all shards (a multiple of the global batch size): every labelled training subject at least once, topped up so
    /// that `unlabelledFraction` of the samples are unlabelled ones (when the split has any; at most the split's share of
    /// unlabelled subjects, `unlabelledShare`).
    public let samplesPerEpoch: Int
    let layouts: [String: SubjectLayout]
    let classCount: Int
    /// What the batches carry for the loose-label losses.
    public let targets: LooseTargets
    static let structureClasses = StructureLabel.allCases.count

    /// Samples per optimizer step over all shards: `shard.count · config.batchSize`.
    public var globalBatchSize: Int { config.batchSize * shard.count }
    public var batchesPerEpoch: Int { samplesPerEpoch / globalBatchSize }

    /// The spacing [D, H, W] in mm the loader resamples every subject to: `config.spacingMM`, or when that is empty
    /// the target spacing of the training split's subjects (`SpacingRule`, nnU-Net's rule); nil without `resample`
    /// (each subject keeps its own).
    public static func targetSpacing(reader: DatasetReader, config: LoaderConfig) throws -> [Double]? {
        try config.validate()
        return try targetSpacing(config: config) { try trainingGeometries(reader: reader, config: config) }
    }

    /// `targetSpacing` given the training subjects' stored geometries (read only when the rule needs them).
    private static func targetSpacing(config: LoaderConfig, stored: () throws -> [Geometry]) rethrows -> [Double]? {
        guard config.resample else { return nil }
        if !config.spacingMM.isEmpty { return config.spacingMM }
        let geometries = try stored()
        return SpacingRule.targetSpacing(spacingsMM: geometries.map(\.spacingMM), shapes: geometries.map(\.shape))
    }

    /// The spacing [D, H, W] in mm the model trains at: per axis, the median over the training split's subjects of
    /// their spacing as the loader gives them (the target spacing as closely as whole voxel counts allow, or their own).
    public static func trainingSpacing(reader: DatasetReader, config: LoaderConfig) throws -> [Double] {
        try config.validate()
        let stored = try trainingGeometries(reader: reader, config: config)
        let target = targetSpacing(config: config) { stored }
        let spacings = stored.map { (target.map($0.resampled(toSpacingMM:)) ?? $0).spacingMM }
        return (0..<3).map { axis in SpacingRule.percentile(spacings.map { $0[axis] }, 50) }
    }

    /// The stored geometries of the config's training split, refused when unknown or empty.
    private static func trainingGeometries(reader: DatasetReader, config: LoaderConfig) throws -> [Geometry] {
        let splits = try reader.splits()
        guard let split = splits.first(where: { $0.name == config.split }) else {
            throw LoaderError.unknownSplit(file: reader.url.path, split: config.split, available: splits.map(\.name))
        }
        guard !split.train.isEmpty else { throw LoaderError.emptySplit(file: reader.url.path, split: split.name, part: "train") }
        return try split.train.map { try reader.storedGeometry(of: $0) }
    }

    public init(reader: DatasetReader, config: LoaderConfig = LoaderConfig(), seed: UInt64, shard: Shard = .whole,
                targets: LooseTargets = LooseTargets()) throws {
        try config.validate()
        guard shard.count >= 1, (0..<shard.count).contains(shard.rank) else {
            throw LoaderError.invalidConfig(key: "shard", message: "rank \(shard.rank) is not in 0..<\(shard.count)")
        }
        let splits = try reader.splits()
        guard let split = splits.first(where: { $0.name == config.split }) else {
            throw LoaderError.unknownSplit(file: reader.url.path, split: config.split, available: splits.map(\.name))
        }
        guard !split.train.isEmpty else { throw LoaderError.emptySplit(file: reader.url.path, split: split.name, part: "train") }
        // The subjects as the model sees them: the chosen channels, at one spacing (before any layout reads a geometry).
        let names = try config.channelNames(in: reader.header, file: reader.url.path)
        var view = DatasetReader.View(channels: names == reader.header.channelNames ? nil : names.map { reader.header.channelNames.firstIndex(of: $0)! })
        view.spacingMM = try Self.targetSpacing(reader: reader, config: config)
        reader.setView(view)
        var layouts: [String: SubjectLayout] = [:]
        let descriptors = targets.descriptors == nil ? nil : Self.structureClasses
        for id in split.train + split.val where layouts[id] == nil {
            layouts[id] = try SubjectLayout(reader: reader, id: id, descriptors: descriptors)
        }
        (self.reader, self.config, self.seed, self.shard, self.layouts, self.targets) = (reader, config, seed, shard, layouts, targets)
        reader.cacheVolumes(upToBytes: config.cacheMB << 20)
        classCount = reader.header.classNames.count
        labelledIDs = split.train.filter { !layouts[$0]!.isUnlabelled }
        unlabelledIDs = split.train.filter { layouts[$0]!.isUnlabelled }
        validationIDs = split.val
        let fraction = Self.unlabelledShare(labelled: labelledIDs.count, unlabelled: unlabelledIDs.count, asked: config.unlabelledFraction)
        let samples = labelledIDs.isEmpty ? unlabelledIDs.count : Int((Double(labelledIDs.count) / (1 - fraction) - 1e-9).rounded(.up))
        let global = config.batchSize * shard.count
        samplesPerEpoch = (samples + global - 1) / global * global
    }

    /// The share of an epoch's samples drawn from unlabelled subjects: `asked` (`unlabelledFraction`), at most the
    /// split's own share of unlabelled subjects, so that an epoch does not draw an unlabelled subject more often than
    /// the labelled ones (with 2 unlabelled subjects among 29, a quarter of the samples would repeat those 2 four
    /// or five times an epoch, at a quarter of the training time).
    static func unlabelledShare(labelled: Int, unlabelled: Int, asked: Double) -> Double {
        labelled == 0 ? 1 : unlabelled == 0 ? 0 : Swift.min(asked, Double(unlabelled) / Double(labelled + unlabelled))
    }

    // MARK: Sampling

    /// The subject ids of an epoch's samples, in order. Sample j is unlabelled exactly when ⌊(j+1)f⌋ > ⌊jf⌋ (f the
    /// unlabelled share), which spreads unlabelled samples evenly over the batches; each kind is drawn from seeded
    /// shuffles of its ids, reshuffled whenever it runs out.
    public func epochOrder(_ epoch: Int) -> [String] {
        var rng = SplitMix64(seed: seed, stream: 1, UInt64(bitPattern: Int64(epoch)))
        let f = Self.unlabelledShare(labelled: labelledIDs.count, unlabelled: unlabelledIDs.count, asked: config.unlabelledFraction)
        var pools = [labelledIDs, unlabelledIDs].map { _ in [String]() }
        return (0..<samplesPerEpoch).map { j in
            let kind = (Double(j + 1) * f).rounded(.down) > (Double(j) * f).rounded(.down) ? 1 : 0
            if pools[kind].isEmpty { pools[kind] = Self.shuffled(kind == 0 ? labelledIDs : unlabelledIDs, &rng).reversed() }
            return pools[kind].removeLast()
        }
    }

    /// Fisher–Yates with `SplitMix64` (stable across Swift versions, unlike `shuffled(using:)`).
    static func shuffled<T>(_ values: [T], _ rng: inout SplitMix64) -> [T] {
        var values = values
        for i in values.indices.reversed().dropLast() { values.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        return values
    }

    /// This shard's part of the global batch at (epoch, index): a pure function of (seed, epoch, index, shard).
    public func batch(epoch: Int, index: Int) throws -> Batch {
        guard index >= 0, index < batchesPerEpoch else {
            throw LoaderError.batchOutOfRange(epoch: epoch, index: index, batchesPerEpoch: batchesPerEpoch)
        }
        // Positions in the global batch: this shard's consecutive run of batchSize.
        let first = shard.rank * config.batchSize
        let ids = epochOrder(epoch)[(index * globalBatchSize + first)..<(index * globalBatchSize + first + config.batchSize)]
        let samples = try ids.enumerated().map { k, id in
            var rng = SplitMix64(seed: seed, stream: 2, UInt64(bitPattern: Int64(epoch)), UInt64(index), UInt64(first + k))
            return try trainingSample(layouts[id]!, rng: &rng)
        }
        return try collate(samples)
    }

    /// Prefetches batches `index..<batchesPerEpoch` of an epoch on `config.workers` background threads.
    public func batches(epoch: Int, startingAt index: Int = 0) -> BatchStream {
        BatchStream(range: max(0, index)..<batchesPerEpoch, depth: config.prefetch, workers: config.workers) { [self] i in
            try batch(epoch: epoch, index: i)
        }
    }

    func trainingSample(_ layout: SubjectLayout, rng: inout SplitMix64) throws -> CropSample {
        let size = config.cropSize
        let offset = layout.cropOffset(size: size, rng: &rng)
        let a = config.augment, p = a.probability
        let flip = a.flipLeftRight && rng.bernoulli(p.flip)
        let angle = rng.bernoulli(p.rotation) ? rng.uniform(-a.rotationDegrees, a.rotationDegrees) * .pi / 180 : 0
        let gamma = rng.bernoulli(p.gamma) ? rng.uniform(a.gamma) : 1
        let scale = rng.bernoulli(p.intensityScale) ? rng.uniform(a.intensityScale) : 1
        let shift = rng.bernoulli(p.intensityShift) ? rng.uniform(a.intensityShift) : 0
        let noise = rng.bernoulli(p.noise) ? rng.uniform(a.noiseSigma) : 0
        // Drawn last (and only when it can happen), so that configs without it see the same random stream as before.
        let blur = p.blur > 0 && rng.bernoulli(p.blur) ? rng.uniform(a.blurSigma) : 0
        var sample = try read(layout, offset: offset, size: size)
        sample.transform(flip: flip, angle: angle)
        sample.blur(sigma: blur)
        sample.adjustIntensities(zscore: config.normalization == .zscore, gamma: gamma, scale: scale, shift: shift, noiseSigma: noise, rng: &rng)
        return sample
    }

    func read(_ layout: SubjectLayout, offset: [Int], size: [Int]) throws -> CropSample {
        do {
            return try CropSample(reader: reader, layout: layout, offset: offset, size: size,
                                  raters: targets.staple && layout.annotationMode.hasRaterLabels && layout.raterCount > 1)
        } catch let error as LoaderError {
            throw error
        } catch {
            throw LoaderError.sampleFailed(subject: layout.id, message: "\(error)")
        }
    }

    // MARK: Validation

    /// One batch per validation subject: the whole volume padded at the end to `cropDivisor`, no augmentation.
    public func validationBatches() throws -> [Batch] {
        try validationIDs.map { try validationBatch($0) }
    }

    public func validationBatch(_ id: String) throws -> Batch {
        let layout = try layouts[id] ?? SubjectLayout(reader: reader, id: id, descriptors: targets.descriptors == nil ? nil : Self.structureClasses)
        var sample = try read(layout, offset: [0, 0, 0], size: LoaderConfig.roundUp(layout.shape, to: config.cropDivisor))
        var rng = SplitMix64(seed: seed)
        sample.adjustIntensities(zscore: config.normalization == .zscore, gamma: 1, scale: 1, shift: 0, noiseSigma: 0, rng: &rng)
        return try collate([sample])
    }

    // MARK: Batches

    func collate(_ samples: [CropSample]) throws -> Batch {
        let first = samples[0], n = samples.count, size = first.size
        let channels = first.channels
        for s in samples where s.channels != channels || s.size != size {
            throw LoaderError.sampleFailed(subject: s.layout.id, message: "\(s.channels) channels of \(s.size) cannot join a batch of \(channels) channels of \(size)")
        }
        func float(_ volume: (CropSample) -> [UInt8]) -> [Float] { samples.flatMap { volume($0).map(Float.init) } }
        let table = LevelIndex.table
        let levels = samples.flatMap { $0.vertebraLabels.map { Int($0) < table.count ? table[Int($0)] : 0 } }
        var taskMask: [LearningTask: Tensor] = [:]
        for task in LearningTask.allCases {
            taskMask[task] = try Tensor(samples.map { $0.layout.tasks.contains(task) ? Float(1) : 0 }, shape: [n])
        }
        var batch = Batch(
            subjectIDs: samples.map(\.layout.id), cropOffsets: samples.map(\.offset), spacingMM: samples.map(\.layout.geometry.spacingMM),
            image: try Tensor(samples.flatMap(\.image), shape: [n, channels] + size),
            levels: try Tensor(levels, shape: [n] + size),
            levelsKnown: try Tensor(float(\.vertebraKnown), shape: [n] + size),
            structures: try Tensor(samples.flatMap { $0.structureLabels.map(Int64.init) }, shape: [n] + size),
            structuresKnown: try Tensor(float(\.structureKnown), shape: [n] + size),
            heatmap: try Tensor(samples.flatMap { $0.heatmap(sigmaMM: config.heatmapSigmaMM) }, shape: [n, 1] + size),
            taskMask: taskMask,
            vertebrae: samples.enumerated().flatMap { $1.vertebraTargets(sample: $0, classCount: classCount) })
        batch.fieldOfView = try Tensor(float(\.fieldOfView), shape: [n, 1] + size)
        try addLooseTargets(samples, to: &batch)
        return batch
    }

    /// Descriptor bounds, box maps and soft rater targets, as `targets` asks.
    func addLooseTargets(_ samples: [CropSample], to batch: inout Batch) throws {
        let n = samples.count, size = samples[0].size, s = Self.structureClasses
        if targets.descriptors != nil {
            var bounds = DescriptorBounds(samples: n, structures: s)
            for (k, sample) in samples.enumerated() { sample.addDescriptorBounds(to: &bounds, sample: k, targets: targets) }
            if (0..<n).contains(where: bounds.hasBounds) { batch.descriptorBounds = bounds }
        }
        if targets.boxes, samples.contains(where: { $0.layout.annotationMode.hasBoxLabels }) {
            let isBox = samples.map { $0.layout.annotationMode.hasBoxLabels }
            batch.boxes = try Tensor(zip(samples, isBox).flatMap { sample, box in
                box ? sample.vertebraLabels.map(Int64.init) : [Int64](repeating: 0, count: sample.voxelCount)
            }, shape: [n] + size)
            batch.boxSamples = try Tensor(isBox.map { $0 ? Float(1) : 0 }, shape: [n])
            batch.cutBoxes = Set(samples.indices.filter { isBox[$0] }.flatMap { k in
                samples[k].cutBoxLevels.map { BoxLoss.BoxKey(sample: k, id: $0) }
            })
        }
        if targets.staple, samples.contains(where: { !$0.raterStructures.isEmpty }) {
            let soft = try samples.map { sample in
                sample.raterStructures.isEmpty ? [Float](repeating: 0, count: s * sample.voxelCount) : try sample.stapleConsensus(structures: s)
            }
            batch.softStructures = try Tensor(soft.flatMap { $0 }, shape: [n, s] + size)
            batch.softSamples = try Tensor(samples.map { $0.raterStructures.isEmpty ? Float(0) : 1 }, shape: [n])
        }
    }

    // MARK: Throughput

    /// Samples per second through the prefetching path over `batches` batches (continuing into later epochs when an
    /// epoch is shorter).
    public func measureThroughput(batches: Int) throws -> Double {
        let start = ContinuousClock.now
        var done = 0, epoch = 0
        while done < batches {
            let stream = self.batches(epoch: epoch)
            while done < batches, let batch = try stream.next() { done += 1; _ = batch.count }
            epoch += 1
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return Double(done * config.batchSize) / seconds
    }
}
