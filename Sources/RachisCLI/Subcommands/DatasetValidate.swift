import ArgumentParser
import Foundation
import Rachis

extension RachisCommand.Dataset {
    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a dataset against its schema and content rules; list every problem and exit non-zero if any.",
            discussion: """
                Checks the HDF5 layout (schemas/dataset.schema.json), shapes, geometry (positive spacing, orthonormal \
                direction), level ids, class indices, that each centroid lies in its vertebra, no NaN or Inf voxels, \
                and that splits name existing subjects once.
                """)

        @Argument(help: "Dataset file (.h5).")
        var data: String

        @Flag(help: "Print the problems as JSON.")
        var json = false

        func run() throws {
            let problems = try DatasetValidator().validate(URL(fileURLWithPath: data))
            if json {
                print(JSONValue.array(problems.map { .object(["object": .string($0.object), "message": .string($0.message)]) }).jsonText)
            } else if problems.isEmpty {
                print("\(data): valid")
            } else {
                for problem in problems { print(problem) }
                printError("\(data): \(problems.count) problem\(problems.count == 1 ? "" : "s")")
            }
            if !problems.isEmpty { throw ExitCode(1) }
        }
    }
}
