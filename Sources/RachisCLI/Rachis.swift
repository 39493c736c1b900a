import ArgumentParser
import Foundation
import Rachis

@main
struct RachisCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rachis",
        abstract: "Multitask deep learning on 3D spine MRI.",
        discussion: """
            Rachis trains one model with a shared 3D encoder and heads for vertebra localization, identification, \
            per-vertebra spondyloarthritis classification, auxiliary segmentation and autoencoding, and checks with \
            voxel attributions that every per-vertebra decision comes from that vertebra.
            """,
        version: Rachis.version,
        subcommands: [Info.self, Dataset.self, Model.self, Train.self, Predict.self, Relabel.self, Evaluate.self, Report.self, Attribution.self, Bench.self, SelfTest.self]
    )

    /// As ArgumentParser's, with Foundation's file errors (`NSCocoaErrorDomain Code=513 ...`) said in one line
    /// naming the file.
    static func main() {
        do {
            try checkHelpTopic(Array(CommandLine.arguments.dropFirst()))
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: fileErrorMessage(error).map { OneLineError(description: $0) } ?? error)
        }
    }
}

extension RachisCommand {
    /// `rachis help trian` printed the root help and exited 0: an unknown command after `help` is an error.
    static func checkHelpTopic(_ arguments: [String]) throws {
        guard arguments.first == "help" else { return }
        var command: ParsableCommand.Type = RachisCommand.self
        for name in arguments.dropFirst() where !name.hasPrefix("-") {
            let known = command.configuration.subcommands
            guard let next = known.first(where: { $0._commandName == name }) else {
                throw ValidationError("unknown command \"\(name)\"; commands: \(known.map { $0._commandName }.joined(separator: ", "))")
            }
            command = next
        }
    }
}

struct OneLineError: Error, CustomStringConvertible {
    var description: String
}

/// A Foundation file error as one line naming the file ("cannot write /x/e.json: permission denied"), with a
/// temporary file of an atomic write named as the file it was to become; nil for other errors.
func fileErrorMessage(_ error: Swift.Error) -> String? {
    let ns = error as NSError
    guard ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain,
          let path = ns.userInfo[NSFilePathErrorKey] as? String ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path else { return nil }
    let url = URL(fileURLWithPath: path)
    let named = TemporaryFiles.target(of: url.lastPathComponent).map { url.deletingLastPathComponent().appendingPathComponent($0).path } ?? path
    // Foundation's read errors are codes 256-511, its write errors 512 and up.
    let verb = ns.domain != NSCocoaErrorDomain ? "use" : ns.code >= 512 ? "write" : ns.code >= 256 ? "read" : "use"
    return "cannot \(verb) \(named): \(FileErrors.reason(error))"
}
