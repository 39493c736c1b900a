import ArgumentParser
import Foundation
import Logging
import Rachis
import Torch

extension RachisCommand {
    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train the multitask model on a dataset into a run folder.",
            discussion: """
                The run folder gets config.json, training.log, metrics.csv, progress.png, checkpoint_last.h5 (every \
                epoch) and checkpoint_best.h5 (best validation metric). SIGINT or SIGTERM saves checkpoint_last.h5 \
                and exits 0; --resume continues exactly where it stopped.

                Data-parallel training: start one process per rank with the same arguments plus --world-size, \
                --rank and --master (or torchrun's WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT). loader.batchSize is \
                per rank; gradients are averaged over the ranks every step; only rank 0 writes the run folder. \
                A rank that fails or dies stops the others with an error within --dist-timeout.
                """)

        @Option(help: "Dataset file (.h5).")
        var data: String?

        @Option(help: "Training config (YAML or JSON; schemas/train-config.schema.json). Default: every key at its default, or the run's config with --resume.")
        var config: String?

        @Option(name: .customLong("run"), help: "Run folder.")
        var runFolder: String?

        @Option(name: .customLong("set"), help: ArgumentHelp("Override a config key, e.g. --set train.epochs=5 (repeatable).", valueName: "key.path=value"))
        var overrides: [String] = []

        @Flag(help: "Continue the run in --run from its checkpoint_last.h5.")
        var resume = false

        @Flag(help: "Print the resolved config (every key, defaults filled in) as JSON and exit.")
        var printConfig = false

        @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
        var logLevel: Logger.Level = .info

        @OptionGroup var engine: EngineOptions

        @OptionGroup(title: "Training across processes") var processes: DistributedOptions

        func resolvedConfig() throws -> TrainingConfig {
            if let config { return try TrainingConfig.load(URL(fileURLWithPath: config), overrides: overrides) }
            if resume, let runFolder {
                let stored = URL(fileURLWithPath: runFolder).appendingPathComponent("config.json")
                if FileManager.default.fileExists(atPath: stored.path) { return try TrainingConfig.load(stored, overrides: overrides) }
            }
            return try TrainingConfig.load(nil, overrides: overrides)
        }

        func run() throws {
            let config = try resolvedConfig()
            if printConfig {
                print(try config.json().prettyText)
                return
            }
            guard let data, let run = runFolder else { throw ValidationError("--data and --run are required (or --print-config).") }
            let processGroup = try processes.settings()
            if processGroup != nil, engine.device != .cpu {
                throw ValidationError("--device \(engine.device): training across processes runs on CPU tensors (Gloo); NCCL for CUDA is not implemented. Use --device cpu.")
            }
            // A resumed run keeps the seed and threads it was started with (stored in its checkpoints).
            let stored = resume ? try? Checkpoint.runSettings(at: RunFolder(URL(fileURLWithPath: run)).lastCheckpoint) : nil
            try engine.apply(fallback: stored?.threads)
            // Ranks other than 0 only report problems.
            let level = processGroup.map { $0.rank == 0 ? logLevel : Swift.max(logLevel, .warning) } ?? logLevel
            let logger = LogSetup.makeLogger(label: "rachis.train", level: level)
            var options = Trainer.Options(dataset: URL(fileURLWithPath: data), run: URL(fileURLWithPath: run))
            options.seed = engine.givenSeed
            options.threads = Torch.threads
            options.device = engine.device
            options.resume = resume
            let stop = StopRequest()
            stop.install()
            let distributed = try processGroup.map { settings in
                logger.info("joining the process group", metadata: ["rank": "\(settings.rank)", "worldSize": "\(settings.worldSize)",
                                                                   "master": "\(settings.host):\(settings.port)"])
                return try DistributedContext(settings)
            }
            // Only rank 0 writes the run folder; it holds it from before the checks of what is there.
            let fresh = !FileManager.default.fileExists(atPath: run)
            let lock = (processGroup?.rank ?? 0) == 0 ? try OutputGuard.folder(run) : nil
            defer { lock?.release() }
            let trainer: Trainer
            do {
                trainer = try Trainer(config: config, options: options, logger: logger, distributed: distributed)
            } catch {
                lock?.release()
                if fresh { try? FileManager.default.removeItem(atPath: run) }
                throw error
            }
            let main = trainer.isMain
            let start = trainer.state
            let progress = ProgressBar("train", unit: "steps")
            let started = Date()
            let outcome = try trainer.run(stop: stop) { report in
                guard main else { return }
                let losses = report.losses.keys.sorted().filter { $0.hasPrefix("loss.") && $0 != "loss.total" }
                    .map { "\($0.dropFirst(5)) \(String(format: "%.3f", report.losses[$0]!))" }.joined(separator: " ")
                progress.update(report.batch, of: report.batchesPerEpoch,
                                detail: String(format: "epoch %d/%d  %.2f samples/s  ETA %@  loss %.3f  %@", report.epoch + 1, report.epochs,
                                               report.samplesPerSecond, ProgressBar.duration(report.secondsRemaining),
                                               report.losses["loss.total"] ?? .nan, losses)
                                    + (distributed == nil ? "" : String(format: "  all-reduce %.3f s", report.allReduceSeconds)))
            }
            let seconds = Date().timeIntervalSince(started)
            if let distributed, !main {
                switch outcome {
                case let .finished(epochs): print("Rank \(distributed.rank) of \(distributed.worldSize): trained \(Self.epochsTrained(from: start, to: epochs)); rank 0 wrote \(run).")
                case let .stopped(signal, epoch, batch): print("Rank \(distributed.rank) of \(distributed.worldSize): stopped by \(signal) at epoch \(epoch + 1), batch \(batch).")
                }
                return
            }
            switch outcome {
            case let .finished(epochs):
                print(String(format: "Trained %@ in %.0f s. Run folder: %@", Self.epochsTrained(from: start, to: epochs), seconds, run))
                if let best = trainer.state.bestValue, let epoch = trainer.state.bestEpoch {
                    print(String(format: "Best %@ = %.4f at epoch %d (checkpoint_best.h5)", trainer.state.bestMetric, best, epoch))
                }
                if let last = trainer.history.last {
                    for key in last.keys.sorted() where key.hasPrefix("val.") { print(String(format: "  %@ %.4f", key, last[key]!)) }
                }
            case let .stopped(signal, epoch, batch):
                print("Stopped by \(signal) at epoch \(epoch + 1), batch \(batch); saved \(run)/checkpoint_last.h5. Continue with --resume.")
            }
        }
    }
}

