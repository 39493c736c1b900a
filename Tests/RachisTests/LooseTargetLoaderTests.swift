import Foundation
import Testing
import Torch
@testable import Rachis

/// The loader's loose-label targets: descriptor bounds (shifted by the crop offset, only structures wholly inside),
/// box maps with cut boxes, and the raters' STAPLE consensus; and a short training run that logs the new terms.
struct LooseTargetLoaderTests {
    static let tolerance = DescriptorBounds.Tolerance(relative: 0.1, centroidMM: 5, kinds: [.size, .centroid, .meanDistance])

    static func loader(_ f: LoaderFixture, _ targets: LooseTargets) throws -> DataLoader {
        try DataLoader(reader: f.reader, config: LoaderFixture.config(augment: false), seed: 1, targets: targets)
    }

    static func expectClose(_ a: [Double], _ b: [Double], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.count == b.count, sourceLocation: sourceLocation)
        for (x, y) in zip(a, b) where !(x.isNaN && y.isNaN) {
            #expect(abs(x - y) <= 1e-6 * Swift.max(1, abs(y)), "\(x) vs \(y)", sourceLocation: sourceLocation)
        }
    }

    /// A crop that holds the whole volume with padding before it (offset < 0): every structure is inside, and the
    /// bounds equal those computed from the crop's own labels, whose centroids sit offset·spacing further along.
    /// A crop that cuts the structures bounds none of them.
    @Test func descriptorBoundsFollowTheCropAndSkipCutStructures() throws {
        let f = try LoaderFixture()
        let targets = LooseTargets(descriptors: Self.tolerance, descriptorStructures: [1, 2, 3, 5])
        let loader = try Self.loader(f, targets)
        let id = f.subject(.full).id
        let layout = loader.layouts[id]!
        #expect(Set(layout.structureDescriptors.map(\.structure)).isSuperset(of: [1, 2, 3]))
        let sample = try loader.read(layout, offset: [-2, -8, -4], size: [12, 64, 40])
        let batch = try loader.collate([sample])
        let bounds = try #require(batch.descriptorBounds)
        var expected = try DescriptorBounds.fromLabels(batch.structures, structures: StructureLabel.allCases.count, spacingMM: [4, 3, 3], tolerance: Self.tolerance)
        // Lesions and ribs are not among the bounded structures.
        for s in [4, 6] { for c in ShapeDescriptors.Component.allCases { expected.set(sample: 0, structure: s, c, lower: nil, upper: nil) } }
        Self.expectClose(bounds.lower, expected.lower)
        Self.expectClose(bounds.upper, expected.upper)
        Self.expectClose(bounds.scale, expected.scale)
        // The body's centroid bound is centred on the subject's centroid moved by the crop offset.
        let body = layout.structureDescriptors.first { $0.structure == 1 }!
        let i = bounds.index(0, 1, .centroidH)
        #expect(abs((bounds.lower[i] + bounds.upper[i]) / 2 - (body.values[2] + 8 * 3)) < 1e-9)

        let cut = try loader.collate([try loader.read(layout, offset: [0, 8, 0], size: [8, 32, 32])])
        #expect(cut.descriptorBounds.map { !$0.hasBounds(sample: 0) } ?? true)
        // Subjects without complete structure labels get none.
        #expect(loader.layouts[f.subject(.partial).id]!.structureDescriptors.isEmpty || f.subject(.partial).structureAnnotated.allSatisfy { $0 == 1 })
        #expect(loader.layouts[f.subject(.box).id]!.structureDescriptors.isEmpty)
    }

    /// Descriptor bounds follow a left-right flip: the D centroid mirrors, the rest stays.
    @Test func flippedCropsMirrorTheCentroidBound() throws {
        let f = try LoaderFixture()
        let loader = try Self.loader(f, LooseTargets(descriptors: Self.tolerance, descriptorStructures: [1]))
        let layout = loader.layouts[f.subject(.full).id]!
        let plain = try loader.read(layout, offset: [0, 0, 0], size: [8, 48, 32])
        var flipped = plain
        flipped.transform(flip: true, angle: 0)
        let (a, b) = (try #require(try loader.collate([plain]).descriptorBounds), try #require(try loader.collate([flipped]).descriptorBounds))
        let d = a.index(0, 1, .centroidD), h = a.index(0, 1, .centroidH)
        #expect(abs((a.lower[d] + a.upper[d]) / 2 + (b.lower[d] + b.upper[d]) / 2 - 7 * 4) < 1e-9)
        #expect(abs(a.lower[h] - b.lower[h]) < 1e-12)
    }

    @Test func boxSubjectsCarryTheirBoxesAndCutBoxes() throws {
        let f = try LoaderFixture()
        let loader = try Self.loader(f, LooseTargets(boxes: true))
        let subject = f.subject(.box)
        let layout = loader.layouts[subject.id]!
        let whole = try loader.collate([try loader.read(layout, offset: [0, 0, 0], size: [8, 48, 32]), try loader.read(loader.layouts[f.subject(.full).id]!, offset: [0, 0, 0], size: [8, 48, 32])])
        let boxes = try #require(whole.boxes).array(Int64.self)
        #expect(Array(boxes.prefix(subject.vertebraLabels.count)) == subject.vertebraLabels.map(Int64.init))
        #expect(boxes.suffix(subject.vertebraLabels.count).allSatisfy { $0 == 0 })
        #expect(try whole.boxSamples!.array(Float.self) == [1, 0])
        #expect(whole.cutBoxes == Set(subject.vertebrae.filter(\.cutByFieldOfView).map { BoxLoss.BoxKey(sample: 0, id: $0.level.id) }))
        // A crop of H 8..<40 cuts every box that reaches outside it.
        let cropped = try loader.collate([try loader.read(layout, offset: [0, 8, 0], size: [8, 32, 32])])
        let outside = layout.vertebrae.indices.filter { row in
            layout.vertebrae[row].cutByFieldOfView || layout.boxes[row].map { $0.lo[1] < 8 || $0.hi[1] >= 40 } ?? false
        }.map { BoxLoss.BoxKey(sample: 0, id: layout.vertebrae[$0].level.id) }
        #expect(!outside.isEmpty && cropped.cutBoxes == Set(outside))
        // Without boxes asked for, nothing.
        #expect(try Self.loader(f, LooseTargets()).collate([try loader.read(layout, offset: [0, 0, 0], size: [8, 48, 32])]).boxes == nil)
    }

    /// The soft targets are the multi-label STAPLE posterior of the raters' structure labels: a distribution per
    /// voxel, the same as STAPLE run on the stored rater volumes.
    @Test func raterSubjectsCarryTheSTAPLEPosterior() throws {
        let f = try LoaderFixture()
        let loader = try Self.loader(f, LooseTargets(staple: true))
        let subject = f.subject(.raters)
        #expect(subject.raters.count >= 2)
        let batch = try loader.validationBatch(subject.id)
        let soft = try #require(batch.softStructures).array(Float.self)
        #expect(try batch.softSamples!.array(Float.self) == [1])
        let n = subject.vertebraLabels.count
        let reference = try MultiLabelSTAPLE()(subject.raters.map(\.structureLabels), labels: 6)
        var worst = 0.0
        for i in 0..<n {
            var sum = 0.0
            for s in 0..<6 {
                sum += Double(soft[s * n + i])
                worst = max(worst, abs(Double(soft[s * n + i]) - reference.consensus[i * 6 + s]))
            }
            #expect(abs(sum - 1) < 1e-5)
        }
        #expect(worst < 1e-6)
        #expect(try loader.validationBatch(f.subject(.full).id).softStructures == nil)
    }
}

