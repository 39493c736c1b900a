import ArgumentParser

extension RachisCommand {
    struct Dataset: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build, import, export, inspect, validate and split spine datasets (HDF5); measure rater agreement.",
            subcommands: [Synth.self, Import.self, Export.self, Inspect.self, Validate.self, Split.self, Agreement.self])
    }
}
