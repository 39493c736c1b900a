import ArgumentParser

extension RachisCommand {
    struct Dataset: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build, inspect and convert Rachis dataset files.",
            subcommands: [Import.self, Export.self])
    }
}
