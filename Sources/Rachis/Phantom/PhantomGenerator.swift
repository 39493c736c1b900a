import Foundation

/// What the phantom really contains, whatever the annotation delivered: for evaluation and tests.
public struct PhantomTruth: Equatable, Sendable {
    /// Exact VerSe level per voxel, `[D, H, W]`.
    public var vertebraLabels: [UInt8]
    /// Exact `StructureLabel` per voxel, `[D, H, W]`.
    public var structureLabels: [UInt8]
    /// Visible vertebrae, cranial to caudal, with their true class (the sacrum is always class 0).
    public var levels: [VertebraLevel]
    public var classIndices: [Int]
    /// Whether the shortcut cue was drawn next to each visible vertebra (all false when off).
    public var shortcutCues: [Bool]
    /// Centroid of each visible vertebra's voxels in `vertebraLabels` (body and posterior elements), RAS+ world mm.
    public var centroidsMM: [[Double]]

    /// What a dataset stores under `/subjects/<id>/truth`.
    public var stored: SubjectTruth {
        SubjectTruth(vertebraLabels: vertebraLabels, structureLabels: structureLabels,
                     vertebrae: levels.indices.map { SubjectTruth.Vertebra(level: levels[$0], centroidMM: centroidsMM[$0], classIndex: classIndices[$0]) })
    }
}

public struct PhantomSample: Equatable, Sendable {
    public var subject: Subject
    public var truth: PhantomTruth
}

/// Synthetic sagittal spine MRI (T1 and STIR) with SpA-like lesions and loose annotations.
///
/// A pure function of the recipe and the subject index: `sample(at: k)` is the same whatever else is
/// generated, in any order, on any thread.
public struct PhantomGenerator: Sendable {
    public let recipe: PhantomRecipe
    public static let channelNames = ["T1", "STIR"]

    public init(recipe: PhantomRecipe) throws(PhantomRecipe.Error) {
        try recipe.validate()
        self.recipe = recipe
    }

    /// Subject `index`'s grid (the recipe's, or the one drawn from `grids`) in canonical PIR orientation, centred on
    /// the world origin.
    public func geometry(subject index: Int = 0) -> Geometry { Self.geometry(of: recipe.rendering(subject: index)) }

    private static func geometry(of recipe: PhantomRecipe) -> Geometry {
        let atZero = Geometry(shape: recipe.shape, spacingMM: recipe.spacingMM)
        let centre = atZero.worldMM(index: recipe.shape.map { Double($0 - 1) / 2 })
        return Geometry(shape: recipe.shape, spacingMM: recipe.spacingMM, originMM: centre.map { -$0 })
    }

    /// Subject `index` as annotated (what a dataset stores).
    public func subject(at index: Int) -> Subject { sample(at: index).subject }

    /// Subjects `range` (default: the recipe's count), generated concurrently.
    public func subjects(_ range: Range<Int>? = nil) -> [Subject] { samples(range).map(\.subject) }

