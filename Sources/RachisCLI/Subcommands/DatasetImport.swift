import ArgumentParser
import Foundation
import Rachis

extension RachisCommand.Dataset {
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import NIfTI or MetaImage files listed in a manifest into a Rachis dataset file.",
            discussion: """
                The manifest is YAML (or JSON; schemas/import-manifest.schema.json) or CSV with the header \
                id,annotation,vertebrae,structures,centroids,classes,image:<channel>... (classes as L1=1;L2=0). \
                Paths are relative to the manifest's folder. The output is written atomically: on any error nothing is left behind.
                """)

        @Argument(help: "The manifest (.yaml, .yml, .json or .csv).")
        var manifest: String

        @Option(help: "The dataset file to write (.h5).")
        var out: String

        @Flag(help: "Overwrite an existing output file.")
        var force = false

        @Option(help: "Class names, comma-separated (CSV manifests only).")
        var classNames: String?

        func run() throws {
            let lock = try OutputGuard.file(out)
            defer { lock.release() }
            let names = classNames.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            let loaded = try ImportManifest.load(contentsOf: URL(fileURLWithPath: manifest), classNames: names)
            let summary = try DatasetImporter.run(loaded, to: URL(fileURLWithPath: out), overwrite: force,
                                                  command: CommandLine.arguments.map(shellQuoted).joined(separator: " "))
            print("""
                wrote \(summary.output.path)
                  subjects    \(summary.subjects)
                  vertebrae   \(summary.vertebrae) (\(summary.classifiedVertebrae) with a class)
                  classes     \(loaded.classNames.isEmpty ? "none" : loaded.classNames.joined(separator: ", "))
                  channels    \(loaded.channels.joined(separator: ", "))
                  sources     \(summary.sourceFiles) files, SHA-256 in /provenance
                  time        \(String(format: "%.2f", summary.seconds)) s
                """)
        }
    }
}

/// A command-line argument as a POSIX shell would need it quoted.
func shellQuoted(_ argument: String) -> String {
    let plain = argument.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:,+@%".contains($0) }
    return plain && !argument.isEmpty ? argument : "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
