import ArgumentParser
import Foundation
import Rachis

extension RachisCommand {
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Benchmarks (run them on a release build: swift build -c release).",
            discussion: "`rachis bench run` is the reference benchmark (training step, loader, inference, memory, FLOP/s).",
            subcommands: [Run.self, Read.self, Chunks.self])
    }
}

extension RachisCommand.Bench {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Training-step throughput split into data, forward, backward and optimizer; the loader alone; inference on a whole volume; peak memory; FLOP/s.",
            discussion: """
                Run it on a release build with nothing else running. Training steps use the config's loader, model, \
                losses and optimizer exactly as `rachis train` does (no files are written but a temporary checkpoint \
                for the inference part). Example:
                  rachis bench run --config examples/configs/base.yaml --data default.h5 --threads 2
                """)

        @Option(help: "Dataset file (.h5).")
        var data: String

        @Option(help: "Training config (YAML or JSON). Default: every key at its default.")
        var config: String?

        @Option(name: .customLong("set"), help: ArgumentHelp("Override a config key, e.g. --set loader.batchSize=4 (repeatable).", valueName: "key.path=value"))
        var overrides: [String] = []

        @Flag(help: "Channels-last-3d memory format (same as --set train.channelsLast=true).")
        var channelsLast = false

        @Option(help: "Timed training steps.")
        var steps: Int = 10

        @Option(help: "Untimed warm-up steps before them.")
        var warmup: Int = 2

        @Option(help: "Batches read by the loader-alone measurement.")
        var loaderBatches: Int = 20

        @Option(help: "Timed inference passes over one whole volume.")
        var inferenceRepeats: Int = 3

        @Option(help: "Also write the JSON result to this file.")
        var output: String?

        @Flag(help: "Print JSON instead of the table.")
        var json = false

        @Option(help: ArgumentHelp("Write the timed training steps' libtorch operators to this Chrome trace (JSON; open in Perfetto). The profiler slows the steps, so a traced run's timings are not the benchmark's; benchmarks/ops.py sums a trace per operator.", valueName: "file.json"))
        var trace: String?

        @OptionGroup var engine: EngineOptions

        func validate() throws {
            guard steps >= 1 else { throw ValidationError("--steps must be at least 1, got \(steps)") }
            guard warmup >= 0 else { throw ValidationError("--warmup must be 0 or more, got \(warmup)") }
            guard loaderBatches >= 1 else { throw ValidationError("--loader-batches must be at least 1, got \(loaderBatches)") }
            guard inferenceRepeats >= 1 else { throw ValidationError("--inference-repeats must be at least 1, got \(inferenceRepeats)") }
        }

        func run() throws {
            try engine.apply()
            var trainingConfig = try TrainingConfig.load(config.map { URL(fileURLWithPath: $0) }, overrides: overrides)
            if channelsLast { trainingConfig.train.channelsLast = true }
            var options = TrainingBenchmark.Options()
            (options.steps, options.warmup, options.loaderBatches, options.inferenceRepeats, options.seed) = (steps, warmup, loaderBatches, inferenceRepeats, engine.seed)
            options.trace = trace
            let benchmark = TrainingBenchmark(config: trainingConfig, configName: config ?? "defaults", dataset: URL(fileURLWithPath: data), options: options)
            let result = try benchmark.run { printError("bench: \($0)") }
            if let output { try AtomicFile.write(try result.prettyJSON(), to: URL(fileURLWithPath: output)) }
            if json { try printJSON(result) } else { print(result.table) }
        }
    }

    struct Read: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Dataset read speed: whole subjects, and random crops read as hyperslabs (MB/s).")

        @Argument(help: "Dataset file (.h5).")
        var data: String

        @Option(help: "Crop shape D,H,W in voxels.")
        var crop: String = "16,64,64"

        @Option(help: "Number of random crops.")
        var crops: Int = 200

        @Option(help: "Seed for the crop positions.")
        var seed: UInt64 = 0

        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            let shape = try parseShape(crop, option: "--crop")
            let result = try ReadBenchmark(cropShape: shape, crops: crops, seed: seed).run(URL(fileURLWithPath: data))
            if json {
                try printJSON(result)
                return
            }
            print(String(format: "whole subjects: %d in %.2f s, %.1f MB, %.1f MB/s", result.wholeSubjects, result.wholeSeconds, result.wholeMB, result.wholeMBPerSecond))
            print(String(format: "crops %@: %d in %.2f s, %.1f MB, %.1f MB/s, %.0f crops/s", shape.map(String.init).joined(separator: "x"),
                         result.crops, result.cropSeconds, result.cropMB, result.cropMBPerSecond, result.cropsPerSecond))
        }
    }

    struct Chunks: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "HDF5 layout of the volumes: file size, write and read MB/s (whole and random crops) per chunk shape and gzip level.",
            discussion: """
                Writes the images and vertebra labels of --subjects subjects into one scratch file per layout (in \
                --scratch, removed afterwards) and reads them back. Layouts are D,H,W chunk extents with a gzip \
                level or 'raw', e.g. --layout 16,64,64:4 --layout 16,64,64:raw. Default: the layout Rachis writes \
                (16,64,64 gzip 4) and its neighbours.
                """)

        @Argument(help: "Dataset file (.h5) whose volumes are rewritten.")
        var data: String

        @Option(name: .customLong("layout"), help: ArgumentHelp("D,H,W chunk extents and gzip level (repeatable).", valueName: "d,h,w:level|raw"))
        var layouts: [String] = []

        @Option(help: "Subjects written per layout.")
        var subjects: Int = 8

        @Option(help: "Crop shape D,H,W in voxels.")
        var crop: String = "16,64,64"

        @Option(help: "Random crops read per layout.")
        var crops: Int = 100

        @Option(help: "Folder for the scratch files.")
        var scratch: String = FileManager.default.temporaryDirectory.path

        @Option(help: "Seed for the crop positions.")
        var seed: UInt64 = 0

        @Flag(help: "Print JSON.")
        var json = false

        func validate() throws {
            guard subjects >= 1 else { throw ValidationError("--subjects must be at least 1, got \(subjects)") }
            guard crops >= 1 else { throw ValidationError("--crops must be at least 1, got \(crops)") }
        }

        static func parseLayout(_ text: String) throws -> ChunkBenchmark.Layout {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw ValidationError("--layout \(text): expected d,h,w:level or d,h,w:raw, e.g. 16,64,64:4") }
            let chunks = try parseShape(String(parts[0]), option: "--layout")
            if parts[1] == "raw" { return ChunkBenchmark.Layout(chunks: chunks, gzipLevel: nil) }
            guard let level = Int(parts[1]), (0...9).contains(level) else {
                throw ValidationError("--layout \(text): the gzip level must be 0 to 9 or raw, found \(parts[1])")
            }
            return ChunkBenchmark.Layout(chunks: chunks, gzipLevel: level)
        }

        func run() throws {
            let chosen = layouts.isEmpty ? ChunkBenchmark.defaultLayouts : try layouts.map(Self.parseLayout)
            let benchmark = ChunkBenchmark(layouts: chosen, subjects: subjects, cropShape: try parseShape(crop, option: "--crop"), crops: crops, seed: seed)
            let result = try benchmark.run(URL(fileURLWithPath: data), scratch: URL(fileURLWithPath: scratch))
            if json { try printJSON(result) } else { print(result.table) }
        }
    }
}
