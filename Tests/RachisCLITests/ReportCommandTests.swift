import Foundation
import Rachis
import Testing

/// `rachis report` end to end on a synthetic dataset, with predictions made by hand from its ground truth.
struct ReportCommandTests {
    /// A predictions folder whose vertebrae and regions are the dataset's labels: classes as decided with probability
    /// 0.8, identification confidence falling towards the caudal end (the last below 0.5, flagged).
    static func groundTruthPredictions(dataset: URL, out: URL) throws -> [SubjectPrediction] {
        let reader = try DatasetReader(url: dataset)
        let folder = PredictionFolder(out)
        var written: [SubjectPrediction] = []
        for id in reader.subjectIDs {
            let geometry = try reader.geometry(of: id)
            // The exact truth where the subject has one (what evaluate scores against), else the labels.
            let truth = try reader.truth(of: id)
            let records = try (truth?.records ?? reader.vertebrae(of: id)).filter { $0.centroidMM != nil }
            let labels = try truth?.vertebraLabels ?? reader.volumeCrop(id, "labels/vertebrae", offset: [0, 0, 0], size: geometry.shape)
            let voxelML = geometry.spacingMM.reduce(1, *) / 1000
            let classes = reader.header.classNames
            let vertebrae = records.enumerated().map { i, r in
                let count = labels.filter { Int($0) == r.level.id }.count
                let confidence = i == records.count - 1 && records.count > 2 ? 0.41 : 0.98 - 0.03 * Double(i)
                let probabilities = r.classIndex.map { k in classes.indices.map { $0 == k ? 0.8 : 0.2 / Double(classes.count - 1) } }
                var flags: [VertebraFlag] = []
                if confidence < 0.5 { flags.append(.lowIdentificationConfidence) }
                if count == 0 { flags.append(.emptyRegion) }
                if r.cutByFieldOfView { flags.append(.cutByFieldOfView) }
                return VertebraPrediction(levelID: r.level.id, centroidMM: r.centroidMM!, centroidVoxel: geometry.index(worldMM: r.centroidMM!),
                                          detectionScore: 0.9, identificationConfidence: confidence, voxels: count,
                                          volumeML: Double(count) * voxelML, classProbabilities: probabilities, flags: flags)
            }
            let prediction = SubjectPrediction(
                subjectID: id, source: .init(kind: "dataset", paths: [dataset.path], subject: id), checkpoint: "ground-truth <hand-made>",
                geometry: geometry, channelNames: reader.header.channelNames, classNames: classes, vertebrae: vertebrae,
                flags: vertebrae.isEmpty ? [.noVertebrae] : [], reconstructionPSNR: 31.5,
                warnings: vertebrae.isEmpty ? ["no vertebra labels in this subject"] : [])
            try folder.write(prediction, volumes: PredictedVolumes(vertebrae: labels, structures: nil))
            written.append(prediction)
        }
        return written
    }

    @Test func reportOfAPredictionsFolder() throws {
        // RACHIS_REPORT_PREVIEW=<folder> keeps a full-size report there to look at.
        let preview = ProcessInfo.processInfo.environment["RACHIS_REPORT_PREVIEW"]
        let scratch = try Scratch()
        let folder = preview.map { URL(fileURLWithPath: $0) } ?? scratch.url
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let shape = preview == nil ? ["--count", "3", "--shape", "8,48,32"] : ["--count", "4"]
        let synth = try CLI.run(["dataset", "synth", "--recipe", DatasetCommandTests.tinyRecipe, "--out", "d.h5", "--force"] + shape, in: folder)
        try #require(synth.status == 0, "\(synth.stderr)")
        let predictions = try Self.groundTruthPredictions(dataset: folder.appendingPathComponent("d.h5"), out: folder.appendingPathComponent("pred"))
        let evaluate = try CLI.run(["evaluate", "--allow-no-manifest", "--predictions", "pred", "--data", "d.h5", "--out", "eval.json"], in: folder)
        try #require(evaluate.status == 0, "\(evaluate.stderr)")
        let evaluation = try JSONDecoder().decode(Evaluation.self, from: Data(contentsOf: folder.appendingPathComponent("eval.json")))

        let result = try CLI.run(["report", "--allow-no-manifest", "--predictions", "pred", "--out", "report", "--evaluation", "eval.json"], in: folder)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("Report: ") && result.stdout.contains("(\(predictions.count) subjects"), "\(result.stdout)")
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("report").path))
        #expect(files.isSuperset(of: ["index.html", "vertebrae.csv", "images", "subjects", "evaluation.html", "evaluation.json"]
                                     + predictions.map { "\($0.subjectID).html" }))
        let csv = try String(contentsOf: folder.appendingPathComponent("report/vertebrae.csv"), encoding: .utf8)
        #expect(csv.split(separator: "\n").count == 1 + predictions.reduce(0) { $0 + $1.vertebrae.count })
        let index = try String(contentsOf: folder.appendingPathComponent("report/index.html"), encoding: .utf8)
        #expect(index.contains("ground-truth &lt;hand-made&gt;"))
        // Predictions made from the ground truth: every vertebra identified, every paired class right, on the summary
        // (with its count) and per subject.
        let l = evaluation.aggregate.localization
        #expect(l.identificationRate == 1 && l.truthCount > 0)
        #expect(index.contains("<td>Identification rate</td><td class=\"num value\">1</td><td class=\"wrap\">\(l.truthCount) of \(l.truthCount) ground-truth vertebrae identified"), "\(index)")
        #expect(index.contains("<td>Balanced accuracy</td><td class=\"num value\">1</td>") && index.contains("images/reliability.png"))
        #expect(index.contains("<td>Reconstruction PSNR</td><td class=\"num value\">31.5 dB</td>"))
        // Every local link of every page names a file of the report.
        let report = folder.appendingPathComponent("report")
        let pages = try FileManager.default.contentsOfDirectory(atPath: report.path).filter { $0.hasSuffix(".html") }
        #expect(pages.count == predictions.count + 2)
        for page in pages {
            let html = try String(contentsOf: report.appendingPathComponent(page), encoding: .utf8)
            let targets = html.matches(of: /(?:href|src)="([^"#:]+)(?:#[^"]*)?"/).map { String($0.1).removingPercentEncoding ?? String($0.1) }
            #expect(!targets.isEmpty)
            for target in targets { #expect(FileManager.default.fileExists(atPath: report.appendingPathComponent(target).path), "\(page): \(target)") }
        }
        let images = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("report/images").path)
        for p in predictions {
            #expect(images.filter { $0.hasPrefix("\(p.subjectID)_") }.count == 2, "\(images)")
            let page = try String(contentsOf: report.appendingPathComponent("\(p.subjectID).html"), encoding: .utf8)
            // Vertebrae with a true class are paired with themselves: their true level stands beside the predicted one.
            #expect(p.vertebrae.allSatisfy { $0.classProbabilities == nil } || page.contains("<th>True level</th>"), "\(p.subjectID)")
        }
    }

    @Test func aMissingPredictionsFolderFailsByName() throws {
        let scratch = try Scratch()
        let result = try CLI.run(["report", "--predictions", "nowhere", "--out", "report"], in: scratch.url)
        #expect(result.status != 0)
        #expect(result.stderr.contains("nowhere does not exist; run rachis predict first"), "\(result.stderr)")
        #expect(scratch.entries.isEmpty)
    }
}
