import Foundation
import Testing

/// `rachis bench run` and `rachis bench chunks` on a tiny dataset: the structure and the arithmetic of what they
/// report (no timing targets here: those belong to release-build benchmark runs).
struct BenchCommandTests {
    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func runReportsEveryPhaseAndConsistentFLOPs() throws {
        let scratch = try Scratch()
        try TrainCommandTests.dataset(in: scratch)
        let config = #"{"model": {"width": 4, "blocksPerStage": [0, 1, 1, 1], "featureChannels": 4, "normGroups": 4, "spacingMM": [4, 3, 3]}, "loader": {"crop": [8, 48, 32]}}"#
        try config.write(toFile: scratch.path("small.json"), atomically: true, encoding: .utf8)
        let result = try CLI.run(["bench", "run", "--data", "d.h5", "--config", "small.json", "--threads", "1", "--steps", "1", "--warmup", "0",
                                  "--loader-batches", "1", "--inference-repeats", "1", "--json", "--output", "bench.json"], in: scratch.url)
        try #require(result.status == 0, "\(result.stderr)")
        let report = try Self.json(result.stdout)
        #expect(try Self.json(String(contentsOfFile: scratch.path("bench.json"), encoding: .utf8))["trainingFLOPsPerStep"] as? Int
                == report["trainingFLOPsPerStep"] as? Int)
        for key in ["stepSeconds", "dataSeconds", "forwardSeconds", "backwardSeconds", "optimizerSeconds", "inferenceSeconds", "inferenceForwardSeconds"] {
            let stats = try #require(report[key] as? [String: Double], "\(key)")
            #expect(stats["min"]! <= stats["median"]! && stats["median"]! <= stats["max"]!, "\(key) \(stats)")
            #expect(stats["min"]! >= 0, "\(key)")
        }
        let step = try #require(report["stepSeconds"] as? [String: Double])
        let batch = try #require(report["batchSize"] as? Int)
        #expect(abs(try #require(report["samplesPerSecond"] as? Double) - Double(batch) / step["median"]!) < 1e-9)
        // Training FLOPs are 3 x the forward FLOPs of `rachis model summary` at the step's batch and crop.
        let forward = try #require(report["forwardFLOPsPerStep"] as? Int)
        #expect(report["trainingFLOPsPerStep"] as? Int == 3 * forward)
        let crop = try #require(report["crop"] as? [Int])
        let summary = try Self.json(try CLI.run(["model", "summary", "--config", "small.json", "--json", "--batch", "\(batch)",
                                                 "--crop", crop.map(String.init).joined(separator: ",")], in: scratch.url).stdout)
        #expect((summary["summary"] as? [String: Any])?["totalFLOPs"] as? Int == forward)
        #expect((report["peakRSSMB"] as? Double ?? 0) >= (report["peakRSSMBAfterTraining"] as? Double ?? .infinity))
        #expect(report["threads"] as? Int == 1)
        #expect(report["steps"] as? Int == 1)
    }

    @Test func badArgumentsAreRejectedByName() throws {
        let scratch = try Scratch()
        let missing = try CLI.run(["bench", "run", "--data", "missing.h5"], in: scratch.url)
        #expect(missing.status != 0 && missing.stderr.contains("missing.h5"), "\(missing.stderr)")
        let steps = try CLI.run(["bench", "run", "--data", "missing.h5", "--steps", "0"], in: scratch.url)
        #expect(steps.status != 0 && steps.stderr.contains("--steps must be at least 1"), "\(steps.stderr)")
        let layout = try CLI.run(["bench", "chunks", "missing.h5", "--layout", "16,64,64:fast"], in: scratch.url)
        #expect(layout.status != 0 && layout.stderr.contains("the gzip level must be 0 to 9 or raw"), "\(layout.stderr)")
    }

    @Test func chunksComparesLayoutsOnTheSameData() throws {
        let scratch = try Scratch()
        try TrainCommandTests.dataset(in: scratch)
        let result = try CLI.run(["bench", "chunks", "d.h5", "--subjects", "2", "--crops", "5", "--crop", "4,16,16",
                                  "--layout", "64,64,64:raw", "--layout", "4,16,16:6", "--scratch", ".", "--json"], in: scratch.url)
        try #require(result.status == 0, "\(result.stderr)")
        let report = try Self.json(result.stdout)
        let rows = try #require(report["rows"] as? [[String: Any]])
        #expect(rows.map { $0["name"] as? String } == ["64x64x64 raw", "4x16x16 gzip 6"])
        // Two subjects of 2 channels x 8x48x32 float32 plus 8x48x32 uint8 labels.
        let voxels = 8 * 48 * 32
        #expect(abs(try #require(report["dataMB"] as? Double) - Double(2 * (2 * 4 * voxels + voxels)) / 1e6) < 1e-9)
        // One raw chunk per dataset holds exactly the data, plus HDF5's metadata.
        let raw = try #require(rows[0]["compressionRatio"] as? Double)
        #expect(raw < 1 && raw > 0.9, "\(raw)")
        #expect(try #require(rows[1]["compressionRatio"] as? Double) > raw)
        #expect(scratch.entries.filter { $0.hasPrefix("rachis-chunks") }.isEmpty)
    }
}
