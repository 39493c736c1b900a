import Foundation
import Logging
import Torch

/// The reference benchmark behind `rachis bench run`: on one training config and dataset it measures
///
/// - the training step, split into waiting for data, forward (model and losses), backward and optimizer;
/// - the data loader alone (its prefetching path, nothing else running);
/// - inference on one whole validation volume (`Predictor`, network only and with decoding);
/// - peak resident memory after training and after inference;
/// - achieved FLOP/s against the machine's measured single-precision matrix-multiply rate.
///
/// FLOPs of a training step are counted as 3 × the forward FLOPs of `ModelSummary` (a backward pass costs about
/// twice the forward: gradients of the inputs and of the weights), at the step's batch and crop.
public struct TrainingBenchmark: Sendable {
    public struct Options: Sendable {
        public var steps = 10
        public var warmup = 2
        public var loaderBatches = 20
        public var inferenceRepeats = 3
        public var seed: UInt64 = 0
        /// Where to write a Chrome trace of the timed training steps' libtorch operators (nil: none). The profiler
        /// slows the steps it records, so the timings of a traced run are not the benchmark's.
        public var trace: String?
        public init() {}
    }

    /// Median, mean, minimum and maximum of a series of seconds.
    public struct Seconds: Codable, Sendable, Equatable {
        public var median: Double
        public var mean: Double
        public var min: Double
        public var max: Double

        public init(_ values: [Double]) {
            let sorted = values.sorted()
            let n = sorted.count
            median = n == 0 ? .nan : n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
            mean = n == 0 ? .nan : sorted.reduce(0, +) / Double(n)
            min = sorted.first ?? .nan
            max = sorted.last ?? .nan
        }
    }

    public struct Result: Codable, Sendable {
        public var config: String
        public var dataset: String
        public var libtorch: String
        public var threads: Int
        public var channelsLast: Bool
        public var batchSize: Int
        public var crop: [Int]
        public var steps: Int
        public var warmup: Int
        /// Whole steps, data waits included (what training sees).
        public var stepSeconds: Seconds
        public var dataSeconds: Seconds
        public var forwardSeconds: Seconds
        public var backwardSeconds: Seconds
        public var optimizerSeconds: Seconds
        /// batch / median step.
        public var samplesPerSecond: Double
        /// batch / median (forward + backward + optimizer): the rate if data never kept the step waiting.
        public var computeSamplesPerSecond: Double
        /// The loader alone, through its prefetching workers.
        public var loaderSamplesPerSecond: Double
        /// loaderSamplesPerSecond / computeSamplesPerSecond (the target is 3 or more).
        public var loaderHeadroom: Double
        /// Whole decoded volumes the loader held after training (`loader.cacheMB`), in MiB: part of the peak RSS.
        public var loaderCacheMB: Double
        public var inferenceShape: [Int]
        public var inferenceWindows: Int
        /// The model's forward pass alone on one whole volume (padded to the model's divisor), no gradients: the
        /// figure to compare with another framework's forward.
        public var inferenceForwardSeconds: Seconds
        /// The network part of `Predictor` on one whole volume (z-scoring, padding or windows, blending).
        public var inferenceNetworkSeconds: Seconds
        /// `Predictor.predict`: the network and the decoding into vertebrae.
        public var inferenceSeconds: Seconds
        public var peakRSSMBAfterTraining: Double
        public var peakRSSMB: Double
        public var forwardFLOPsPerStep: Int
        public var trainingFLOPsPerStep: Int
        public var achievedGFLOPs: Double
        /// The processor's float32 peak on the threads used: cores × clock × FLOPs per cycle (two FMA units:
        /// 64 with AVX-512, 32 with AVX2+FMA, else 8), from /proc/cpuinfo; nil where that cannot be read.
        public var peakGFLOPs: Double?
        public var peakBasis: String
        public var fractionOfPeak: Double?
        /// libtorch's float32 matrix multiply, 2048 × 2048, on the same threads (it shows the BLAS libtorch was
        /// built with: Debian's libtorch uses the system's reference BLAS unless an optimised one is installed).
        public var matmulGFLOPs: Double
    }

    public let config: TrainingConfig
    public let configName: String
    public let dataset: URL
    public let options: Options

    public init(config: TrainingConfig, configName: String, dataset: URL, options: Options = Options()) {
        (self.config, self.configName, self.dataset, self.options) = (config, configName, dataset, options)
    }

    /// Peak resident set size of this process so far, in MiB (getrusage's ru_maxrss / 1024 on Linux).
    public static func peakRSSMB() -> Double {
        var usage = rusage()
        #if os(Linux)
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_maxrss) / 1024
        #else
        getrusage(RUSAGE_SELF, &usage)
        return Double(usage.ru_maxrss) / 1024 / 1024
        #endif
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
    static func since(_ start: UInt64) -> Double { Double(now() - start) / 1e9 }

