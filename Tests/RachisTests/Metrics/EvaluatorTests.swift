import Foundation
import Testing
@testable import Rachis

/// Predictions made by hand from the ground truth of phantom subjects, so the expected metrics can be stated.
enum HandPredictions {
    /// The ground truth as a prediction: each vertebra with a centroid at that centroid, its true class decided with
    /// probability `confidence` (a uniform row for vertebrae without a class), the structure labels copied.
    static func copy(of s: Subject, confidence: Double = 0.9, psnr: Double? = nil, id: String? = nil) -> (SubjectPrediction, PredictedVolumes) {
        let k = s.classNames.count
        let vertebrae = s.vertebrae.compactMap { v -> VertebraPrediction? in
            guard let c = v.centroidMM else { return nil }
            let probabilities = v.classIndex.map { t in (0..<k).map { $0 == t ? confidence : (1 - confidence) / Double(k - 1) } }
                ?? Array(repeating: 1 / Double(k), count: k)
            return VertebraPrediction(levelID: v.level.id, centroidMM: c, centroidVoxel: s.geometry.index(worldMM: c), detectionScore: 1,
                                      identificationConfidence: 1, voxels: 1, volumeML: 1, classProbabilities: probabilities)
        }
        let prediction = SubjectPrediction(
            subjectID: id ?? s.id, source: .init(kind: "dataset", paths: ["d.h5"], subject: s.id), checkpoint: "hand", geometry: s.geometry,
            channelNames: s.channelNames, classNames: s.classNames, vertebrae: vertebrae, flags: [], reconstructionPSNR: psnr, warnings: [])
        return (prediction, PredictedVolumes(vertebrae: s.vertebraLabels, structures: s.structureLabels))
    }

    static func write(_ items: [(SubjectPrediction, PredictedVolumes)], to folder: PredictionFolder) throws {
        for (p, v) in items { try folder.write(p, volumes: v) }
    }
}

@Suite(.serialized) struct EvaluatorTests {
    static let subjects: [Subject] = (try? TestData.phantomSubjects()) ?? []

    func dataset(_ folder: TemporaryFolder) throws -> DatasetReader {
        let url = folder.file("d.h5")
        try TestData.writeDataset(Self.subjects, to: url)
        return try DatasetReader(url: url)
    }

