import Foundation
import Testing
@testable import Rachis

/// `rachis report`'s pieces on a small hand-made prediction: CSV, JSON, HTML, PNG figures, errors.
struct ReportTests {
    static let shape = [6, 10, 8]
    static let spacing = [4.0, 3.0, 2.0]
    static let classes = ["normal", "active, \"inflamed\""]

    /// A predictions folder of one subject predicted from one image file: a ramp image, two vertebra regions (L1
    /// decided "normal", L2 undecided) and a third vertebra (L3) without voxels, flagged.
    static func folder(in temp: TemporaryFolder, id: String = "s1", warnings: [String] = ["spacing <odd> & \"far\""]) throws -> (PredictionFolder, SubjectPrediction, [Float]) {
        let geometry = Geometry(shape: shape, spacingMM: spacing, originMM: [10, 20, 30])
        let n = geometry.voxelCount
        let image = (0..<n).map { Float($0 % 97) }
        let imageURL = temp.file("\(id)_t1.nii.gz")
        try ImageIO.write(ImageVolume(geometry: geometry, voxels: image), to: imageURL)
        var labels = [UInt8](repeating: 0, count: n)
        for d in 0..<6 { for h in 1..<5 { for w in 2..<7 { labels[(d * 10 + h) * 8 + w] = 20 } } }
        for d in 0..<6 { for h in 5..<9 { for w in 2..<7 { labels[(d * 10 + h) * 8 + w] = 21 } } }
        let v1 = VertebraPrediction(levelID: 20, centroidMM: geometry.worldMM(index: [3, 2.5, 4]), centroidVoxel: [3, 2.5, 4], detectionScore: 0.9,
                                    identificationConfidence: 0.97, voxels: 120, volumeML: 2.9, classProbabilities: [0.8, 0.2])
        var v2 = VertebraPrediction(levelID: 21, centroidMM: geometry.worldMM(index: [3, 6.5, 4]), centroidVoxel: [3, 6.5, 4], detectionScore: 0.8,
                                    identificationConfidence: 0.91, voxels: 120, volumeML: 2.9, classProbabilities: nil)
        v2.flags = [.cutByFieldOfView]
        let v3 = VertebraPrediction(levelID: 22, centroidMM: geometry.worldMM(index: [2, 9, 4]), centroidVoxel: [2, 9, 4], detectionScore: 0.3,
                                    identificationConfidence: 0.42, voxels: 0, volumeML: 0, classProbabilities: [0.45, 0.55],
                                    flags: [.lowIdentificationConfidence, .emptyRegion])
        let prediction = SubjectPrediction(
            subjectID: id, source: .init(kind: "files", paths: [imageURL.path], subject: nil), checkpoint: "/runs/<a>/checkpoint_last.h5",
            geometry: geometry, channelNames: ["T1 <w>"], classNames: classes, vertebrae: [v1, v2, v3], flags: [.missingLevel],
            reconstructionPSNR: nil, warnings: warnings)
        let folder = PredictionFolder(temp.file("pred"))
        try folder.write(prediction, volumes: PredictedVolumes(vertebrae: labels, structures: nil))
        return (folder, prediction, image)
    }

    /// The description of the error `body` throws ("" when it does not throw).
    static func message(_ body: () throws -> Any) -> String {
        do { _ = try body(); return "" } catch { return "\(error)" }
    }

