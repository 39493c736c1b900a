import ArgumentParser
import Foundation
import Logging
import Rachis

extension RachisCommand {
    struct Relabel: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Turn a model's confident predictions on unlabelled voxels into pseudo-labels, in a new dataset file.",
            discussion: """
                For every subject whose structure labels leave voxels unlabelled (partial annotation), runs the model \
                --samples times with dropout active (MC dropout; at the training spacing, the mean probabilities \
                brought back onto the subject's grid unless --no-resample) and gives each unlabelled voxel the consensus class \
                when its mean probability reaches --threshold. The result is written to --out: the structure labels \
                and annotated/structures gain the pseudo-labels, pseudo/structures marks them, and everything else \
                (ground-truth voxels, vertebra labels, table, raters, splits) is copied. --data is never modified. A \
                file that already holds pseudo-labels is relabelled from its ground truth. Curriculum: train, relabel \
                at a high threshold, train on the output, relabel the original file with a lower threshold, ... \
                (examples/loose-labels/relabel-rounds.sh).
                """)

        @Option(help: "Checkpoint (.h5) from rachis train (trained with model.dropout > 0 for MC dropout).")
        var checkpoint: String

        @Option(help: "Dataset file to relabel (read only).")
        var data: String

        @Option(help: "New dataset file to write.")
        var out: String

        @Option(help: "Confidence a prediction must reach to become a pseudo-label, in (0, 1].")
        var threshold: Double = 0.9

        @Option(help: "MC-dropout passes (1: softmax confidence of one deterministic pass).")
        var samples: Int = 8

        @Flag(help: "Overwrite --out if it exists.")
        var force = false

        @Flag(help: "Run the model on each subject's own voxels instead of resampling it to the training spacing.")
        var noResample = false

        @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
        var logLevel: Logger.Level = .warning

        @OptionGroup var engine: EngineOptions

        func validate() throws {
            guard threshold > 0, threshold <= 1 else { throw ValidationError("--threshold must be in (0, 1], got \(threshold).") }
            guard samples >= 1 else { throw ValidationError("--samples must be at least 1, got \(samples).") }
        }

        func run() throws {
            try engine.apply()
            let logger = LogSetup.makeLogger(label: "rachis.relabel", level: logLevel)
            var options = Relabeler.Options()
            (options.threshold, options.samples, options.seed, options.device, options.overwrite) = (threshold, samples, engine.seed, engine.device, force)
            options.resample = !noResample
            let relabeler = try Relabeler(checkpoint: URL(fileURLWithPath: checkpoint), options: options, logger: logger)
            let command = (["rachis"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
            let lock = try OutputGuard.file(out)
            defer { lock.release() }
            let summaries = try relabeler.relabel(input: URL(fileURLWithPath: data), output: URL(fileURLWithPath: out), command: command)
            var unlabelled = 0, pseudo = 0
            for s in summaries {
                unlabelled += s.unlabelledVoxels
                pseudo += s.pseudoLabelledVoxels
                print("\(s.id): \(s.pseudoLabelledVoxels) of \(s.unlabelledVoxels) unlabelled voxels pseudo-labelled")
            }
            let share = unlabelled > 0 ? String(format: " (%.1f %%)", 100 * Double(pseudo) / Double(unlabelled)) : ""
            print("Wrote \(out): \(pseudo) pseudo-labels on \(unlabelled) unlabelled voxels\(share) in \(summaries.count) subject\(summaries.count == 1 ? "" : "s")")
        }
    }
}
