import Foundation
import Rachis
import Testing

/// `rachis evaluate` end to end: predictions written by hand from the ground truth of a synthesized dataset.
struct EvaluateCommandTests {
    /// Writes `<id>.json` and the label maps for every subject: the true vertebrae with their classes decided with
    /// probability 0.9, the true structure labels (the exact truth of phantom subjects, else their labels).
    static func writePerfectPredictions(dataset: URL, to folder: URL) throws -> [String] {
        let reader = try DatasetReader(url: dataset)
        let predictions = PredictionFolder(folder)
        for id in reader.subjectIDs {
            var s = try reader.subject(id)
            if let truth = try reader.truth(of: id) {
                (s.vertebrae, s.vertebraLabels, s.structureLabels) = (truth.records, truth.vertebraLabels, truth.structureLabels)
            }
            let k = s.classNames.count
            let vertebrae = s.vertebrae.compactMap { v -> VertebraPrediction? in
                guard let c = v.centroidMM else { return nil }
                let p = v.classIndex.map { t in (0..<k).map { $0 == t ? 0.9 : 0.1 / Double(k - 1) } } ?? Array(repeating: 1 / Double(k), count: k)
                return VertebraPrediction(levelID: v.level.id, centroidMM: c, centroidVoxel: s.geometry.index(worldMM: c), detectionScore: 1,
                                          identificationConfidence: 1, voxels: 1, volumeML: 1, classProbabilities: p)
            }
            let prediction = SubjectPrediction(
                subjectID: id, source: .init(kind: "dataset", paths: [dataset.path], subject: id), checkpoint: "hand", geometry: s.geometry,
                channelNames: s.channelNames, classNames: s.classNames, vertebrae: vertebrae, flags: [], reconstructionPSNR: 30, warnings: [])
            try predictions.write(prediction, volumes: PredictedVolumes(vertebrae: s.vertebraLabels, structures: s.structureLabels))
        }
        return reader.subjectIDs
    }

    @Test func evaluateWritesTheJSONAndATable() throws {
        let scratch = try Scratch()
        let synth = try CLI.run(["dataset", "synth", "--recipe", DatasetCommandTests.tinyRecipe, "--out", "d.h5", "--count", "4", "--shape", "8,48,32"], in: scratch.url)
        try #require(synth.status == 0, "\(synth.stderr)")
        let ids = try Self.writePerfectPredictions(dataset: scratch.url.appendingPathComponent("d.h5"), to: scratch.url.appendingPathComponent("p"))

        let result = try CLI.run(["evaluate", "--allow-no-manifest", "--predictions", "p", "--data", "d.h5"], in: scratch.url)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("identification rate      1.000") && result.stdout.contains("VerSe get_hits"), "\(result.stdout)")
        #expect(result.stdout.contains("strict rule            1.000"), "\(result.stdout)")
        #expect(result.stdout.contains("reference                exact truth (/subjects/<id>/truth) for 4 subjects, labels for 0"), "\(result.stdout)")
        #expect(result.stdout.contains("(HD95: monai; both definitions in the JSON)"), "\(result.stdout)")
        #expect(result.stdout.contains("vertebral body") && result.stdout.contains("PSNR                     30.00 dB"), "\(result.stdout)")
        #expect(result.stdout.contains("Evaluation: ") && result.stdout.contains("p/evaluation.json"), "\(result.stdout)")
        let data = try Data(contentsOf: scratch.url.appendingPathComponent("p/evaluation.json"))
        let violations = try JSONSchema(contentsOf: CLI.repository.appendingPathComponent("schemas/evaluation.schema.json")).validate(try JSONValue.parse(data, source: "evaluation.json"))
        #expect(violations.isEmpty, "\(violations.prefix(5))")
        let evaluation = try JSONDecoder().decode(Evaluation.self, from: data)
        #expect(evaluation.subjects.map(\.subjectID) == ids)
        #expect(evaluation.aggregate.segmentation.perStructure.allSatisfy { $0.meanDice.isNaN || $0.meanDice == 1 })

        #expect(evaluation.aggregate.references.truth == 4 && evaluation.aggregate.segmentation.hd95Definition == .monai)

        // A second run (the evaluation is now in the folder) to another file with medpy's HD95, then an unknown subject.
        let again = try CLI.run(["evaluate", "--allow-no-manifest", "--predictions", "p", "--data", "d.h5", "--out", "e.json", "--hd95", "medpy"], in: scratch.url)
        #expect(again.status == 0 && FileManager.default.fileExists(atPath: scratch.path("e.json")), "\(again.stderr)")
        #expect(try JSONDecoder().decode(Evaluation.self, from: Data(contentsOf: URL(fileURLWithPath: scratch.path("e.json")))).aggregate.segmentation.hd95Definition == .medpy)
        let badOption = try CLI.run(["evaluate", "--allow-no-manifest", "--predictions", "p", "--data", "d.h5", "--hd95", "hd"], in: scratch.url)
        #expect(badOption.status != 0 && badOption.stderr.contains("--hd95"), "\(badOption.stderr)")
        var text = try String(contentsOfFile: scratch.path("p/\(ids[0]).json"), encoding: .utf8)
        text = text.replacingOccurrences(of: "\"subject\" : \"\(ids[0])\"", with: "\"subject\" : \"ghost\"")
        try Data(text.utf8).write(to: URL(fileURLWithPath: scratch.path("p/\(ids[0]).json")))
        let unknown = try CLI.run(["evaluate", "--allow-no-manifest", "--predictions", "p", "--data", "d.h5", "--out", "u.json"], in: scratch.url)
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("\(ids[0]).json: subject \"ghost\"") && unknown.stderr.contains("d.h5"), "\(unknown.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("u.json")))
    }

    @Test(arguments: [
        ("missing", "does not exist"),
        ("empty", "holds no predictions"),
        ("corrupt", "bad.json"),
    ])
    func badPredictionsFoldersGetAClearError(folder: String, message: String) throws {
        let scratch = try Scratch()
        let synth = try CLI.run(["dataset", "synth", "--recipe", DatasetCommandTests.tinyRecipe, "--out", "d.h5", "--count", "1", "--shape", "8,48,32"], in: scratch.url)
        try #require(synth.status == 0, "\(synth.stderr)")
        try FileManager.default.createDirectory(atPath: scratch.path("empty"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: scratch.path("corrupt"), withIntermediateDirectories: true)
        try Data("{\"format\": \"rachis-prediction\", ".utf8).write(to: URL(fileURLWithPath: scratch.path("corrupt/bad.json")))
        try Data().write(to: URL(fileURLWithPath: scratch.path("corrupt/bad_vertebrae.nii.gz")))
        let result = try CLI.run(["evaluate", "--allow-no-manifest", "--predictions", folder, "--data", "d.h5"], in: scratch.url)
        #expect(result.status != 0)
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }
}