    /// GFLOP/s of an n × n float32 matrix product (best of `repeats`, after a warm-up).
    public static func matmulGFLOPs(n: Int = 2048, repeats: Int = 5) throws -> Double {
        let a = try Tensor.rand([n, n]), b = try Tensor.rand([n, n])
        _ = try a.matmul(b)
        var best = Double.infinity
        for _ in 0..<repeats {
            let start = now()
            _ = try a.matmul(b)
            best = Swift.min(best, since(start))
        }
        return 2 * Double(n * n * n) / best / 1e9
    }

    /// See `Result.peakGFLOPs`.
    public static func processorPeak(threads: Int) -> (gflops: Double?, basis: String) {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return (nil, "no /proc/cpuinfo") }
        let lines = text.split(separator: "\n")
        func field(_ name: String) -> String? {
            lines.first { $0.hasPrefix(name) }.flatMap { $0.split(separator: ":", maxSplits: 1).last }.map { $0.trimmingCharacters(in: .whitespaces) }
        }
        guard let mhz = field("cpu MHz").flatMap(Double.init), let flags = field("flags")?.split(separator: " ") else {
            return (nil, "/proc/cpuinfo has no cpu MHz or flags")
        }
        let (perCycle, isa) = flags.contains("avx512f") ? (64.0, "AVX-512") : flags.contains("avx2") && flags.contains("fma") ? (32.0, "AVX2+FMA") : (8.0, "SSE")
        let cores = Swift.min(threads, ProcessInfo.processInfo.activeProcessorCount)
        return (Double(cores) * mhz / 1000 * perCycle,
                String(format: "%d cores x %.2f GHz x %.0f FLOP/cycle (%@, 2 FMA units)", cores, mhz / 1000, perCycle, isa))
    }

    public func run(progress: (String) -> Void = { _ in }) throws -> Result {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("rachis-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        var trainerOptions = Trainer.Options(dataset: dataset, run: scratch)
        trainerOptions.seed = options.seed
        var logger = Logger(label: "rachis.bench")
        logger.logLevel = .warning
        let trainer = try Trainer(config: config, options: trainerOptions, logger: logger)
        let batchSize = config.loader.batchSize
        let crop = trainer.loader.config.cropSize

        progress("loader alone: \(options.loaderBatches) batches")
        let loaderRate = try trainer.loader.measureThroughput(batches: options.loaderBatches)

        progress("training: \(options.warmup) warm-up and \(options.steps) timed steps, batch \(batchSize), crop \(crop)")
        var data: [Double] = [], forward: [Double] = [], backward: [Double] = [], optimizer: [Double] = [], step: [Double] = []
        var epoch = 0
        trainer.model.train()
        // One stream across the warm-up and the timed steps; a new epoch's stream when one runs out.
        var stream = trainer.loader.batches(epoch: epoch)
        defer { stream.cancel() }
        func steps(_ count: Int, timed: Bool) throws {
            var done = 0
            while done < count {
                let start = Self.now()
                guard let batch = try stream.next() else {
                    stream.cancel()
                    epoch += 1
                    stream = trainer.loader.batches(epoch: epoch)
                    continue
                }
                let wait = Self.since(start)
                _ = try trainer.trainStep(batch, epoch: epoch)
                let total = Self.since(start)
                if timed {
                    let t = trainer.lastStepTiming
                    data.append(wait); forward.append(t.forward); backward.append(t.backward); optimizer.append(t.optimizer); step.append(total)
                }
                done += 1
            }
        }
        try steps(options.warmup, timed: false)
        if let trace = options.trace {
            progress("recording the timed steps' operators to \(trace)")
            try Torch.profile(to: trace) { try steps(options.steps, timed: true) }
        } else {
            try steps(options.steps, timed: true)
        }
        let rssTraining = Self.peakRSSMB()

        let summary = try ModelSummary.run(trainer.model, crop: crop, batch: batchSize)
        let matmul = try Self.matmulGFLOPs()

        progress("inference: \(options.inferenceRepeats) passes over one whole volume")
        try trainer.folder.create()
        try trainer.saveLast()
        var predictorOptions = Predictor.Options()
        predictorOptions.allowSpacingMismatch = true
        let predictor = try Predictor(checkpoint: trainer.folder.lastCheckpoint, options: predictorOptions, logger: logger)
        let reader = trainer.loader.reader
        guard let subject = trainer.loader.validationIDs.first ?? trainer.loader.labelledIDs.first else {
            throw LoaderError.emptySplit(file: dataset.path, split: config.loader.split, part: "validation")
        }
        let input = try predictor.input(dataset: reader, subject: subject)
        var network: [Double] = [], whole: [Double] = [], forwardOnly: [Double] = []
        var windows = 1
        _ = try predictor.maps(image: input.image, geometry: input.geometry, source: subject)
        let shape = input.geometry.shape
        let volume = try Tensor(input.image, shape: [1, config.model.inChannels] + shape)
            .paddingEnd(from: shape, to: LoaderConfig.roundUp(shape, to: SpineModel.requiredDivisor(config.model)))
        let x = config.train.channelsLast ? try volume.channelsLast3d() : volume
        predictor.model.eval()
        for _ in 0..<options.inferenceRepeats {
            var start = Self.now()
            try Torch.noGrad { _ = try predictor.model(x) }
            forwardOnly.append(Self.since(start))
            start = Self.now()
            windows = try predictor.maps(image: input.image, geometry: input.geometry, source: subject).windows
            network.append(Self.since(start))
            start = Self.now()
            _ = try predictor.predict(id: subject, image: input.image, geometry: input.geometry, source: input.source)
            whole.append(Self.since(start))
        }

        let stepStats = Seconds(step)
        let compute = Seconds(zip(zip(forward, backward), optimizer).map { $0.0 + $0.1 + $1 })
        let computeRate = Double(batchSize) / compute.median
        let trainingFLOPs = 3 * summary.totalFLOPs
        let achieved = Double(trainingFLOPs) / compute.median / 1e9
        let peak = Self.processorPeak(threads: Torch.threads)
        return Result(
            config: configName, dataset: dataset.path, libtorch: Torch.version, threads: Torch.threads,
            channelsLast: config.train.channelsLast, batchSize: batchSize, crop: crop, steps: options.steps, warmup: options.warmup,
            stepSeconds: stepStats, dataSeconds: Seconds(data), forwardSeconds: Seconds(forward), backwardSeconds: Seconds(backward),
            optimizerSeconds: Seconds(optimizer), samplesPerSecond: Double(batchSize) / stepStats.median,
            computeSamplesPerSecond: computeRate, loaderSamplesPerSecond: loaderRate, loaderHeadroom: loaderRate / computeRate,
            loaderCacheMB: Double(trainer.loader.reader.cachedBytes) / 1_048_576,
            inferenceShape: input.geometry.shape, inferenceWindows: windows, inferenceForwardSeconds: Seconds(forwardOnly), inferenceNetworkSeconds: Seconds(network),
            inferenceSeconds: Seconds(whole), peakRSSMBAfterTraining: rssTraining, peakRSSMB: Self.peakRSSMB(),
            forwardFLOPsPerStep: summary.totalFLOPs, trainingFLOPsPerStep: trainingFLOPs, achievedGFLOPs: achieved,
            peakGFLOPs: peak.gflops, peakBasis: peak.basis, fractionOfPeak: peak.gflops.map { achieved / $0 }, matmulGFLOPs: matmul)
    }
}

