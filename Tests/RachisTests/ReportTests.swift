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
        #expect(page.contains("spacing &lt;odd&gt; &amp; &quot;far&quot;") && !page.contains("<odd>"))
        #expect(page.contains("T1 &lt;w&gt;") && !page.contains("<w>") && page.contains("/runs/&lt;a&gt;/checkpoint_last.h5"))
        #expect(page.contains("p(active, &quot;inflamed&quot;)") && page.contains("missingLevel"))
        #expect(page.contains("src=\"images/s1_0_T1__w_.png\" width=\"32\" height=\"60\""))
        #expect(!page.contains("<script"))

        let index = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
        #expect(index.contains("<a href=\"s1.html\">s1</a>") && index.contains("vertebrae.csv") && !index.contains("Evaluation"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).allSatisfy { !$0.hasSuffix(".tmp") })
    }

    @Test func evaluationAggregateIsShownWhateverItHolds() throws {
        let temp = try TemporaryFolder()
        let (folder, _, _) = try Self.folder(in: temp)
        let evaluation = temp.file("eval.json")
        try Data(#"{"format": "rachis-evaluation", "checkpoint": "c<1>.h5", "aggregate": {"dice": {"mean": 0.8123456, "n": 3}, "accuracy": 0.5, "perClass": [0.1, null]}, "subjects": []}"#.utf8).write(to: evaluation)
        let out = temp.file("report")
        _ = try ReportBuilder(pixelsPerMM: 2).build(predictions: folder.url, out: out, evaluation: evaluation)
        let index = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
        for text in ["dice.mean</td><td class=\"num\">0.8123", "dice.n</td><td class=\"num\">3", "accuracy", "[0.1, –]", "c&lt;1&gt;.h5"] {
            #expect(index.contains(text), "\(text)")
        }
        // Missing keys are fine; another format is not.
        try Data(#"{"format": "rachis-evaluation"}"#.utf8).write(to: evaluation)
        #expect(try EvaluationSummary.read(evaluation).aggregate.isEmpty)
        try Data(#"{"format": "rachis-prediction"}"#.utf8).write(to: evaluation)
        #expect(throws: ReportError.self) { try EvaluationSummary.read(evaluation) }
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
