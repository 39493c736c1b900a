import ArgumentParser
import Foundation
import Rachis

extension RachisCommand.Dataset {
    struct Synth: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate a synthetic spine MRI dataset (T1 and STIR phantoms with labels) from a recipe.",
            discussion: "Recipes are YAML or JSON (schemas/phantom-recipe.schema.json); datasets/ ships tiny, default and shortcut.")

        @Option(help: "Recipe file (YAML or JSON).")
        var recipe: String = "datasets/default.yaml"

        @Option(name: .shortAndLong, help: "Output dataset file (.h5).")
        var out: String

        @Option(help: "Number of subjects (overrides the recipe).")
        var count: Int?

        @Option(help: "Seed (overrides the recipe).")
        var seed: UInt64?

        @Option(help: "Volume shape D,H,W in voxels (overrides the recipe, its grids included).", transform: Self.parseList)
        var shape: [Double]?

        @Option(help: "Voxel spacing D,H,W in mm (overrides the recipe, its grids included).", transform: Self.parseList)
        var spacing: [Double]?

        @Flag(help: "Overwrite an existing output file.")
        var force = false

        @OptionGroup var threads: ThreadsOption

        static func parseList(_ text: String) throws -> [Double] {
            let values = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard values.count == 3, values.allSatisfy({ $0 != nil && $0! > 0 }) else {
                throw ValidationError("expected three positive numbers separated by commas, got \"\(text)\"")
            }
            return values.map { $0! }
        }

        func run() throws {
            var recipe: PhantomRecipe
            do {
                recipe = try PhantomRecipe.load(contentsOf: URL(fileURLWithPath: self.recipe))
                if let count { recipe.count = count }
                if let seed { recipe.seed = seed }
                if let shape { (recipe.shape, recipe.grids) = (shape.map { Int($0) }, []) }
                if let spacing { (recipe.spacingMM, recipe.grids) = (spacing, []) }
                try recipe.validate()
            } catch {
                // A value's error does not know the file it came from (or the option that overrode it).
                guard case .invalidValue(let key, let reason) = error else { throw error }
                let overridden = count != nil || seed != nil || shape != nil || spacing != nil ? " (with the options given)" : ""
                throw OneLineError(description: "\(self.recipe)\(overridden): recipe key '\(key)': \(reason)")
            }
            let url = URL(fileURLWithPath: out)
            let lock = try OutputGuard.file(out)
            defer { lock.release() }
            let progress = ProgressBar("synth", unit: "subjects")
            let summary = try PhantomDataset.write(recipe: recipe, to: url, overwrite: force, command: CommandLine.arguments.joined(separator: " "),
                                                   threads: threads.count) { done, total in
                progress.update(done, of: total)
            }
            print(String(format: "Wrote %@: %d subjects, %d vertebrae, shape %@, in %.1f s (%.1f volumes/s)",
                         url.path, summary.subjects, summary.vertebrae, recipe.renderedGrids.map(\.summary).joined(separator: " or "),
                         summary.seconds, summary.volumesPerSecond))
        }
    }
}