extension TrainingBenchmark.Result {
    /// The readable table `rachis bench run` prints.
    public var table: String {
        func ms(_ s: TrainingBenchmark.Seconds) -> String { String(format: "%8.1f ms  (mean %.1f, min %.1f, max %.1f)", s.median * 1000, s.mean * 1000, s.min * 1000, s.max * 1000) }
        let shape = crop.map(String.init).joined(separator: "x")
        return [
            "Rachis benchmark: \(config) on \(dataset)",
            "libtorch \(libtorch), \(threads) threads, \(channelsLast ? "channels-last-3d" : "default memory format"), batch \(batchSize), crop \(shape), \(steps) steps after \(warmup) warm-up",
            "",
            "training step (median)",
            "  data wait   " + ms(dataSeconds),
            "  forward     " + ms(forwardSeconds),
            "  backward    " + ms(backwardSeconds),
            "  optimizer   " + ms(optimizerSeconds),
            "  whole step  " + ms(stepSeconds),
            String(format: "  throughput  %.2f samples/s (%.2f without data waits)", samplesPerSecond, computeSamplesPerSecond),
            String(format: "data loader alone  %.2f samples/s, %.1fx the training rate (%.0f MiB of decoded volumes cached)", loaderSamplesPerSecond, loaderHeadroom, loaderCacheMB),
            String(format: "inference (%@, %d window%@)  forward %.3f s, predictor's network part %.3f s, with decoding %.3f s (medians)",
                   inferenceShape.map(String.init).joined(separator: "x"), inferenceWindows, inferenceWindows == 1 ? "" : "s",
                   inferenceForwardSeconds.median, inferenceNetworkSeconds.median, inferenceSeconds.median),
            String(format: "peak resident memory  %.0f MiB after training, %.0f MiB after inference", peakRSSMBAfterTraining, peakRSSMB),
            String(format: "FLOPs  %.2f GFLOP per step (3 x forward %.2f GFLOP), %.1f GFLOP/s achieved without data waits",
                   Double(trainingFLOPsPerStep) / 1e9, Double(forwardFLOPsPerStep) / 1e9, achievedGFLOPs),
            peakGFLOPs.map { String(format: "       %.0f%% of the processor's %.1f GFLOP/s peak (%@)", 100 * achievedGFLOPs / $0, $0, peakBasis) }
                ?? "       processor peak unknown (\(peakBasis))",
            String(format: "       libtorch's 2048^2 float32 matmul: %.1f GFLOP/s", matmulGFLOPs),
        ].joined(separator: "\n")
    }
}
