import ArgumentParser
import Foundation
import Rachis

extension RachisCommand.Dataset {
    struct Agreement: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rater agreement: pairwise Dice, STAPLE sensitivity/specificity, Cohen's and Fleiss' kappa.",
            discussion: """
                For every subject with raters (per-rater voxel labels or per-rater vertebra classes): pairwise Dice \
                per structure and per vertebra level, STAPLE (Warfield et al. 2004) per structure with each rater's \
                sensitivity and specificity, Cohen's kappa for every pair of raters and Fleiss' kappa on the \
                per-vertebra classes; then aggregates over subjects (Fleiss' kappa pooled over all vertebrae). \
                Prints a table, or the JSON with --json; --out writes the JSON (schemas/agreement.schema.json; \
                undefined values are null). Subjects without raters are skipped and counted. A dataset without \
                any rater is not an error: the command says so and exits 0 (the JSON then has no subject).
                """)

        @Argument(help: "Dataset file (.h5).")
        var data: String

        @Flag(help: "Print the JSON report on stdout instead of the table.")
        var json = false

        @Option(help: "Write the JSON report to this file (atomically).")
        var out: String?

        @Option(help: "STAPLE prior P(T = 1): a number in [0, 1], or 'mean' for the raters' mean foreground fraction.")
        var staplePrior: String = "mean"

        @Option(help: "STAPLE stops when no sensitivity or specificity moves by more than this.")
        var stapleTolerance: Double = 1e-6

        @Option(help: "STAPLE's most EM iterations.")
        var stapleIterations: Int = 200

        func validate() throws {
            if staplePrior != "mean" {
                guard let g = Double(staplePrior), (0...1).contains(g) else {
                    throw ValidationError("--staple-prior takes 'mean' or a number in [0, 1], got \"\(staplePrior)\"")
                }
            }
            guard stapleTolerance > 0 else { throw ValidationError("--staple-tolerance must be positive, got \(stapleTolerance)") }
            guard stapleIterations >= 1 else { throw ValidationError("--staple-iterations must be at least 1, got \(stapleIterations)") }
        }

        func run() throws {
            let reader = try DatasetReader(url: URL(fileURLWithPath: data))
            try reader.requireValid()
            let prior: STAPLE.Prior = staplePrior == "mean" ? .raterMean : .global(Double(staplePrior)!)
            let staple = STAPLE(prior: prior, tolerance: stapleTolerance, maxIterations: stapleIterations)
            let progress = ProgressBar("agreement", unit: "subjects")
            let report = try AgreementReport(reader: reader, staple: staple) { progress.update($0, of: $1) }
            if let out {
                try report.write(to: URL(fileURLWithPath: out))
            }
            if json {
                print(String(decoding: try report.encoded(), as: UTF8.self))
            } else {
                print(Self.table(report))
            }
            if let out, !json { print("Agreement: \(out)") }
            if report.subjects.isEmpty {
                printError("\(data): no subject has raters (\(report.skippedSubjects.count) skipped): nothing to compare")
            }
        }

        static func value(_ x: Double, _ decimals: Int = 3) -> String {
            x.isFinite ? String(format: "%.\(decimals)f", x) : "n/a"
        }

        static func pad(_ text: String, _ n: Int) -> String { text + String(repeating: " ", count: max(0, n - text.count)) }

        /// The readable summary: one line per subject, then the aggregates per structure, level and for classes.
        static func table(_ r: AgreementReport) -> String {
            let a = r.aggregate
            var lines = ["\(a.subjects) subject\(a.subjects == 1 ? "" : "s") with raters, \(a.skipped) without (skipped)"]
            guard a.subjects > 0 else {
                lines.append("no subject has raters: nothing to compare")
                return lines.joined(separator: "\n")
            }
            let idWidth = max(7, r.subjects.map(\.subjectID.count).max() ?? 0)
            lines.append("")
            lines.append(pad("subject", idWidth) + "  raters  struct Dice  level Dice  vertebrae  Cohen κ  Fleiss κ")
            for s in r.subjects {
                lines.append(pad(s.subjectID, idWidth) + "  " + pad("\(s.raters)", 6) + "  "
                             + pad(value(nanMean(s.structures.map(\.meanDice)).mean), 11) + "  "
                             + pad(value(nanMean(s.levels.map(\.meanDice)).mean), 10) + "  "
                             + pad("\(s.classes.vertebrae)", 9) + "  " + pad(value(s.classes.meanCohenKappa), 7) + "  "
                             + value(s.classes.fleiss.kappa))
            }
            let width = max(9, a.structures.map(\.name.count).max() ?? 0)
            lines.append("")
            lines.append(pad("structure", width) + "  Dice    subjects  STAPLE sens  STAPLE spec")
            for s in a.structures {
                lines.append(pad(s.name, width) + "  " + pad(value(s.meanDice), 6) + "  " + pad("\(s.subjects)", 8) + "  "
                             + pad(value(s.meanSensitivity), 11) + "  " + value(s.meanSpecificity))
            }
            if !a.levels.isEmpty {
                lines.append("")
                lines.append("level  Dice    subjects")
                for l in a.levels { lines.append(pad(l.level, 5) + "  " + pad(value(l.meanDice), 6) + "  \(l.subjects)") }
            }
            lines.append("")
            lines.append("classes: Fleiss κ \(value(a.classes.fleiss.kappa)) over \(a.classes.vertebrae) vertebrae "
                         + "(\(a.classes.fleiss.raters) raters each); mean Cohen κ \(value(a.classes.meanCohenKappa)) over \(a.classes.subjects) subjects")
            return lines.joined(separator: "\n")
        }
    }
}