    /// Subjects `range` (default: the recipe's count) with their ground truth, generated concurrently on at most
    /// `threads` threads (default: as many as the machine runs at once). Each subject depends on its index only, so
    /// the thread count never changes the result.
    public func samples(_ range: Range<Int>? = nil, threads: Int? = nil) -> [PhantomSample] {
        let range = range ?? 0..<recipe.count
        let results = SampleSlots(count: range.count)
        let workers = Swift.max(1, Swift.min(threads ?? range.count, range.count))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for k in Swift.stride(from: worker, to: range.count, by: workers) { results.set(k, sample(at: range.lowerBound + k)) }
        }
        return results.values()
    }

    /// Subject `index` with its ground truth. Independent random streams for anatomy, scanner and
    /// annotation, each from `(recipe.seed, index)`: changing an annotation knob keeps the images.
    public func sample(at index: Int) -> PhantomSample {
        let recipe = recipe.rendering(subject: index)
        let seed = recipe.seed, stream = UInt64(bitPattern: Int64(index))
        var anatomyRNG = SplitMix64(seed: seed, stream: stream, 1)
        var scannerRNG = SplitMix64(seed: seed, stream: stream, 2)
        var annotationRNG = SplitMix64(seed: seed, stream: stream, 3)
        let anatomy = PhantomAnatomy.make(recipe: recipe, rng: &anatomyRNG)
        var renderer = PhantomRenderer(recipe: recipe)
        renderer.paintAnatomy(anatomy)
        let image = renderer.acquire(recipe: recipe, rng: &scannerRNG)
        let geometry = Self.geometry(of: recipe)

        // Visible vertebrae: centroid of their voxels, cut when they touch the top or bottom rows.
        let (nh, nw) = (recipe.shape[1], recipe.shape[2])
        var sums = [SIMD4<Double>](repeating: .zero, count: 256), cut: Set<UInt8> = []
        for (i, v) in renderer.vertebra.enumerated() where v != 0 {
            let h = (i / nw) % nh
            sums[Int(v)] += SIMD4(Double(i / (nh * nw)), Double(h), Double(i % nw), 1)
            if h == 0 || h == nh - 1 { cut.insert(v) }
        }
        let visible = anatomy.vertebrae.filter { sums[$0.level.id].w > 0 }
        let centroids = visible.map { v -> [Double] in
            let s = sums[v.level.id]
            return geometry.worldMM(index: [s.x / s.w, s.y / s.w, s.z / s.w])
        }
        let truth = PhantomTruth(
            vertebraLabels: renderer.vertebra, structureLabels: renderer.structure, levels: visible.map(\.level),
            classIndices: visible.map(\.classIndex), shortcutCues: visible.map { $0.cue != nil }, centroidsMM: centroids)

        let weights = AnnotationMode.allCases.map { recipe.annotationModes[$0.rawValue] ?? 0 }
        let mode = AnnotationMode.allCases[annotationRNG.categorical(weights)]
        let records = visible.indices.map { k in
            VertebraRecord(level: visible[k].level, centroidMM: centroids[k], classIndex: visible[k].classIndex,
                           annotation: mode, cutByFieldOfView: cut.contains(UInt8(visible[k].level.id)))
        }
        let annotation = PhantomAnnotator(shape: recipe.shape)
            .annotate(mode: mode, truth: truth, records: records, recipe: recipe, rng: &annotationRNG)

        var subject = Subject(
            id: "\(recipe.name)-\(String(format: "%05d", index))", geometry: geometry,
            channelNames: Self.channelNames, image: image, vertebraLabels: annotation.vertebraLabels,
            structureLabels: annotation.structureLabels, vertebraAnnotated: annotation.vertebraAnnotated,
            structureAnnotated: annotation.structureAnnotated, raters: annotation.raters, vertebrae: annotation.records,
            classNames: recipe.classNames, annotationMode: mode)
        if mode.hasStructureDescriptors {
            // The true structures' descriptors, centroids in world millimetres.
            subject.structureDescriptors = StructureDescriptor.fromLabels(truth.structureLabels, shape: recipe.shape, spacingMM: geometry.spacingMM,
                                                                              structures: StructureLabel.allCases.count).map { d in
                let centroid = (0..<3).map { d.values[ShapeDescriptors.Component.centroidD.rawValue + $0] / geometry.spacingMM[$0] }
                return StructureDescriptorAnnotation(structure: d.structure, sizeMM3: d.values[0], centroidMM: geometry.worldMM(index: centroid),
                                                     meanDistanceMM: d.values[4], surfaceMM2: d.values[5])
            }
        }
        return PhantomSample(subject: subject, truth: truth)
    }
}

/// Result slots written from `concurrentPerform`, each index by exactly one iteration.
private final class SampleSlots: @unchecked Sendable {
    private var slots: [PhantomSample?]
    private let lock = NSLock()

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ k: Int, _ sample: PhantomSample) { lock.withLock { slots[k] = sample } }

    func values() -> [PhantomSample] { lock.withLock { slots.map { $0! } } }
}
