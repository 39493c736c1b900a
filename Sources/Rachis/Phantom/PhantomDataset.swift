import Foundation

/// Writes a phantom dataset file from a recipe: subjects generated in parallel batches, written in order, with a
/// stratified hold-out split ("holdout": 60 % train, 20 % validation, 20 % test) seeded by the recipe. Each subject's
/// exact anatomy goes under `/subjects/<id>/truth` (`SubjectTruth`), for evaluation only.
public enum PhantomDataset {
    public struct Summary: Sendable {
        public var subjects: Int
        public var vertebrae: Int
        public var seconds: Double
        public var volumesPerSecond: Double { Double(subjects) / Swift.max(seconds, 1e-9) }
    }

    /// Generates on at most `threads` threads (default: all cores); the file does not depend on it.
    public static func write(recipe: PhantomRecipe, to url: URL, overwrite: Bool, command: String, threads: Int? = nil,
                             onProgress: (Int, Int) -> Void = { _, _ in }) throws -> Summary {
        let start = Date()
        let generator = try PhantomGenerator(recipe: recipe)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let recipeText = String(decoding: try encoder.encode(recipe), as: UTF8.self)
        let header = DatasetHeader(name: recipe.name, classNames: recipe.classNames, channelNames: PhantomGenerator.channelNames)
        var members: [Splitting.Member] = []
        var vertebrae = 0
        let batch = Swift.max(2, (threads ?? ProcessInfo.processInfo.activeProcessorCount) * 2)
        try DatasetFile.create(at: url, header: header, provenance: Provenance(command: command, recipe: recipeText), overwrite: overwrite) { writer in
            var next = 0
            onProgress(0, recipe.count)
            while next < recipe.count {
                let range = next..<Swift.min(recipe.count, next + batch)
                for sample in generator.samples(range, threads: threads) {
                    let subject = sample.subject
                    try writer.add(subject, truth: sample.truth.stored)
                    members.append(Splitting.Member(id: subject.id, stratum: Splitting.stratum(of: subject.vertebrae)))
                    vertebrae += subject.vertebrae.count
                }
                next = range.upperBound
                onProgress(next, recipe.count)
            }
            if members.count >= 3 {
                try writer.add(try Splitting.holdout(members, val: 0.2, test: 0.2, seed: recipe.seed))
            }
        }
        return Summary(subjects: members.count, vertebrae: vertebrae, seconds: Date().timeIntervalSince(start))
    }
}
