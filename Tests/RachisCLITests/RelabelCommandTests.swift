import Foundation
import Testing

/// `rachis relabel` end to end on a trained checkpoint, and bad input.
struct RelabelCommandTests {
    @Test func relabelWritesANewDatasetThatValidates() throws {
        let scratch = try Scratch()
        try TrainCommandTests.dataset(in: scratch)
        let train = try CLI.run(["train", "--data", "d.h5", "--run", "run", "--threads", "1"] + TrainCommandTests.small
                                + ["--set", "train.epochs=1", "--set", "train.stepsPerEpoch=1", "--set", "model.dropout=0.1"], in: scratch.url)
        try #require(train.status == 0, "\(train.stderr)")
        let before = try Data(contentsOf: URL(fileURLWithPath: scratch.path("d.h5")))
        let relabel = try CLI.run(["relabel", "--checkpoint", "run/checkpoint_last.h5", "--data", "d.h5", "--out", "r.h5",
                                   "--threshold", "0.2", "--samples", "2", "--threads", "1"], in: scratch.url)
        try #require(relabel.status == 0, "\(relabel.stderr)")
        #expect(relabel.stdout.contains("Wrote r.h5: "), "\(relabel.stdout)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.path("d.h5"))) == before)
        let validate = try CLI.run(["dataset", "validate", "r.h5"], in: scratch.url)
        #expect(validate.status == 0, "\(validate.stdout)\(validate.stderr)")

        let missing = try CLI.run(["relabel", "--checkpoint", "run/checkpoint_last.h5", "--data", "nope.h5", "--out", "s.h5", "--threads", "1"], in: scratch.url)
        #expect(missing.status != 0 && missing.stderr.contains("nope.h5"), "\(missing.stderr)")
        let noCheckpoint = try CLI.run(["relabel", "--checkpoint", "none.h5", "--data", "d.h5", "--out", "s.h5", "--threads", "1"], in: scratch.url)
        #expect(noCheckpoint.status != 0 && noCheckpoint.stderr.contains("none.h5"), "\(noCheckpoint.stderr)")
        let same = try CLI.run(["relabel", "--checkpoint", "run/checkpoint_last.h5", "--data", "d.h5", "--out", "d.h5", "--threads", "1"], in: scratch.url)
        #expect(same.status != 0 && same.stderr.contains("never changes its input"), "\(same.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("s.h5")))
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.path("d.h5"))) == before)
    }
}
