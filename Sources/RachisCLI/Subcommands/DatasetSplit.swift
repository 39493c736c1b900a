import ArgumentParser
import Foundation
import Rachis

extension RachisCommand.Dataset {
    struct Split: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add class-stratified, seeded splits to a dataset: k folds or one hold-out split.",
            discussion: "Subjects are stratified by their most severe vertebra class. The file is rewritten atomically.")

        @Argument(help: "Dataset file (.h5).")
        var data: String

        @Option(help: "Number of folds (writes splits fold_0 ... fold_{k-1}).")
        var folds: Int?

        @Option(help: "Validation fraction of a hold-out split.")
        var val: Double = 0.2

        @Option(help: "Test fraction of a hold-out split.")
        var test: Double = 0.2

        @Option(help: "Name of the hold-out split.")
        var name: String = "holdout"

        @Option(help: "Seed for the shuffle.")
        var seed: UInt64 = 0

        func run() throws {
            let url = URL(fileURLWithPath: data)
            // The file is rewritten: locked as synth and import lock the file they write.
            let lock = try OutputGuard.file(data)
            defer { lock.release() }
            let reader = try DatasetReader(url: url)
            try reader.requireValid()
            let members = try reader.subjectIDs.map { Splitting.Member(id: $0, stratum: Splitting.stratum(of: try reader.vertebrae(of: $0))) }
            let splits = if let folds {
                try Splitting.folds(members, k: folds, seed: seed)
            } else {
                [try Splitting.holdout(members, val: val, test: test, seed: seed, name: name)]
            }
            try DatasetFile.addSplits(splits, to: url)
            for split in splits {
                print("\(split.name): train \(split.train.count), val \(split.val.count), test \(split.test.count) (\(split.method))")
            }
        }
    }
}
