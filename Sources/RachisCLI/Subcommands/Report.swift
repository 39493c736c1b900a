import ArgumentParser
import Foundation
import Rachis

extension RachisCommand {
    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write an HTML report of a predictions folder: figures, vertebra tables, a CSV.",
            discussion: """
                Reads the predictions of rachis predict (--predictions) and the images they were made from, and \
                writes into --out: index.html (with --evaluation, a summary of its metrics with their counts and \
                rules, the confusion matrix, a reliability diagram and per-level agreement; then one row per subject, \
                with its own identification rate when evaluated), <id>.html per subject (the mid-sagittal slice of \
                each channel with the vertebra regions coloured by their class decision and the centroids labelled, \
                the table of vertebrae beside their true levels when evaluated, flags and warnings), images/*.png, \
                subjects/<id>.json (the prediction, schema-checked), vertebrae.csv (one row per vertebra) and, with \
                --evaluation, evaluation.json (a copy) and evaluation.html (every aggregate value). The pages need \
                no server and open from file://; tables sort by a click on a column head (inline JavaScript). Every \
                input is checked before the first file is written.
                """)

        @Option(help: "Predictions folder from rachis predict.")
        var predictions: String

        @Option(help: "Report folder (created; existing report files are replaced).")
        var out: String

        @Option(help: "Evaluation JSON from rachis evaluate (format rachis-evaluation) to summarise on the index page.")
        var evaluation: String?

        @Flag(help: PredictionFolder.allowNoManifestHelp)
        var allowNoManifest = false

        @Option(help: "Figure scale in pixels per millimetre.")
        var pixelsPerMm: Double = 3

        func validate() throws {
            guard pixelsPerMm > 0, pixelsPerMm <= 20 else { throw ValidationError("--pixels-per-mm must be in (0, 20].") }
        }

        func run() throws {
            let builder = ReportBuilder(pixelsPerMM: pixelsPerMm)
            let bar = ProgressBar("report", unit: "subjects")
            let out = URL(fileURLWithPath: self.out)
            try PredictionFolder(URL(fileURLWithPath: predictions)).requireComplete(allowNoManifest: allowNoManifest)
            let result = try OutputGuard.withFolder(self.out) {
                try builder.build(predictions: URL(fileURLWithPath: predictions), out: out,
                                  evaluation: evaluation.map { URL(fileURLWithPath: $0) }) { bar.update($0, of: $1) }
            }
            for s in result.subjects {
                let flags = s.prediction.flags.isEmpty ? "" : "  [" + s.prediction.flags.map(\.rawValue).joined(separator: ", ") + "]"
                print("\(s.id): \(s.prediction.vertebrae.count) vertebrae\(flags)")
            }
            print("Report: \(out.appendingPathComponent("index.html").path) (\(result.subjects.count) subject\(result.subjects.count == 1 ? "" : "s"), \(result.vertebrae) vertebrae)")
        }
    }
}