    @Test func predictionsCopiedFromTheGroundTruthScorePerfectly() throws {
        let folder = try TemporaryFolder()
        let reader = try dataset(folder)
        let predictions = PredictionFolder(folder.file("predictions"))
        let psnrs: [Double?] = Self.subjects.indices.map { $0 == 0 ? 20 : $0 == 1 ? 30 : nil }
        try HandPredictions.write(zip(Self.subjects, psnrs).map { HandPredictions.copy(of: $0, psnr: $1) }, to: predictions)
        let e = try Evaluator(folder: predictions, reader: reader).evaluate()

        let located = Self.subjects.flatMap(\.vertebrae).filter { $0.centroidMM != nil }
        let classed = Self.subjects.flatMap(\.vertebrae).filter { $0.classIndex != nil }
        try #require(located.count > 10 && classed.count > 10)
        let a = e.aggregate
        #expect(a.subjects == Self.subjects.count && e.subjects.map(\.subjectID) == Self.subjects.map(\.id).sorted())
        #expect(a.localization.identificationRate == 1 && a.localization.truthCount == located.count)
        #expect(a.localization.meanDistanceMM == 0 && a.localization.distanceCount == located.count)
        // The whole-vertebra figures count the vertebrae the field of view does not cut, from the vertebra table.
        let whole = located.filter { !$0.cutByFieldOfView }
        try #require(whole.count > 0 && whole.count < located.count)
        #expect(a.localization.whole?.truthCount == whole.count && a.localization.whole?.identificationRate == 1)
        // Every classed vertebra with a centroid pairs with its copy; classed ones without a centroid are missed.
        let pairable = classed.filter { $0.centroidMM != nil }.count
        #expect(a.classification.paired == pairable && a.classification.missed == classed.count - pairable)
        #expect(a.classification.overall.balancedAccuracy == 1 && a.classification.overall.count == pairable)
        #expect(a.classification.overall.perClass.allSatisfy { $0.f1.isNaN || $0.f1 == 1 })
        // All decided right with confidence 0.9: ECE = |1 − 0.9|.
        #expect(same(a.classification.overall.expectedCalibrationError, 0.1))
        #expect(a.classification.perLevel.map(\.levelID) == Set(classed.filter { $0.centroidMM != nil }.map(\.level)).sorted().map(\.id))
        #expect(a.classification.perLevel.allSatisfy { $0.result.balancedAccuracy == 1 })
        // Structures: Dice 1 and HD95 0 wherever defined, over the subjects whose voxel labels are exact (no truth
        // group here); the loose ones are left out, each with its reason.
        let annotated = Self.subjects.filter { $0.structureAnnotated.contains(1) && $0.annotationMode.hasExactVoxelLabels }
        #expect(a.segmentationLeftOut.map(\.subjectID) == Self.subjects.filter { !$0.annotationMode.hasExactVoxelLabels }.map(\.id).sorted())
        #expect(a.references == Evaluation.ReferenceCounts(truth: 0, labels: Self.subjects.count) && e.subjects.allSatisfy { $0.reference == .labels })
        #expect(a.segmentation.cases == annotated.count)
        for s in a.segmentation.perStructure {
            #expect((s.meanDice == 1 && s.meanHD95MM == 0 && s.meanHD95MedpyMM == 0) || (s.diceCount == 0 && s.meanDice.isNaN), "\(s)")
            #expect(s.oneEmpty == 0 && s.bothEmpty + s.diceCount == annotated.count && s.hd95Count == s.diceCount)
        }
        #expect(a.segmentation.perStructure.map(\.name) == StructureLabel.allCases.dropFirst().map(\.name))
        #expect(a.segmentation.perStructure.contains { $0.diceCount > 0 })
        #expect(a.reconstructionPSNR.meanDB == 25 && a.reconstructionPSNR.count == 2)
        let unannotated = try #require(e.subjects.first { s in !annotated.contains { $0.id == s.subjectID } })
        #expect(unannotated.segmentation == nil)

        // The JSON validates against the shipped schema, and undefined values are null.
        let data = try e.encoded()
        let violations = try JSONSchema.file("evaluation.schema.json").validate(try JSONValue.parse(data, source: "evaluation.json"))
        #expect(violations.isEmpty, "\(violations.prefix(5))")
        #expect(String(decoding: data, as: UTF8.self).contains("null"))
        #expect(try JSONDecoder().decode(Evaluation.self, from: data) == e)

        // An evaluation written into the folder is not taken for a subject the next time.
        try e.write(to: predictions.url.appendingPathComponent("evaluation.json"))
        #expect(try predictions.subjectIDs() == Self.subjects.map(\.id).sorted())
    }

