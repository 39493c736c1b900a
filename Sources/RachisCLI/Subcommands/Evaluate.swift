import ArgumentParser
import Foundation
import Rachis

extension RachisCommand {
    struct Evaluate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Evaluate a predictions folder against the ground truth of a dataset.",
            discussion: """
                Compares every <id>.json (and its label maps) in --predictions, from rachis predict, with its subject \
                in --data: identification rate (VerSe's get_hits, 20 mm; and a strict rule) and localization \
                distance, per-vertebra classification (AUC, balanced accuracy, sensitivity, specificity, F1, confusion \
                matrix, calibration; overall and per level), Dice and HD95 per structure (MONAI's and medpy's HD95), \
                and the autoencoder's PSNR. A subject with an exact truth group (phantoms: /subjects/<id>/truth) is \
                scored against it; the others against their annotation, with Dice and HD95 only for voxel-exact \
                annotations (full, partial). Writes the per-subject and aggregated values and each figure's \
                definition to --out (schemas/evaluation.schema.json; undefined values are null) and prints a summary.
                """)

        @Option(help: "Predictions folder from rachis predict.")
        var predictions: String

        @Option(help: "Dataset file (.h5) with the ground truth.")
        var data: String

        @Option(help: "Output JSON file (default: <predictions>/evaluation.json).")
        var out: String?

        @Flag(help: PredictionFolder.allowNoManifestHelp)
        var allowNoManifest = false

        @Option(help: "HD95 definition of hd95MM and the table: monai (max of the two directed 95th percentiles) or medpy (95th percentile of the pooled distances). Both are always in the JSON.")
        var hd95: HD95Definition = .monai

        func run() throws {
            let folder = PredictionFolder(URL(fileURLWithPath: predictions))
            let url = out.map { URL(fileURLWithPath: $0) } ?? folder.url.appendingPathComponent("evaluation.json")
            // What evaluate writes is locked: the predictions folder when the evaluation goes into it (predict and
            // attribution validate lock it too), else the --out file.
            let lock: OutputLock? = if out != nil {
                try OutputGuard.file(url.path)
            } else if (try? folder.url.resourceValues(forKeys: [.isDirectoryKey]))?.isDirectory == true {
                try OutputGuard.folder(folder.url.path)
            } else {
                nil
            }
            defer { lock?.release() }
            try folder.requireComplete(allowNoManifest: allowNoManifest)
            let reader = try DatasetReader(url: URL(fileURLWithPath: data))
            try reader.requireValid(subjects: try folder.subjectIDs().filter(reader.subjectIDs.contains))
            let progress = ProgressBar("evaluate", unit: "subjects")
            var evaluator = Evaluator(folder: folder, reader: reader)
            evaluator.hd95 = hd95
            let evaluation = try evaluator.evaluate { progress.update($0, of: $1) }
            try evaluation.write(to: url)
            print(Self.summary(evaluation))
            print("Evaluation: \(url.path)")
        }

        static func value(_ x: Double, _ decimals: Int = 3) -> String {
            x.isFinite ? String(format: "%.\(decimals)f", x) : "n/a"
        }

        /// A short table of the aggregate values.
        static func summary(_ e: Evaluation) -> String {
            let a = e.aggregate
            let c = a.classification.overall
            let r = a.references
            var lines: [String] = [
                "\(a.subjects) subject\(a.subjects == 1 ? "" : "s")",
                "reference                exact truth (/subjects/<id>/truth) for \(r.truth) subject\(r.truth == 1 ? "" : "s"), labels for \(r.labels)",
                "identification rate      \(value(a.localization.identificationRate))  (\(a.localization.identifiedCount)/\(a.localization.truthCount) vertebrae, VerSe get_hits)",
                "  strict rule            \(value(a.localization.strictIdentificationRate))  (\(a.localization.strictIdentifiedCount)/\(a.localization.truthCount), nearest among all true levels)",
                "localization mean        \(value(a.localization.meanDistanceMM, 2)) mm  (\(a.localization.distanceCount) vertebrae)",
            ] + (a.localization.whole.map { w in [
                "  whole vertebrae        identification \(value(w.identificationRate)) (\(w.identifiedCount)/\(w.truthCount)), localization \(value(w.meanDistanceMM, 2)) mm  (not cut by the field of view)",
            ] } ?? []) + [
                "balanced accuracy        \(value(c.balancedAccuracy))  (\(a.classification.paired) paired, \(a.classification.missed) missed\(a.classification.undecidedNote))",
                "macro AUC                \(value(c.macroAUC))",
                "ECE                      \(value(c.expectedCalibrationError))",
            ]
            let s = a.segmentation
            if !a.segmentationLeftOut.isEmpty {
                lines.append("segmentation left out   \(a.segmentationLeftOut.count) subject\(a.segmentationLeftOut.count == 1 ? "" : "s"): "
                             + a.segmentationLeftOut.map { "\($0.subjectID) (\($0.reason))" }.joined(separator: "; "))
            }
            if s.cases > 0 {
                let width = max(9, s.perStructure.map(\.name.count).max() ?? 0)
                func pad(_ text: String, _ n: Int) -> String { text + String(repeating: " ", count: max(0, n - text.count)) }
                lines.append("")
                lines.append(pad("structure", width) + "  Dice    HD95 mm  cases   (HD95: \(s.hd95Definition.rawValue); both definitions in the JSON)")
                for p in s.perStructure {
                    lines.append(pad(p.name, width) + "  " + pad(value(p.meanDice), 6) + "  " + pad(value(p.meanHD95MM, 2), 7)
                                 + "  \(p.diceCount) (\(p.bothEmpty) both empty, \(p.oneEmpty) one empty)")
                }
                lines.append("")
            }
            lines.append("PSNR                     \(value(a.reconstructionPSNR.meanDB, 2)) dB  (\(a.reconstructionPSNR.count) subjects)")
            return lines.joined(separator: "\n")
        }
    }
}

extension HD95Definition: ExpressibleByArgument {}
