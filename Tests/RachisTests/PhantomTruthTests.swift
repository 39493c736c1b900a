import Foundation
import Testing
@testable import Rachis

/// The exact truth of phantom subjects (`/subjects/<id>/truth`): written by the dataset writer, read by evaluation
/// only, and what `rachis evaluate` scores against when a subject has it.
@Suite(.serialized) struct PhantomTruthTests {
    static func recipe() -> PhantomRecipe {
        var recipe = PhantomRecipe()
        recipe.name = "truth"
        recipe.seed = 5
        recipe.count = 8
        recipe.shape = [8, 48, 32]
        recipe.spacingMM = [4, 3, 3]
        recipe.annotationModes = ["full": 1, "partial": 1, "box": 1, "eroded": 2, "dilated": 1, "raters": 1, "classOnly": 1, "unlabelled": 1]
        return recipe
    }

    static func synthesize(_ folder: TemporaryFolder) throws -> (URL, [PhantomSample]) {
        let url = folder.file("d.h5")
        _ = try PhantomDataset.write(recipe: recipe(), to: url, overwrite: false, command: "test")
        return (url, try PhantomGenerator(recipe: recipe()).samples())
    }

    @Test func everyPhantomSubjectStoresItsExactTruthAndTheSubjectReadsWithoutIt() throws {
        let folder = try TemporaryFolder()
        let (url, samples) = try Self.synthesize(folder)
        let reader = try DatasetReader(url: url)
        #expect(Set(samples.map(\.subject.annotationMode)).count >= 5)
        for sample in samples {
            let id = sample.subject.id
            let truth = try #require(try reader.truth(of: id))
            #expect(truth == sample.truth.stored && truth.source == "phantom")
            #expect(truth.vertebrae.map(\.level) == sample.truth.levels && truth.vertebrae.map(\.classIndex) == sample.truth.classIndices)
            // The subject as training reads it is the annotated one, with loose labels where the mode says so.
            let subject = try reader.subject(id)
            #expect(subject.vertebrae == sample.subject.vertebrae)
            if sample.subject.annotationMode == .full {
                #expect(subject.structureLabels == truth.structureLabels && subject.vertebraLabels == truth.vertebraLabels)
            }
            if sample.subject.annotationMode == .eroded {
                #expect(subject.structureLabels != truth.structureLabels)
            }
        }
        #expect(try DatasetValidator().validate(url).isEmpty)
        #expect(try DatasetSummary(reader).truthSubjects == samples.count)
        // Export writes the truth volumes; a subject without truth says so.
        let exported = try DatasetExporter.volume(reader, subject: samples[0].subject.id, .truthStructures)
        #expect(exported.voxels == samples[0].truth.structureLabels.map(Float.init) && exported.geometry == samples[0].subject.geometry)
        // A dataset written without truth (imports, older files) has none.
        let plain = folder.file("plain.h5")
        try TestData.writeDataset(samples.map(\.subject), to: plain)
        #expect(try DatasetReader(url: plain).truth(of: samples[0].subject.id) == nil)
        #expect(throws: ExportError.noTruth(file: plain.path, subject: samples[0].subject.id)) {
            try DatasetExporter.volume(try DatasetReader(url: plain), subject: samples[0].subject.id, .truthVertebrae)
        }
        #expect(try DatasetValidator().validate(plain).isEmpty)
    }

    /// What `loss.structureWeights: balanced` counts: the annotated structure voxels of the subjects whose mode
    /// carries structure labels, counted here from the subjects as generated.
    @Test func annotatedStructureCountsCountTheLabelledVoxelsOfSegmentationModes() throws {
        let folder = try TemporaryFolder()
        let (url, samples) = try Self.synthesize(folder)
        let reader = try DatasetReader(url: url)
        for sample in samples {
            let subject = sample.subject
            let classes = StructureLabel.allCases.count
            var expected = [Int](repeating: 0, count: classes)
            if LearningTask.supported(by: subject.annotationMode).contains(.segmentation) {
                for (label, known) in zip(subject.structureLabels, subject.structureAnnotated) where known != 0 { expected[Int(label)] += 1 }
            }
            #expect(try reader.annotatedStructureCounts(of: subject.id, classes: classes) == expected, "\(subject.id) \(subject.annotationMode)")
            if subject.annotationMode == .box || subject.annotationMode == .unlabelled { #expect(expected.allSatisfy { $0 == 0 }) }
            if subject.annotationMode == .full { #expect(expected.reduce(0, +) == subject.geometry.voxelCount && expected[4] + expected[5] > 0) }
        }
    }

    /// VerSe's definition: the centroid of the whole vertebra mask (body and posterior elements). The body-only
    /// centroid sits anterior of it: the posterior elements pull the whole-vertebra centroid back.
    @Test func truthCentroidsAreWholeVertebraCentroidsPosteriorOfTheBody() throws {
        let g = try PhantomGenerator(recipe: Self.recipe())
        var anteriorShiftsMM: [Double] = []
        for k in 0..<4 {
            let sample = g.sample(at: k), geometry = sample.subject.geometry, shape = geometry.shape
            let stored = sample.truth.stored
            for v in stored.vertebrae {
                var whole = [0.0, 0.0, 0.0], body = [0.0, 0.0, 0.0], (nWhole, nBody) = (0.0, 0.0)
                for (i, label) in stored.vertebraLabels.enumerated() where label == UInt8(v.level.id) {
                    let c = [Double(i / (shape[1] * shape[2])), Double((i / shape[2]) % shape[1]), Double(i % shape[2])]
                    whole = zip(whole, c).map(+)
                    nWhole += 1
                    if [StructureLabel.vertebralBody, .lesion].map(\.rawValue).contains(stored.structureLabels[i]) {
                        body = zip(body, c).map(+)
                        nBody += 1
                    }
                }
                let wholeMM = geometry.worldMM(index: whole.map { $0 / nWhole })
                #expect(zip(wholeMM, v.centroidMM).allSatisfy { abs($0 - $1) < 1e-9 }, "\(v.level)")
                guard nBody > 0, v.level.id != 26 else { continue }
                let bodyMM = geometry.worldMM(index: body.map { $0 / nBody })
                anteriorShiftsMM.append(bodyMM[1] - v.centroidMM[1])  // RAS y: anterior
            }
        }
        let mean = anteriorShiftsMM.reduce(0, +) / Double(anteriorShiftsMM.count)
        #expect(anteriorShiftsMM.count > 10 && mean > 1 && mean < 6, "body-only centroid \(mean) mm anterior of the vertebra centroid")
    }

    @Test func evaluationScoresAgainstTheTruthAndSaysSo() throws {
        let folder = try TemporaryFolder()
        let (url, samples) = try Self.synthesize(folder)
        // Predictions that are the exact truth: perfect against the truth whatever each subject's annotation.
        let predictions = PredictionFolder(folder.file("p"))
        for sample in samples {
            var exact = sample.subject
            exact.vertebrae = sample.truth.stored.records
            exact.structureLabels = sample.truth.structureLabels
            exact.vertebraLabels = sample.truth.vertebraLabels
            try predictions.write(HandPredictions.copy(of: exact).0, volumes: HandPredictions.copy(of: exact).1)
        }
        let e = try Evaluator(folder: predictions, reader: try DatasetReader(url: url)).evaluate()
        #expect(e.aggregate.references == Evaluation.ReferenceCounts(truth: samples.count, labels: 0))
        #expect(e.subjects.allSatisfy { $0.reference == .truth && $0.segmentationLeftOut == nil })
        #expect(e.aggregate.segmentation.cases == samples.count && e.aggregate.segmentationLeftOut.isEmpty)
        for s in e.aggregate.segmentation.perStructure where s.diceCount > 0 {
            #expect(s.meanDice == 1 && s.meanHD95MM == 0 && s.meanHD95MedpyMM == 0, "\(s)")
        }
        // Every visible vertebra counts, unlabelled subjects' included.
        let visible = samples.map(\.truth.levels.count).reduce(0, +)
        #expect(e.aggregate.localization.truthCount == visible && e.aggregate.localization.identificationRate == 1)
        #expect(e.aggregate.classification.paired == visible)
        let violations = try JSONSchema.file("evaluation.schema.json").validate(try JSONValue.parse(try e.encoded(), source: "evaluation.json"))
        #expect(violations.isEmpty, "\(violations.prefix(5))")
        #expect(e.definitions["identificationRate"]?.contains("get_hits") == true && e.definitions["hd95MonaiMM"] != nil)

        // The same predictions against the same subjects without truth: loose-label subjects are left out of the
        // segmentation, each with its reason; full and partial are scored over their annotated voxels.
        let plain = folder.file("plain.h5")
        try TestData.writeDataset(samples.map(\.subject), to: plain)
        let loose = try Evaluator(folder: predictions, reader: try DatasetReader(url: plain)).evaluate()
        #expect(loose.aggregate.references == Evaluation.ReferenceCounts(truth: 0, labels: samples.count))
        let expectedLeftOut = samples.filter { !$0.subject.annotationMode.hasExactVoxelLabels }.map(\.subject.id).sorted()
        #expect(loose.aggregate.segmentationLeftOut.map(\.subjectID) == expectedLeftOut)
        let eroded = try #require(loose.subjects.first { $0.annotation == "eroded" })
        #expect(eroded.segmentation == nil && eroded.segmentationLeftOut?.contains("not voxel-exact") == true)
        let classOnly = try #require(loose.subjects.first { $0.annotation == "classOnly" })
        #expect(classOnly.segmentationLeftOut?.contains("no voxel labels") == true)
        #expect(loose.aggregate.segmentation.cases == samples.filter { $0.subject.annotationMode.hasExactVoxelLabels }.count)
        #expect(loose.aggregate.localization.truthCount < visible)
    }

    @Test func aDamagedTruthGroupIsReportedNamingTheObject() throws {
        let folder = try TemporaryFolder()
        let (url, samples) = try Self.synthesize(folder)
        let id = samples[0].subject.id
        try DatasetFile.update(at: url) { file in
            let path = "subjects/\(id)/truth/vertebrae/class"
            try file.remove(path)
            try file.createDataset(path, values: [Int32](repeating: 7, count: samples[0].truth.levels.count), shape: [samples[0].truth.levels.count])
        }
        let problems = try DatasetValidator().validate(url)
        #expect(problems.contains { $0.object == "/subjects/\(id)/truth" && $0.description.contains("truth/vertebrae/class") }, "\(problems)")
        #expect(throws: DatasetError.self) { try DatasetReader(url: url).truth(of: id) }
    }
}