    @Test func handMadeErrorsGiveStatedMetrics() throws {
        let folder = try TemporaryFolder()
        let reader = try dataset(folder)
        let s = try #require(Self.subjects.first { s in
            let located = s.vertebrae.filter { $0.centroidMM != nil }
            return s.annotationMode.hasExactVoxelLabels && s.structureAnnotated.allSatisfy { $0 == 1 } && located.count >= 3
                && located.allSatisfy { $0.classIndex != nil }
        })
        var (prediction, volumes) = HandPredictions.copy(of: s, confidence: 0.8)
        let n = prediction.vertebrae.count
        // Vertebra 0 dropped: one fewer identified, one classification missed.
        // Vertebra 1 moved 3 mm: localization distance 3, still identified and paired.
        // Vertebra 2 with the wrong class decided (probability 0.8 on the next class).
        prediction.vertebrae[1].centroidMM[0] += 3
        let wrong = (s.vertebrae.first { $0.level.id == prediction.vertebrae[2].levelID }!.classIndex! + 1) % s.classNames.count
        let k = s.classNames.count
        let row = (0..<k).map { $0 == wrong ? 0.8 : 0.2 / Double(k - 1) }
        prediction.vertebrae[2] = VertebraPrediction(levelID: prediction.vertebrae[2].levelID, centroidMM: prediction.vertebrae[2].centroidMM,
                                                     centroidVoxel: prediction.vertebrae[2].centroidVoxel, detectionScore: 1,
                                                     identificationConfidence: 1, voxels: 1, volumeML: 1, classProbabilities: row)
        prediction.vertebrae.removeFirst()
        // Structures: nothing predicted, so every present structure has Dice 0 and no HD95.
        volumes.structures = [UInt8](repeating: 0, count: s.geometry.voxelCount)
        try PredictionFolder(folder.file("p")).write(prediction, volumes: volumes)
        let e = try Evaluator(folder: PredictionFolder(folder.file("p")), reader: reader).evaluate()
        let r = try #require(e.subjects.first)

        #expect(r.localization.truthCount == n && r.localization.identifiedCount == n - 1)
        #expect(same(r.localization.meanDistanceMM, 3.0 / Double(n - 1)))
        let classification = try #require(r.classification)
        #expect(classification.missed == [s.vertebrae.first { $0.centroidMM != nil }!.level.name])
        let classedPairs = s.vertebrae.filter { $0.classIndex != nil && $0.centroidMM != nil }.count - 1
        #expect(classification.pairs.count == classedPairs)
        #expect(classification.pairs.filter { $0.decision != $0.trueClass }.count == 1)
        #expect(classification.pairs.contains { abs($0.distanceMM - 3) < 1e-9 })
        // ECE: the wrong one at 0.8 and the right ones at 0.8 share a bin: |acc − 0.8| with acc = (m − 1)/m.
        let m = Double(classedPairs)
        #expect(same(e.aggregate.classification.overall.expectedCalibrationError, abs((m - 1) / m - 0.8)))
        let present = Set(s.structureLabels.filter { $0 != 0 })
        for (i, score) in (r.segmentation ?? []).enumerated() {
            if present.contains(UInt8(i + 1)) {
                #expect(score.dice == 0 && score.hd95MM.isNaN && score.emptiness == .one)
            } else {
                #expect(score.dice.isNaN && score.emptiness == .both)
            }
        }
        #expect(r.segmentation?.count == StructureLabel.allCases.count - 1)
    }

    @Test func classificationPairingIsGreedyOneToOneRegardlessOfLevel() throws {
        let truth = [
            VertebraRecord(level: try VertebraLevel(id: 20), centroidMM: [0, 0, 0], classIndex: 0, annotation: .full, cutByFieldOfView: false),
            VertebraRecord(level: try VertebraLevel(id: 21), centroidMM: [0, 0, 10], classIndex: 1, annotation: .full, cutByFieldOfView: false),
            VertebraRecord(level: try VertebraLevel(id: 22), centroidMM: [0, 0, 50], classIndex: 1, annotation: .full, cutByFieldOfView: false),
            VertebraRecord(level: try VertebraLevel(id: 23), centroidMM: [0, 0, 80], classIndex: nil, annotation: .full, cutByFieldOfView: false),
        ]
        func p(_ level: Int, _ z: Double) -> VertebraPrediction {
            VertebraPrediction(levelID: level, centroidMM: [0, 0, z], centroidVoxel: [0, 0, 0], detectionScore: 1, identificationConfidence: 1,
                               voxels: 1, volumeML: 1, classProbabilities: [0.3, 0.7])
        }
        // The prediction at z 8 (labelled L4) is nearest to L2 (2 mm), the one at z 1 to L1 (1 mm); the one at z 75
        // is 25 mm from L3: L3 is missed, and L4 has no class so it is not paired.
        let result = Evaluator.classificationPairs(truth: truth, predicted: [p(20, 1), p(23, 8), p(24, 75)], maximumDistanceMM: 20)
        #expect(result.pairs.map(\.level) == ["L1", "L2"] && result.pairs.map(\.predictedLevel) == ["L1", "L4"])
        #expect(result.pairs.map(\.distanceMM) == [1, 2] && result.missed == ["L3"])
        // One prediction between two truths goes to the nearer; the other truth is missed.
        let single = Evaluator.classificationPairs(truth: Array(truth.prefix(2)), predicted: [p(20, 6)], maximumDistanceMM: 20)
        #expect(single.pairs.map(\.level) == ["L2"] && single.missed == ["L1"] && single.undecided == [])
        // A vertebra found without a class decision (no body in view) is missed, and said to be undecided when it
        // is the nearest prediction and within the distance: L3's at z 55 is; at z 75 (25 mm) it is not.
        var bodiless = p(22, 55)
        bodiless.classProbabilities = nil
        let found = Evaluator.classificationPairs(truth: truth, predicted: [p(20, 1), p(23, 8), bodiless], maximumDistanceMM: 20)
        #expect(found.pairs.map(\.level) == ["L1", "L2"] && found.missed == ["L3"] && found.undecided == ["L3"])
        bodiless.centroidMM = [0, 0, 75]
        #expect(Evaluator.classificationPairs(truth: truth, predicted: [p(20, 1), p(23, 8), bodiless], maximumDistanceMM: 20).undecided == [])
    }

    @Test func badInputIsRejectedNamingTheFiles() throws {
        let folder = try TemporaryFolder()
        let reader = try dataset(folder)
        let s = Self.subjects[0]
        func evaluate(_ name: String, _ edit: (inout SubjectPrediction) -> Void) throws {
            var (p, v) = HandPredictions.copy(of: s)
            edit(&p)
            let predictions = PredictionFolder(folder.file(name))
            try predictions.write(p, volumes: PredictedVolumes(vertebrae: [UInt8](repeating: 0, count: p.geometry.voxelCount), structures: v.structures.map { _ in [UInt8](repeating: 0, count: p.geometry.voxelCount) }))
            _ = try Evaluator(folder: predictions, reader: reader).evaluate()
        }
        let file = folder.file("unknown").appendingPathComponent("\(s.id).json").path
        #expect(throws: EvaluationError.unknownSubject(prediction: file, subject: "nobody", dataset: reader.url.path)) {
            try evaluate("unknown") { $0.source.subject = "nobody" }
        }
        var shape = s.geometry.shape
        shape[0] += 1
        #expect(throws: EvaluationError.shapeMismatch(prediction: folder.file("shape").appendingPathComponent("\(s.id).json").path, predicted: shape,
                                                      dataset: reader.url.path, subject: s.id, expected: s.geometry.shape)) {
            try evaluate("shape") { $0.geometry.shape = shape }
        }
        #expect(throws: EvaluationError.self) { try evaluate("classes") { $0.classNames = ["x", "y", "z"] } }
        // Missing folder, empty folder, corrupt JSON.
        #expect(throws: PredictionFolder.Error.missing(path: folder.file("none").path)) {
            try Evaluator(folder: PredictionFolder(folder.file("none")), reader: reader).evaluate()
        }
        try FileManager.default.createDirectory(at: folder.file("empty"), withIntermediateDirectories: true)
        #expect(throws: PredictionFolder.Error.empty(path: folder.file("empty").path)) {
            try Evaluator(folder: PredictionFolder(folder.file("empty")), reader: reader).evaluate()
        }
        try FileManager.default.createDirectory(at: folder.file("corrupt"), withIntermediateDirectories: true)
        try Data("{\"format\": ".utf8).write(to: folder.file("corrupt").appendingPathComponent("a.json"))
        try Data().write(to: folder.file("corrupt").appendingPathComponent("a_vertebrae.nii.gz"))
        do {
            _ = try Evaluator(folder: PredictionFolder(folder.file("corrupt")), reader: reader).evaluate()
            Issue.record("corrupt JSON was accepted")
        } catch {
            #expect("\(error)".contains("a.json"), "\(error)")
        }
    }
}