extension RachisCommand.Train {
    /// What this run trained, from where it started to `epochs`: "1 epoch", "4 epochs (3-6 of 6, resumed)", "the
    /// rest of epoch 3 and 3 more (of 6, resumed at batch 2)". A resume counts only what it ran itself.
    static func epochsTrained(from start: Checkpoint.State, to epochs: Int) -> String {
        let count = Swift.max(0, epochs - start.epoch)
        func plural(_ n: Int) -> String { n == 1 ? "1 epoch" : "\(n) epochs" }
        guard start.epoch > 0 || start.nextBatch > 0 else { return plural(count) }
        if count == 0 { return "0 epochs (the run had finished its \(plural(epochs)))" }
        let range = count == 1 ? "epoch \(start.epoch + 1) of \(epochs)" : "epochs \(start.epoch + 1)-\(epochs) of \(epochs)"
        guard start.nextBatch > 0 else { return "\(plural(count)) (\(range), resumed)" }
        let more = count - 1
        return "the rest of epoch \(start.epoch + 1)\(more > 0 ? " and \(more) more" : "") (\(range), resumed at batch \(start.nextBatch + 1))"
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

enum LogSetup {
    /// A logger writing to stderr at `level`. (Logging is bootstrapped once, by the CLI only.)
    static func makeLogger(label: String, level: Logger.Level) -> Logger {
        var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = level
        return logger
    }
}