struct LooseLabelTrainingTests {
    /// A whole epoch on the test phantoms (box and rater subjects included) with every loose-label term switched on:
    /// the log carries the descriptor, entropy and box terms, finite.
    @Test func trainingLogsTheLooseLabelTerms() throws {
        try Torch.exclusiveRandomness {
            let folder = try TemporaryFolder()
            let url = try TrainingFixture.dataset(in: folder)
            var config = TrainingFixture.config(epochs: 1, stepsPerEpoch: 0)
            config.loss.descriptors.weight = 0.1
            config.loss.boxes.weight = 0.1
            config.loss.raters.consensus = .staple
            config.train.validateEvery = 1
            var options = Trainer.Options(dataset: url, run: folder.file("run"))
            options.seed = 3
            let trainer = try Trainer(config: config, options: options)
            #expect(try trainer.run() == .finished(epochs: 1))
            let row = try #require(trainer.history.last)
            for key in ["train.loss.descriptors", "train.loss.entropy", "train.loss.boxes", "train.loss.segmentation"] {
                #expect(row[key]?.isFinite == true, "\(key) in \(row.keys.sorted())")
            }
            let csv = try String(contentsOf: folder.file("run/metrics.csv"), encoding: .utf8)
            #expect(csv.contains("train.loss.descriptors") && csv.contains("train.loss.boxes"))
        }
    }
}

