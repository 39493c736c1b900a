import ArgumentParser
import Foundation
import Rachis

extension RachisCommand {
    struct Model: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Inspect the multitask model a config describes.",
            subcommands: [Summary.self])
    }
}

extension RachisCommand.Model {
    struct Summary: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per-layer output shapes, parameters and FLOPs of one forward pass, with totals.",
            discussion: "FILE is a training config (YAML or JSON), checked as `rachis train` checks it; its `model` section is summarised.")

        @Option(help: "Training config file (YAML or JSON) with a `model` section.")
        var config: String

        @Option(help: "Crop shape D,H,W in voxels.")
        var crop: String = "24,96,64"

        @Option(help: "Batch size of the dummy input.")
        var batch: Int = 1

        @Option(help: "Also time this many forward and forward+backward passes (run it on a release build).")
        var time: Int = 0

        @Flag(help: "Time with the input in channels-last-3d memory format.")
        var channelsLast = false

        @Flag(help: "Print JSON.")
        var json = false

        func validate() throws {
            guard batch >= 1 else { throw ValidationError("--batch must be at least 1, got \(batch)") }
            guard time >= 0 else { throw ValidationError("--time must be 0 or more, got \(time)") }
        }

        func run() throws {
            let shape = try parseShape(crop, option: "--crop")
            let modelConfig = try TrainingConfig.load(URL(fileURLWithPath: config)).model
            let model = try SpineModel(modelConfig)
            let summary = try ModelSummary.run(model, crop: shape, batch: batch)
            let timing = time > 0 ? try ModelTiming.measure(model, crop: shape, batch: batch, repeats: time, channelsLast: channelsLast) : nil
            if json {
                struct Report: Encodable { var summary: ModelSummary; var timing: ModelTiming? }
                try printJSON(Report(summary: summary, timing: timing))
                return
            }
            print(summary.table)
            if let timing {
                print(String(format: "Timing %@%@ (mean of %d): forward %.3f s, forward+backward %.3f s",
                             "\(timing.inputShape)", channelsLast ? " channels-last" : "", timing.repeats, timing.forwardSeconds, timing.forwardBackwardSeconds))
            }
        }
    }
}