    /// Splits RFC 4180 CSV text into rows of fields.
    static func parseCSV(_ text: String) -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], field = "", quoted = false
        var chars = Array(text)[...]
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" { if chars.first == "\"" { field.append("\""); chars.removeFirst() } else { quoted = false } } else { field.append(c) }
            } else if c == "\"" { quoted = true } else if c == "," { row.append(field); field = "" } else if c == "\n" {
                row.append(field); rows.append(row); row = []; field = ""
            } else { field.append(c) }
        }
        return rows
    }

    @Test(arguments: [("plain", "plain"), ("a,b", "\"a,b\""), ("say \"hi\"", "\"say \"\"hi\"\"\""), ("two\nlines", "\"two\nlines\""), ("", "")])
    func csvFieldsAreQuotedWhenNeeded(text: String, expected: String) {
        #expect(VertebraCSV.field(text) == expected)
    }

    @Test func csvHasOneRowPerVertebraAndRoundTrips() throws {
        let temp = try TemporaryFolder()
        let (_, prediction, _) = try Self.folder(in: temp)
        let rows = Self.parseCSV(VertebraCSV.text([prediction]))
        #expect(rows[0] == ["subject", "level", "level_id", "x_mm", "y_mm", "z_mm", "identification_confidence",
                            "p_normal", "p_active, \"inflamed\"", "decision", "evidence_inside", "evidence_check", "flags"])
        #expect(rows.count == 4)
        #expect(rows.allSatisfy { $0.count == 13 })
        #expect(rows[1][0...2] == ["s1", "L1", "20"] && rows[1][7] == "0.800000" && rows[1][9] == "normal" && rows[1][12] == "")
        #expect(Double(rows[1][3]) == prediction.vertebrae[0].centroidMM[0])
        #expect(rows[2][7] == "" && rows[2][9] == "" && rows[2][12] == "cutByFieldOfView")
        #expect(rows[3][9] == "active, \"inflamed\"" && rows[3][12] == "lowIdentificationConfidence;emptyRegion")
        // Before an attribution check the evidence columns are empty; after it they hold the mass and the verdict.
        #expect(rows[1][10] == "" && rows[1][11] == "")
        var checked = prediction
        checked.vertebrae[0].attribution = VertebraAttribution(
            method: .gradientTimesInput,
            consistency: AttributionConsistency.compute(relevance: [3, -1, 2, 0], mask: [true, true, false, false], topK: 1), passed: true)
        let after = Self.parseCSV(VertebraCSV.text([checked]))
        #expect(after[1][10] == "0.600000" && after[1][11] == "pass")
    }

    @Test func sliceIsTheMedianCentroidOrTheCentre() {
        #expect(SagittalView.sliceIndex(centroidsD: [], depth: 9) == 4)
        #expect(SagittalView.sliceIndex(centroidsD: [1, 7.2, 6.9], depth: 9) == 7)
        #expect(SagittalView.sliceIndex(centroidsD: [1, 2, 4, 30], depth: 9) == 3)
        #expect(SagittalView.sliceIndex(centroidsD: [40], depth: 9) == 8)
    }

    @Test func windowIsThe1stTo99thPercentile() {
        let w = SagittalView.window(Array((0...100).map(Float.init))[...])
        #expect(w.low == 1 && w.high == 99)
        let flat = SagittalView.window([5, 5, 5][...])
        #expect(flat.low == 5 && flat.high == 6)
    }

    @Test func overlayColoursRegionsAndLeavesTheRestGrey() {
        let view = SagittalView(pixelsPerMM: 2)
        let shape = [1, 10, 8], spacing = [4.0, 3.0, 2.0]
        let channel = (0..<80).map { Float($0) }
        var labels = [UInt8](repeating: 0, count: 80)
        for h in 2..<7 { for w in 1..<6 { labels[h * 8 + w] = 20 } }
        let colour = ClassPalette.colour(decision: 1)
        let image = view.render(channel: channel[...], labels: labels, shape: shape, spacingMM: spacing, slice: 0,
                                window: (0, 100), colours: [20: colour], markers: [])
        #expect(image.width == 32 && image.height == 60)
        func grey(_ h: Int, _ w: Int) -> UInt8 { UInt8((Double(h * 8 + w) * 2.55).rounded()) }
        let inside = view.pixel(h: 4, w: 3, spacingMM: (3, 2))
        #expect(image[inside.x, inside.y] == view.blend(grey: grey(4, 3), colour))
        let outside = view.pixel(h: 8, w: 7, spacingMM: (3, 2))
        let g = grey(8, 7)
        #expect(image[outside.x, outside.y] == (g, g, g))
        // The region's edge is outlined in the full colour.
        let edge = view.pixel(h: 2, w: 3, spacingMM: (3, 2))
        #expect(image[edge.x, edge.y - 2] == colour)
    }

    @Test func reportWritesValidFiles() throws {
        let temp = try TemporaryFolder()
        let (folder, prediction, _) = try Self.folder(in: temp)
        let out = temp.file("report")
        let result = try ReportBuilder(pixelsPerMM: 2).build(predictions: folder.url, out: out, evaluation: nil)
        #expect(Set(result.files) == ["images/s1_0_T1__w_.png", "subjects/s1.json", "s1.html", "vertebrae.csv", "index.html"])

        // The JSON validates and is the prediction.
        let json = try Data(contentsOf: out.appendingPathComponent("subjects/s1.json"))
        #expect(try JSONSchema.shipped("prediction.schema.json").validate(JSONValue.parse(json, source: "s1.json")).isEmpty)
        #expect(try JSONDecoder().decode(SubjectPrediction.self, from: json) == prediction)

        // The PNG: a valid header and the expected size.
        let png = try Data(contentsOf: out.appendingPathComponent("images/s1_0_T1__w_.png"))
        #expect(png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        #expect(String(decoding: png[12..<16], as: UTF8.self) == "IHDR")
        func u32(_ at: Int) -> Int { png[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        #expect(u32(16) == 8 * 2 * 2 && u32(20) == 10 * 3 * 2)
        #expect(png[24] == 8 && png[25] == 2)

        // The page: one row per vertebra, flagged rows marked, every string escaped.
        let page = try String(contentsOf: out.appendingPathComponent("s1.html"), encoding: .utf8)
        let table = page.components(separatedBy: "<table class=\"vertebrae\">")[1].components(separatedBy: "</table>")[0]
        #expect(table.components(separatedBy: "<tr").count - 1 == 1 + 3)
        #expect(table.components(separatedBy: "<tr class=\"flagged\">").count - 1 == 2)
        // Each flag says what it means when pointed at.
        let explained = VertebraFlag.emptyRegion.explanation.replacingOccurrences(of: "'", with: "&#39;")
        #expect(table.contains("<span class=\"flag\" title=\"\(explained)\">emptyRegion</span>"))
        #expect(page.contains("spacing &lt;odd&gt; &amp; &quot;far&quot;") && !page.contains("<odd>"))
        #expect(page.contains("T1 &lt;w&gt;") && !page.contains("<w>") && page.contains("/runs/&lt;a&gt;/checkpoint_last.h5"))
        #expect(page.contains("p(active, &quot;inflamed&quot;)") && page.contains("missingLevel"))
        #expect(page.contains("src=\"images/s1_0_T1__w_.png\" width=\"32\" height=\"60\""))
        #expect(!page.contains("<script"))

        let index = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
        #expect(index.contains("<a href=\"s1.html\">s1</a>") && index.contains("vertebrae.csv") && !index.contains("Evaluation"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).allSatisfy { !$0.hasSuffix(".tmp") })
    }

    /// An evaluation of the subject of `folder(in:)` ("s1": L1, L2, L3 predicted), built with the metrics: L1 paired
    /// with the true L1 (class right), the predicted L3 paired with the true L4 (class right), L5 missed; one case of
    /// structures; a PSNR.
    static func evaluation(predictions: String = "pred") throws -> Evaluation {
        var localization = LocalizationMetric()
        let predicted = [VertebraPoint(levelID: 20, centroidMM: [0, 0, 0]), VertebraPoint(levelID: 21, centroidMM: [0, 30, 0]),
                         VertebraPoint(levelID: 22, centroidMM: [0, 60, 0])]
        let truth = [VertebraPoint(levelID: 20, centroidMM: [0, 2, 0]), VertebraPoint(levelID: 21, centroidMM: [0, 33, 0]),
                     VertebraPoint(levelID: 23, centroidMM: [0, 62, 0]), VertebraPoint(levelID: 24, centroidMM: [0, 95, 0])]
        localization.add(predicted: predicted, truth: truth)
        var classification = ClassificationMetric(classNames: classes)
        try classification.add(probabilities: [[0.8, 0.2], [0.45, 0.55]], labels: [0, 1])
        var segmentation = SegmentationMetric()
        let structures = StructureLabel.allCases.count
        segmentation.add(id: "s1", prediction: (0..<8).map { UInt8($0 % structures) }, target: (0..<8).map { UInt8(($0 + $0 / 4) % structures) },
                         known: nil, shape: [2, 2, 2], spacingMM: [1, 1, 1])
        let pairs = [
            ClassificationPair(levelID: 20, level: "L1", trueClass: 0, predictedLevel: "L1", decision: 0, classProbabilities: [0.8, 0.2], distanceMM: 2),
            ClassificationPair(levelID: 23, level: "L4", trueClass: 1, predictedLevel: "L3", decision: 1, classProbabilities: [0.45, 0.55], distanceMM: 2),
        ]
        let subject = SubjectEvaluation(subjectID: "s1", datasetSubject: "s1", reference: .truth, annotation: "full", localization: localization.aggregate(),
                                        classification: SubjectClassification(pairs: pairs, missed: ["L5"], undecided: ["L5"]),
                                        segmentation: segmentation.cases[0].structures, reconstructionPSNR: 21.5)
        let aggregate = Evaluation.Aggregate(
            subjects: 1, references: Evaluation.ReferenceCounts(truth: 1, labels: 0), segmentationLeftOut: [], localization: localization.aggregate(),
            classification: Evaluation.ClassificationSummary(
                paired: 2, missed: 1, undecided: 1, overall: classification.aggregate(),
                perLevel: [Evaluation.LevelClassification(levelID: 20, level: "L1", result: classification.aggregate())]),
            segmentation: segmentation.aggregate(), reconstructionPSNR: Evaluation.PSNRSummary(meanDB: 21.5, count: 1))
        return Evaluation(created: "2026-12-02T00:00:00Z", rachisVersion: "test", dataset: "d<1>.h5", predictions: predictions,
                          classNames: classes, definitions: Evaluation.definitions(hd95: .monai), subjects: [subject], aggregate: aggregate)
    }

    /// Every scalar under `value` as (dotted name, value), as the report's full table names them.
    static func leaves(_ value: JSONValue, _ name: String = "") -> [(String, JSONValue)] {
        switch value {
        case let .object(m): m.keys.sorted().flatMap { leaves(m[$0]!, name.isEmpty ? $0 : "\(name).\($0)") }
        case let .array(items): items.enumerated().flatMap { leaves($1, "\(name)[\($0)]") }
        default: [(name, value)]
        }
    }

    @Test func evaluationPartsAreReadWithTheMetricTypesAndAMissingPartIsLeftOut() throws {
        let evaluation = try Self.evaluation()
        let full = try EvaluationSummary(JSONValue.parse(evaluation.encoded(), source: "e.json"), path: "e.json")
        // Compared as JSON, numbers to 1e-12 relative (the report's JSON reader and Foundation's may differ in the
        // last bit), undefined values (NaN, which no NaN equals) as null.
        func json<T: Encodable>(_ value: T?) throws -> Any {
            try JSONSerialization.jsonObject(with: JSONEncoder().encode(value), options: [.fragmentsAllowed])
        }
        func close(_ a: Any, _ b: Any) -> Bool {
            switch (a, b) {
            case let (x as [String: Any], y as [String: Any]): return x.keys.sorted() == y.keys.sorted() && x.keys.allSatisfy { close(x[$0]!, y[$0]!) }
            case let (x as [Any], y as [Any]): return x.count == y.count && zip(x, y).allSatisfy { close($0, $1) }
            case let (x as NSNumber, y as NSNumber): return abs(x.doubleValue - y.doubleValue) <= 1e-12 * max(1, abs(x.doubleValue))
            case let (x as String, y as String): return x == y
            case (is NSNull, is NSNull): return true
            default: return false
            }
        }
        #expect(close(try json(full.localization), try json(evaluation.aggregate.localization)))
        #expect(close(try json(full.classification), try json(evaluation.aggregate.classification)))
        #expect(close(try json(full.segmentation), try json(evaluation.aggregate.segmentation)))
        #expect(close(try json(full.reconstructionPSNR), try json(evaluation.aggregate.reconstructionPSNR)))
        #expect(close(try json(full.subjects), try json(evaluation.subjects)))
        #expect(full.unreadable.isEmpty && full.classNames == Self.classes && full.subjectCount == 1)

        // Segmentation absent, localization from another version, a rule named: the rest is still read.
        guard case var .object(root) = try JSONValue.parse(evaluation.encoded(), source: "e.json"), case var .object(aggregate) = root["aggregate"],
              case var .object(localization) = aggregate["localization"] else { Issue.record("not an object"); return }
        aggregate["segmentation"] = nil
        localization["identifiedCount"] = nil
        localization["rule"] = .string("verse-get-hits")
        aggregate["localization"] = .object(localization)
        root["aggregate"] = .object(aggregate)
        let partial = try EvaluationSummary(.object(root), path: "e.json")
        #expect(partial.segmentation == nil && partial.localization == nil && partial.classification != nil && partial.reconstructionPSNR != nil)
        #expect(partial.unreadable.map(\.name) == ["aggregate.localization"] && partial.unreadable[0].value.contains("identifiedCount"))
        #expect(partial.rules["localization"] == [EvaluationSummary.Row(name: "rule", value: "verse-get-hits")])
        let metrics = EvaluationSection.summary(partial).map(\.metric)
        #expect(!metrics.contains("Identification rate") && metrics.contains("Balanced accuracy") && metrics.contains("Reconstruction PSNR"))

        // Nothing but the format is fine; another format is not.
        let empty = try EvaluationSummary(JSONValue.parse(Data(#"{"format": "rachis-evaluation"}"#.utf8), source: "e"), path: "e")
        #expect(empty.aggregate.isEmpty && empty.subjects.isEmpty && EvaluationSection.summary(empty).isEmpty)
        #expect(throws: ReportError.self) { try EvaluationSummary(JSONValue.parse(Data(#"{"format": "rachis-prediction"}"#.utf8), source: "e"), path: "e") }
    }

    @Test func levelAgreementSaysWhichLevelsAreConfusedWithWhich() throws {
        func pair(_ level: String, _ predicted: String, right: Bool = true) throws -> ClassificationPair {
            ClassificationPair(levelID: try VertebraLevel(name: level).id, level: level, trueClass: 0, predictedLevel: predicted,
                               decision: right ? 0 : 1, classProbabilities: [0.6, 0.4], distanceMM: 3)
        }
        let localization = LocalizationMetric().aggregate()
        let subjects = [
            SubjectEvaluation(subjectID: "a", datasetSubject: "a", reference: .labels, annotation: "full", localization: localization, classification: SubjectClassification(
                pairs: [try pair("L2", "L1"), try pair("T12", "T12", right: false), try pair("L1", "L2")], missed: ["L3"])),
            SubjectEvaluation(subjectID: "b", datasetSubject: "b", reference: .labels, annotation: "full", localization: localization, classification: SubjectClassification(
                pairs: [try pair("L2", "L2"), try pair("L1", "T12")], missed: ["L2"])),
            SubjectEvaluation(subjectID: "c", datasetSubject: "c", reference: .labels, annotation: "full", localization: localization, classification: nil),
        ]
        let levels = LevelAgreement(subjects: subjects).levels
        #expect(levels.map(\.level) == ["T12", "L1", "L2", "L3"])
        let l2 = levels[2]
        #expect((l2.truth, l2.sameLevel, l2.missed, l2.paired, l2.classCorrect) == (3, 1, 1, 2, 2))
        #expect(l2.confusedWith.map(\.level) == ["L1"] && l2.confusedWith.map(\.count) == [1])
        #expect(levels[1].confusedWith.map(\.level) == ["T12", "L2"])
        #expect((levels[0].sameLevel, levels[0].classCorrect) == (1, 0))
        #expect((levels[3].truth, levels[3].missed, levels[3].levelID) == (1, 1, 22))
    }

    @Test func evaluatedReportLinksOnlyExistingFilesAndShowsEveryAggregateMetric() throws {
        let temp = try TemporaryFolder()
        let (folder, _, _) = try Self.folder(in: temp)
        let evaluation = try Self.evaluation()
        let file = temp.file("eval.json")
        try evaluation.write(to: file)
        let out = temp.file("report")
        let result = try ReportBuilder(pixelsPerMM: 2).build(predictions: folder.url, out: out, evaluation: file)
        #expect(Set(result.files).isSuperset(of: ["evaluation.json", "evaluation.html", "images/reliability.png", "index.html", "s1.html"]))
        #expect(try Data(contentsOf: out.appendingPathComponent("evaluation.json")) == Data(contentsOf: file))

        // Every page parses, and every file it links to exists.
        for page in ["index.html", "s1.html", "evaluation.html"] {
            #expect(try HTMLDocument.missingLinks(page: page, in: out).isEmpty, "\(page)")
        }
        let index = try HTMLDocument(String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8))
        #expect(index.localFiles.contains("images/reliability.png") && index.localFiles.contains("evaluation.html"))

        // The summary: each headline figure with its value.
        let a = evaluation.aggregate
        let structures = a.segmentation.perStructure
        var headline = [("Identification rate", a.localization.identificationRate, ""), ("Localization error, mean", a.localization.meanDistanceMM, " mm"),
                        ("Localization error, median", a.localization.medianDistanceMM, " mm"),
                        ("Balanced accuracy", a.classification.overall.balancedAccuracy, ""), ("Macro AUC", a.classification.overall.macroAUC, ""),
                        ("ECE", a.classification.overall.expectedCalibrationError, ""), ("Reconstruction PSNR", a.reconstructionPSNR.meanDB, " dB")]
        headline += structures.flatMap { [("Dice, \($0.name)", $0.meanDice, ""), ("HD95, \($0.name)", $0.meanHD95MM, " mm")] }
        for (metric, value, unit) in headline {
            let shown = "\(metric) \(HTML.metric(value))\(value.isFinite ? unit : "")"
            #expect(index.text.contains(shown), "\(shown)")
        }
        #expect(a.localization.identifiedCount == 2 && index.text.contains("2 of 4 ground-truth vertebrae identified (3 predicted)"))
        #expect(index.text.contains("2 vertebrae paired (1 ground-truth vertebrae with a class left unpaired, 1 of them found without a class decision, not counted)"))
        // The confusion matrix, per level (the true L4 given L3), and the subject's own identification rate.
        #expect(index.tags.contains("table") && index.text.contains("true ↓ / decided →"))
        #expect(index.text.contains("L4 1 0 0 L3 ×1 0 1 1 –") && index.text.contains("L5 1 0 – 1 0 – –"), "\(index.text)")
        #expect(index.text.contains("\(HTML.number(a.localization.identificationRate)) (\(a.localization.identifiedCount)/4)"))

        // Every aggregate value of the file is on evaluation.html, by its dotted name.
        let full = try HTMLDocument(String(contentsOf: out.appendingPathComponent("evaluation.html"), encoding: .utf8))
        guard case let .object(root) = try JSONValue.parse(Data(contentsOf: file), source: "eval.json"), let aggregate = root["aggregate"] else {
            Issue.record("no aggregate"); return
        }
        let leaves = Self.leaves(aggregate)
        #expect(leaves.count > 50)
        for (name, value) in leaves {
            // Short arrays of scalars are shown inline: their items are checked through the array.
            let inline = name.range(of: #"\[\d+\]$"#, options: .regularExpression).map { String(name[..<$0.lowerBound]) }
            if let inline, full.text.contains(inline + " [") {
                #expect(full.text.contains(inline + " [") && full.text.contains(EvaluationSummary.text(value)), "\(name)")
            } else {
                #expect(full.text.contains("\(name) \(EvaluationSummary.text(value))"), "\(name)")
            }
        }

        // The subject page: predicted and true level side by side, the evidence-free figure captions, its own metrics.
        let page = try HTMLDocument(String(contentsOf: out.appendingPathComponent("s1.html"), encoding: .utf8))
        #expect(page.text.contains("Level True level Distance mm True class"))
        #expect(page.text.contains("L1 L1 2.0 normal") && page.text.contains("L3 L4 2.0 active, \"inflamed\"") && page.text.contains("L2 none paired"))
        #expect(page.text.contains("not paired (no predicted vertebra with a class decision within 20 mm): L5 (found without a class decision: L5)"))
    }

    @Test func aLongSubjectTableSaysHowManyRowsAreLeftOutAndWhere() throws {
        let temp = try TemporaryFolder()
        let (_, prediction, _) = try Self.folder(in: temp)
        var second = prediction
        second.subjectID = "s2"
        let reports = [SubjectReport(prediction: prediction, figures: []), SubjectReport(prediction: second, figures: [])]
        let shortened = try HTMLDocument(IndexPage.html(reports, evaluation: nil, predictionsFolder: "p", maximumSubjectRows: 1))
        #expect(shortened.text.contains("Showing 1 of 2 subjects; 1 left out here. All of them:") && shortened.localFiles.contains("vertebrae.csv"))
        #expect(shortened.links.contains("s1.html") && !shortened.links.contains("s2.html"))
        let whole = try HTMLDocument(IndexPage.html(reports, evaluation: nil, predictionsFolder: "p"))
        #expect(!whole.text.contains("left out") && whole.links.contains("s2.html"))
    }

    @Test func reliabilityDiagramDrawsABarPerNonEmptyBin() {
        var bins = ClassificationMetric.calibrationBins(probabilities: [[0.95, 0.05], [0.92, 0.08], [0.55, 0.45]], labels: [0, 0, 1])
        #expect(bins.map(\.count) == [0, 0, 0, 0, 0, 1, 0, 0, 0, 2])
        bins[5].accuracy = 0
        let diagram = ReliabilityDiagram(bins: bins, title: "test")
        let image = diagram.render()
        #expect(image.width == diagram.width && image.height == diagram.height)
        // The last bin's bar (accuracy 1) reaches the top of the plot; the empty bins have none.
        let top = 36, bottom = diagram.height - 62, left = 56, right = diagram.width - 16
        let x9 = left + Int(0.95 * Double(right - left)), x2 = left + Int(0.25 * Double(right - left))
        #expect(image[x9, top + 4] == ReliabilityDiagram.barColour && image[x9, bottom - 4] == ReliabilityDiagram.barColour)
        #expect(image[x2, bottom - 4] != ReliabilityDiagram.barColour)
    }

    @Test func lesionChannelsGetTheLightFill() {
        for (channel, name, light) in [(0, "T1", false), (1, "STIR", true), (0, "stir", true), (0, "T2 fs", true), (2, "other", true)] {
            #expect(SagittalView.showsLesions(channel: channel, name: name) == light, "\(channel) \(name)")
        }
        let view = SagittalView()
        #expect(view.lighter.fillAlpha == view.lightFillAlpha && view.lightFillAlpha < view.fillAlpha)
        #expect(view.lighter.blend(grey: 200, (255, 0, 0)).1 > view.blend(grey: 200, (255, 0, 0)).1)
    }

    @Test func badInputsNameTheFileAndLeaveTheOutputAlone() throws {
        let temp = try TemporaryFolder()
        let (folder, _, _) = try Self.folder(in: temp)
        _ = try Self.folder(in: temp, id: "s2")
        let out = temp.file("report")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        try Data("old".utf8).write(to: out.appendingPathComponent("index.html"))

        // A broken JSON.
        try Data("{\"format\": ".utf8).write(to: folder.json("s2"))
        let broken = Self.message { try ReportBuilder().build(predictions: folder.url, out: out, evaluation: nil) }
        #expect(broken.contains(folder.json("s2").path), "\(broken)")
        #expect(try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8) == "old")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path) == ["index.html"])

        // An image on another grid: both files named.
        let (_, s2, _) = try Self.folder(in: temp, id: "s2")
        let other = temp.file("other.nii.gz")
        try ImageIO.write(ImageVolume(geometry: Geometry(shape: [6, 10, 9], spacingMM: Self.spacing), voxels: [Float](repeating: 1, count: 540)), to: other)
        var moved = s2
        moved.source.paths = [other.path]
        try AtomicFile.write(try PredictionFolder.encode(moved), to: folder.json("s2"))
        let mismatch = Self.message { try ReportBuilder().build(predictions: folder.url, out: out, evaluation: nil) }
        #expect(mismatch.contains(other.path) && mismatch.contains(folder.json("s2").path) && mismatch.contains("6x10x9"), "\(mismatch)")
        #expect(try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8) == "old")

        // A missing and an empty folder.
        #expect(throws: PredictionFolder.Error.missing(path: temp.file("nothing").path)) {
            try ReportBuilder().build(predictions: temp.file("nothing"), out: out, evaluation: nil)
        }
        try FileManager.default.createDirectory(at: temp.file("empty"), withIntermediateDirectories: true)
        #expect(throws: PredictionFolder.Error.empty(path: temp.file("empty").path)) {
            try ReportBuilder().build(predictions: temp.file("empty"), out: out, evaluation: nil)
        }
    }
}