/// Descriptor-only annotation: phantoms that carry per-structure descriptors instead of masks, stored in the dataset
/// and read by the loader into the same bounds as descriptors taken from labels.
struct DescriptorAnnotationTests {
    static func subject(_ mode: AnnotationMode) throws -> Subject {
        var recipe = PhantomRecipe()
        (recipe.name, recipe.seed, recipe.count) = ("d", 21, 1)
        (recipe.shape, recipe.spacingMM, recipe.annotationModes) = ([8, 48, 32], [4, 3, 3], [mode.rawValue: 1])
        return try PhantomGenerator(recipe: recipe).subjects()[0]
    }

    /// The direct double-precision descriptors of label masks equal `ShapeDescriptors` of their one-hot volumes.
    @Test func labelDescriptorsMatchShapeDescriptors() throws {
        let full = try Self.subject(.full), shape = full.geometry.shape
        let direct = StructureDescriptor.fromLabels(full.structureLabels, shape: shape, spacingMM: [4, 3, 3], structures: 6)
        #expect(direct.count >= 4)
        let oneHot = try Tensor(full.structureLabels.map(Int64.init), shape: [1] + shape).oneHot(classes: 6).permute([0, 4, 1, 2, 3]).to(.float64)
        let reference = try ShapeDescriptors(oneHot, spacingMM: [4, 3, 3]).components.array(Double.self)
        for d in direct {
            for k in 0..<6 {
                let r = reference[d.structure * 6 + k]
                #expect(abs(d.values[k] - r) <= 1e-9 * max(1, abs(r)), "structure \(d.structure) component \(k): \(d.values[k]) vs \(r)")
            }
        }
    }

    @Test func descriptorSubjectsRoundTripValidateAndBoundLikeTheirLabels() throws {
        let folder = try TemporaryFolder()
        let url = folder.file("d.h5")
        var described = try Self.subject(.descriptors)
        let full = try Self.subject(.full)
        #expect(!described.hasVoxelLabels && described.structureLabels.allSatisfy { $0 == 0 })
        #expect(described.tasks == [.localization, .classification, .autoencoding])
        #expect(described.image == full.image && described.vertebrae.map(\.centroidMM) == full.vertebrae.map(\.centroidMM))
        #expect(Set(described.structureDescriptors.map(\.structure)) == Set(Set(full.structureLabels).filter { $0 > 0 }.map(Int.init)))
        described.id = "described"
        try TestData.writeDataset([described, full], to: url, splits: [Split(name: "holdout", train: [described.id, full.id], val: [], method: "t")])
        #expect(try DatasetValidator().validate(url).isEmpty)
        let reader = try DatasetReader(url: url)
        let back = try reader.subject(described.id)
        #expect(back.structureDescriptors.count == described.structureDescriptors.count)
        for (a, b) in zip(back.structureDescriptors, described.structureDescriptors) {
            #expect(a.structure == b.structure && a.sizeMM3 == b.sizeMM3 && a.surfaceMM2 == b.surfaceMM2)
            #expect(zip(a.centroidMM!, b.centroidMM!).allSatisfy { abs($0 - $1) < 1e-12 })
        }
        // The loader bounds the descriptor-only subject exactly as the same anatomy's labels.
        let targets = LooseTargets(descriptors: DescriptorBounds.Tolerance(relative: 0.1, centroidMM: 5, kinds: Set(ShapeDescriptors.Kind.allCases)),
                                   descriptorStructures: [1, 2, 3, 4, 5])
        var config = LoaderFixture.config(augment: false)
        config.crop = [8, 48, 32]
        let loader = try DataLoader(reader: reader, config: config, seed: 0, targets: targets)
        let a = try #require(try loader.collate([try loader.read(loader.layouts[described.id]!, offset: [0, 0, 0], size: [8, 48, 32])]).descriptorBounds)
        let b = try #require(try loader.collate([try loader.read(loader.layouts[full.id]!, offset: [0, 0, 0], size: [8, 48, 32])]).descriptorBounds)
        LooseTargetLoaderTests.expectClose(a.lower, b.lower)
        LooseTargetLoaderTests.expectClose(a.upper, b.upper)
        // A crop that does not hold the whole volume bounds nothing: a descriptor-only structure's extent is unknown.
        let cropped = try loader.collate([try loader.read(loader.layouts[described.id]!, offset: [0, 8, 0], size: [8, 32, 32])])
        #expect(cropped.descriptorBounds == nil)
    }
}
