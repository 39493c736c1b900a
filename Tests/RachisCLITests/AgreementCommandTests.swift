import Foundation
import Testing

/// `rachis dataset agreement` on phantom datasets.
struct AgreementCommandTests {
    @Test func reportsRatersOfAPhantomDataset() throws {
        let scratch = try Scratch()
        let recipe = "count: 3\nseed: 5\nshape: [8, 48, 32]\nannotationModes: {raters: 2, full: 1}\nraterCount: 3\n"
        try Data(recipe.utf8).write(to: URL(fileURLWithPath: scratch.path("raters.yaml")))
        let synth = try CLI.run(["dataset", "synth", "--recipe", "raters.yaml", "--out", "d.h5"], in: scratch.url)
        try #require(synth.status == 0, "\(synth.stderr)")

        let table = try CLI.run(["dataset", "agreement", "d.h5", "--out", "agreement.json"], in: scratch.url)
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("with raters") && table.stdout.contains("vertebral body") && table.stdout.contains("Fleiss"), "\(table.stdout)")
        let data = try Data(contentsOf: URL(fileURLWithPath: scratch.path("agreement.json")))
        let report = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(report["format"] as? String == "rachis-agreement")
        let subjects = try #require(report["subjects"] as? [[String: Any]])
        let skipped = try #require(report["skippedSubjects"] as? [String])
        #expect(subjects.count >= 1 && subjects.count + skipped.count == 3)
        #expect(table.stdout.contains("\(subjects.count) subject\(subjects.count == 1 ? "" : "s") with raters, \(skipped.count) without"))
        let aggregate = try #require(report["aggregate"] as? [String: Any])
        let structures = try #require(aggregate["structures"] as? [[String: Any]])
        let body = try #require(structures.first { $0["name"] as? String == "vertebral body" })
        #expect((body["meanDice"] as? Double).map { $0 > 0.5 && $0 <= 1 } == true, "\(body)")
        #expect((body["meanSensitivity"] as? Double).map { (0...1).contains($0) } == true)
        let classes = try #require(aggregate["classes"] as? [String: Any])
        #expect((classes["vertebrae"] as? Int ?? 0) > 0)
        // The lesion may be absent for every rater: undefined values are null, never NaN.
        #expect(!String(decoding: data, as: UTF8.self).contains("NaN"))

        let json = try CLI.run(["dataset", "agreement", "d.h5", "--json"], in: scratch.url)
        #expect(json.status == 0)
        let printed = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((printed?["subjects"] as? [Any])?.count == subjects.count)
    }

    @Test func aDatasetWithoutRatersSaysSo() throws {
        let scratch = try Scratch()
        let recipe = "count: 2\nshape: [8, 48, 32]\nannotationModes: {full: 1}\n"
        try Data(recipe.utf8).write(to: URL(fileURLWithPath: scratch.path("full.yaml")))
        try #require(try CLI.run(["dataset", "synth", "--recipe", "full.yaml", "--out", "d.h5"], in: scratch.url).status == 0)
        let result = try CLI.run(["dataset", "agreement", "d.h5", "--json"], in: scratch.url)
        #expect(result.status == 0)
        #expect(result.stderr.contains("no subject has raters (2 skipped)"), "\(result.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect((report?["subjects"] as? [Any])?.isEmpty == true)
        let table = try CLI.run(["dataset", "agreement", "d.h5"], in: scratch.url)
        #expect(table.stdout.contains("0 subjects with raters, 2 without") && table.stdout.contains("nothing to compare"))
    }

    @Test(arguments: [
        (["dataset", "agreement", "missing.h5", "--out", "a.json"], "missing.h5 does not exist"),
        (["dataset", "agreement", "text.h5", "--out", "a.json"], "text.h5 is not a Rachis dataset"),
        (["dataset", "agreement", "text.h5", "--staple-prior", "2"], "--staple-prior takes 'mean' or a number in [0, 1]"),
    ])
    func badInputFailsClearlyAndWritesNothing(arguments: [String], message: String) throws {
        let scratch = try Scratch()
        try Data("not hdf5".utf8).write(to: URL(fileURLWithPath: scratch.path("text.h5")))
        let before = scratch.entries
        let result = try CLI.run(arguments, in: scratch.url)
        #expect(result.status != 0)
        #expect(result.stderr.contains(message), "stderr: \(result.stderr)")
        #expect(scratch.entries == before)
    }
}
