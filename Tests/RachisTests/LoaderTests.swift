import Foundation
import Testing
import Torch
@testable import Rachis

/// A tiny phantom dataset on disk with a "holdout" split: one full and the partial subject for validation, the rest
/// (the unlabelled and class-only subjects included) for training.
struct LoaderFixture {
    let folder: TemporaryFolder
    let url: URL
    let subjects: [Subject]
    let reader: DatasetReader

    init(edit: (inout [Subject]) -> Void = { _ in }) throws {
        folder = try TemporaryFolder()
        url = folder.file("d.h5")
        var subjects = try Self.subjects()
        edit(&subjects)
        let val = [subjects.first { $0.annotationMode == .full }!.id, subjects.first { $0.annotationMode == .partial }!.id]
        try TestData.writeDataset(subjects, to: url, splits: [Split(name: "holdout", train: subjects.map(\.id).filter { !val.contains($0) }, val: val, method: "test")])
        self.subjects = subjects
        reader = try DatasetReader(url: url)
    }

    /// One subject per annotation mode (two full ones), shaped like `TestData.phantomSubjects`.
    static func subjects() throws -> [Subject] {
        let modes: [AnnotationMode] = [.full, .full, .partial, .box, .eroded, .dilated, .raters, .classOnly, .unlabelled]
        return try modes.enumerated().map { i, mode in
            var recipe = PhantomRecipe()
            (recipe.name, recipe.seed, recipe.count) = ("s\(i)", UInt64(i + 3), 1)
            (recipe.shape, recipe.spacingMM, recipe.annotationModes) = ([8, 48, 32], [4, 3, 3], [mode.rawValue: 1])
            return try PhantomGenerator(recipe: recipe).subjects()[0]
        }
    }

    func subject(_ mode: AnnotationMode) -> Subject { subjects.first { $0.annotationMode == mode }! }

    /// Crop [8, 32, 32] of the [8, 48, 32] subjects: H windows move, D and W cover the volume.
    static func config(augment: Bool = true) -> LoaderConfig {
        var config = LoaderConfig()
        config.crop = [8, 32, 32]
        config.workers = 2
        if !augment { config.augment.probability = noAugmentation }
        return config
    }

    static var noAugmentation: LoaderConfig.Probability {
        var p = LoaderConfig.Probability()
        (p.intensityScale, p.intensityShift, p.gamma, p.noise, p.blur, p.rotation, p.flip) = (0, 0, 0, 0, 0, 0, 0)
        return p
    }
}

/// Every tensor and field of two batches equal.
func expectEqual(_ a: Batch, _ b: Batch, sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(a.subjectIDs == b.subjectIDs, sourceLocation: sourceLocation)
    #expect(a.cropOffsets == b.cropOffsets, sourceLocation: sourceLocation)
    for (x, y) in [(a.image, b.image), (a.levelsKnown, b.levelsKnown), (a.structuresKnown, b.structuresKnown), (a.heatmap, b.heatmap)] {
        #expect(try x.array(Float.self) == y.array(Float.self), sourceLocation: sourceLocation)
    }
    #expect(try a.levels.array(Int64.self) == b.levels.array(Int64.self), sourceLocation: sourceLocation)
    #expect(try a.structures.array(Int64.self) == b.structures.array(Int64.self), sourceLocation: sourceLocation)
    #expect(a.vertebrae.map(\.levelID) == b.vertebrae.map(\.levelID), sourceLocation: sourceLocation)
    #expect(a.vertebrae.map(\.centroidVoxel) == b.vertebrae.map(\.centroidVoxel), sourceLocation: sourceLocation)
}

/// Voxel [d, h, w] of sample `n` of a `[N, D, H, W]` (or `[N, 1, D, H, W]`) array.
func at<T>(_ values: [T], _ size: [Int], _ n: Int, _ d: Int, _ h: Int, _ w: Int) -> T {
    values[((n * size[0] + d) * size[1] + h) * size[2] + w]
}

struct LoaderConfigTests {
    @Test func defaultsDecodeFromAnEmptySectionAndCropsRoundUp() throws {
        let config = try ConfigDecoding.decode(LoaderConfig.self, from: .object([:]), source: "t")
        #expect(config == LoaderConfig())
        #expect(config.cropSize == [24, 96, 64])
        var odd = LoaderConfig()
        odd.crop = [5, 90, 60]
        #expect(odd.cropSize == [5, 96, 64])
    }

    @Test(arguments: ["loader.batchSize", "loader.crop", "loader.unlabelledFraction", "loader.augment.gamma",
                      "loader.augment.rotationDegrees", "loader.augment.probability.flip", "loader.augment.blurSigma"])
    func invalidValuesNameTheirKey(key: String) {
        var config = LoaderConfig()
        switch key {
        case "loader.batchSize": config.batchSize = 0
        case "loader.crop": config.crop = [8, 8]
        case "loader.unlabelledFraction": config.unlabelledFraction = 1
        case "loader.augment.gamma": config.augment.gamma = [1.2, 0.8]
        case "loader.augment.rotationDegrees": config.augment.rotationDegrees = 90
        case "loader.augment.blurSigma": config.augment.blurSigma = [0.5, 9]
        default: config.augment.probability.flip = 2
        }
        #expect { try config.validate() } throws: { error in
            guard case let .invalidConfig(found, _) = error as? LoaderError else { return false }
            return found == key
        }
    }
}

struct LoaderTests {
    @Test func batchesHaveTheDocumentedShapesAndTypes() throws {
        let f = try LoaderFixture()
        let loader = try DataLoader(reader: f.reader, config: LoaderFixture.config(), seed: 7)
        let b = try loader.batch(epoch: 0, index: 0)
        let channels = f.subjects[0].channelNames.count
        #expect(b.count == 2)
        #expect(b.image.shape == [2, channels, 8, 32, 32] && b.image.dtype == .float32)
        for t in [b.levels, b.structures] { #expect(t.shape == [2, 8, 32, 32] && t.dtype == .int64) }
        for t in [b.levelsKnown, b.structuresKnown] { #expect(t.shape == [2, 8, 32, 32] && t.dtype == .float32) }
        #expect(b.heatmap.shape == [2, 1, 8, 32, 32] && b.heatmap.dtype == .float32)
        #expect(b.fieldOfView?.shape == [2, 1, 8, 32, 32])
        #expect(Set(b.taskMask.keys) == Set(LearningTask.allCases))
        #expect(b.taskMask.values.allSatisfy { $0.shape == [2] })
        #expect(b.vertebrae.allSatisfy { (0..<2).contains($0.sample) })
        #expect(throws: LoaderError.batchOutOfRange(epoch: 0, index: loader.batchesPerEpoch, batchesPerEpoch: loader.batchesPerEpoch)) {
            try loader.batch(epoch: 0, index: loader.batchesPerEpoch)
        }
    }

    @Test func aBatchIsAPureFunctionOfSeedEpochAndIndex() throws {
        let f = try LoaderFixture()
        let a = try DataLoader(reader: f.reader, config: LoaderFixture.config(), seed: 7)
        let b = try DataLoader(reader: try DatasetReader(url: f.url), config: LoaderFixture.config(), seed: 7)
        for index in [0, 2] { try expectEqual(a.batch(epoch: 3, index: index), b.batch(epoch: 3, index: index)) }
        let other = try DataLoader(reader: f.reader, config: LoaderFixture.config(), seed: 8)
        #expect(a.epochOrder(0) != other.epochOrder(0) || a.epochOrder(1) != other.epochOrder(1))
        #expect(a.epochOrder(0) != a.epochOrder(1))
    }

    @Test func resumingAndPrefetchingYieldTheSynchronousBatchesInOrder() throws {
        let f = try LoaderFixture()
        var config = LoaderFixture.config()
        config.batchSize = 1
        let loader = try DataLoader(reader: f.reader, config: config, seed: 11)
        #expect(loader.batchesPerEpoch == 7)  // 6 labelled subjects and the unlabelled one
        let synchronous = try (0..<loader.batchesPerEpoch).map { try loader.batch(epoch: 1, index: $0) }
        var streamed: [Batch] = []
        let whole = loader.batches(epoch: 1)
        while let b = try whole.next() { streamed.append(b) }
        var resumed: [Batch] = []
        let resume = loader.batches(epoch: 1, startingAt: 3)
        while let b = try resume.next() { resumed.append(b) }
        #expect(streamed.count == synchronous.count && resumed.count == synchronous.count - 3)
        for (a, b) in zip(streamed, synchronous) { try expectEqual(a, b) }
        for (a, b) in zip(resumed, synchronous.dropFirst(3)) { try expectEqual(a, b) }
    }

    @Test func aDroppedStreamStopsAndFailuresReachTheConsumer() throws {
        let f = try LoaderFixture()
        let loader = try DataLoader(reader: f.reader, config: LoaderFixture.config(), seed: 1)
        struct Broken: Error {}
        let stream = BatchStream(range: 0..<5, depth: 2, workers: 2) { i in
            if i == 2 { throw Broken() }
            return try loader.batch(epoch: 0, index: i)
        }
        #expect(try stream.next() != nil)
        #expect(try stream.next() != nil)
        #expect(throws: Broken.self) { try stream.next() }
        #expect(try stream.next() == nil)
        var dropped: BatchStream? = loader.batches(epoch: 0)
        #expect(try dropped?.next() != nil)
        dropped = nil
    }

    /// The fixture's training split holds 6 labelled subjects and 1 unlabelled one (a share of 1/7), batches of 2.
    /// A smaller `unlabelledFraction` is met (8 samples, of which 0.1 · 8 rounds to none); a larger one is capped at
    /// 1/7, so the unlabelled subject is drawn once an epoch, as each labelled one is (without the cap, 0.3 would
    /// make 10 samples with 3 unlabelled, 0.9 60 with 54).
    @Test(arguments: [(0.1, 0), (0.3, 1), (0.9, 1)])
    func theUnlabelledShareOfAnEpochIsTheConfigsAtMostTheSplits(asked: Double, unlabelledPerEpoch: Int) throws {
        let f = try LoaderFixture()
        var config = LoaderFixture.config()
        config.unlabelledFraction = asked
        #expect(config.batchSize == 2)
        let loader = try DataLoader(reader: f.reader, config: config, seed: 5)
        #expect(loader.unlabelledIDs == [f.subject(.unlabelled).id] && loader.labelledIDs.count == 6)
        #expect(loader.samplesPerEpoch == 8)
        for epoch in 0..<3 {
            let order = loader.epochOrder(epoch)
            #expect(order.count == loader.samplesPerEpoch)
            #expect(order.filter { loader.unlabelledIDs.contains($0) }.count == unlabelledPerEpoch)
            #expect(Set(order).isSuperset(of: loader.labelledIDs))
        }
    }

    @Test func wholeSubjectTargetsMatchAnIndependentComputation() throws {
        let f = try LoaderFixture()
        var config = LoaderFixture.config(augment: false)
        config.normalization = .none
        let loader = try DataLoader(reader: f.reader, config: config, seed: 0)
        let s = f.subject(.full)
        let b = try loader.validationBatch(s.id)
        #expect(b.cropOffsets == [[0, 0, 0]] && b.image.shape.suffix(3) == s.geometry.shape)
        #expect(try b.image.array(Float.self) == s.image)
        #expect(try b.levels.array(Int64.self) == s.vertebraLabels.map { LevelIndex.table[Int($0)] })
        #expect(try b.levelsKnown.array(Float.self) == s.vertebraAnnotated.map(Float.init))
        #expect(try b.structures.array(Int64.self) == s.structureLabels.map(Int64.init))
        #expect(try b.structuresKnown.array(Float.self) == s.structureAnnotated.map(Float.init))
        // The heatmap against the closed form at every voxel.
        let heatmap = try b.heatmap.array(Float.self), shape = s.geometry.shape, spacing = s.geometry.spacingMM
        let centroids = s.vertebrae.compactMap { $0.centroidMM.map { s.geometry.index(worldMM: $0) } }
        var worst = 0.0
        for d in 0..<shape[0] { for h in 0..<shape[1] { for w in 0..<shape[2] {
            let expected = centroids.map { c -> Double in
                let r2: Double = (0..<3).reduce(0.0) { sum, a in sum + pow((Double([d, h, w][a]) - c[a]) * spacing[a], 2) }
                return exp(-r2 / (2 * 36))
            }.max() ?? 0
            worst = max(worst, abs(expected - Double(at(heatmap, shape, 0, d, h, w))))
        } } }
        #expect(worst < 2e-4)
        #expect(b.vertebrae.map(\.levelID) == s.vertebrae.map(\.level.id))
        #expect(b.vertebrae.map(\.classIndex) == s.vertebrae.map(\.classIndex))
        #expect(b.vertebrae.allSatisfy { $0.hasRegion })
        // Cut along the spine: by the field of view, or label voxels on the crop's (here the volume's) first or last
        // row along H. A vertebra that only touches a side face is not cut.
        var onFace = Set<UInt8>()
        for d in 0..<shape[0] { for h in [0, shape[1] - 1] { for w in 0..<shape[2] where s.vertebraAnnotated[s.voxelIndex(d, h, w)] != 0 {
            onFace.insert(s.vertebraLabels[s.voxelIndex(d, h, w)])
        } } }
        #expect(b.vertebrae.map(\.isCut) == s.vertebrae.map { $0.cutByFieldOfView || onFace.contains(UInt8($0.level.id)) })
        #expect(try b.taskMask.mapValues { try $0.item() } == Dictionary(uniqueKeysWithValues: LearningTask.allCases.map { ($0, 1.0) }))
    }

    @Test func theHeatmapPeaksAtAVoxelCentroidAndFallsToEMinusAHalfOneSigmaAway() throws {
        let f = try LoaderFixture { subjects in
            let i = subjects.firstIndex { $0.annotationMode == .full }!
            let g = subjects[i].geometry
            for v in subjects[i].vertebrae.indices { subjects[i].vertebrae[v].centroidMM = nil }
            subjects[i].vertebrae[0].centroidMM = g.worldMM(index: [4, 20, 16])
        }
        let b = try DataLoader(reader: f.reader, config: LoaderFixture.config(augment: false), seed: 0).validationBatch(f.subject(.full).id)
        let heatmap = try b.heatmap.array(Float.self), shape = [8, 48, 32]
        #expect(abs(at(heatmap, shape, 0, 4, 20, 16) - 1) < 1e-6)
        // σ = 6 mm: two voxels of 3 mm along H or W.
        for (d, h, w) in [(4, 22, 16), (4, 18, 16), (4, 20, 18)] { #expect(abs(Double(at(heatmap, shape, 0, d, h, w)) - exp(-0.5)) < 1e-5) }
        #expect(heatmap.filter { $0 > 0 }.count < heatmap.count / 4)
        #expect(b.vertebrae[0].centroidVoxel == [4, 20, 16])
    }

    @Test func aClassOnlySubjectTrainsClassificationOnly() throws {
        let f = try LoaderFixture()
        let loader = try DataLoader(reader: f.reader, config: LoaderFixture.config(), seed: 3)
        let s = f.subject(.classOnly)
        let slot = loader.epochOrder(0).firstIndex(of: s.id)!
        let (index, k) = (slot / 2, slot % 2)
        let b = try loader.batch(epoch: 0, index: index)
        let known = try b.levelsKnown.array(Float.self), n = known.count / 2
        #expect(known[(k * n)..<((k + 1) * n)].allSatisfy { $0 == 0 })
        let rows = b.vertebrae.filter { $0.sample == k }
        #expect(rows.map(\.levelID) == s.vertebrae.map(\.level.id))
        #expect(rows.map(\.classIndex) == s.vertebrae.map(\.classIndex) && rows.allSatisfy { $0.classIndex != nil })
        #expect(rows.allSatisfy { !$0.hasRegion && $0.centroidVoxel == nil })
        #expect(try b.taskMask[.classification]!.array(Float.self)[k] == 1)
        #expect(try b.taskMask[.segmentation]!.array(Float.self)[k] == 0)
        #expect(try b.taskMask[.autoencoding]!.array(Float.self)[k] == 1)
    }

    @Test func ratersGiveSoftClasses() throws {
        let f = try LoaderFixture()
        let loader = try DataLoader(reader: f.reader, config: LoaderFixture.config(), seed: 3)
        let s = f.subject(.raters)
        let slot = loader.epochOrder(0).firstIndex(of: s.id)!
        let rows = try loader.batch(epoch: 0, index: slot / 2).vertebrae.filter { $0.sample == slot % 2 }
        #expect(!rows.isEmpty)
        for row in rows {
            let soft = try #require(row.softClass)
            let votes = s.vertebrae.first { $0.level.id == row.levelID }!.raterClasses
            #expect(abs(soft.reduce(0, +) - 1) < 1e-12)
            #expect(soft.enumerated().allSatisfy { c, p in p == Double(votes.filter { $0 == c }.count) / Double(votes.count) })
        }
    }

    @Test(arguments: [(true, 0.0), (false, 0.09), (true, -0.09)])
    func spatialAugmentationMovesCentroidsWithTheLabels(flip: Bool, angle: Double) throws {
        let f = try LoaderFixture()
        let loader = try DataLoader(reader: f.reader, config: LoaderFixture.config(), seed: 0)
        let layout = try loader.layouts[f.subject(.full).id] ?? (SubjectLayout(reader: f.reader, id: f.subject(.full).id))
        let before = try loader.read(layout, offset: [0, 0, 0], size: [8, 48, 32])
        var after = before
        after.transform(flip: flip, angle: angle)
        let size = before.size
        func label(_ s: CropSample, _ p: [Int]) -> Int {
            (0..<3).allSatisfy { p[$0] >= 0 && p[$0] < size[$0] } ? Int(s.vertebraLabels[(p[0] * size[1] + p[1]) * size[2] + p[2]]) : -1
        }
        var checked = 0
        for (row, record) in layout.vertebrae.enumerated() {
            guard let c = before.centroids[row], label(before, c.map { Int($0.rounded()) }) == record.level.id else { continue }
            let moved = after.centroids[row]!.map { Int($0.rounded()) }
            let near = (-1...1).flatMap { dh in (-1...1).map { dw in label(after, [moved[0], moved[1] + dh, moved[2] + dw]) } }
            #expect(near.contains(record.level.id), "level \(record.level.id) lost at \(moved)")
            checked += 1
        }
        #expect(checked >= 3)
        if angle == 0 {
            // A flip reverses D and nothing else: H (cranio-caudal) and W (antero-posterior) keep their order.
            for d in 0..<size[0] {
                let n = size[1] * size[2]
                #expect(after.vertebraLabels[(d * n)..<((d + 1) * n)] == before.vertebraLabels[((size[0] - 1 - d) * n)..<((size[0] - d) * n)])
            }
        }
    }

    /// The resampling against its definition: bilinear interpolation reproduces a linear image exactly, so every
    /// output whose four taps lie inside the crop equals the linear function at the inverse-rotated (and flipped)
    /// source position; labels take the nearest source voxel, or 0 (unknown) when it lies outside.
    @Test(arguments: [(false, 0.13), (true, -0.2), (true, 0.0)])
    func rotationResamplesBilinearlyAndByNearestNeighbour(flip: Bool, angle: Double) throws {
        let f = try LoaderFixture()
        let loader = try DataLoader(reader: f.reader, config: LoaderFixture.config(), seed: 0)
        let layout = try loader.layouts[f.subject(.full).id] ?? (SubjectLayout(reader: f.reader, id: f.subject(.full).id))
        var sample = try loader.read(layout, offset: [0, 0, 0], size: [6, 40, 24])
        let (sd, sh, sw) = (sample.size[0], sample.size[1], sample.size[2])
        let spacing = layout.geometry.spacingMM
        func linear(_ d: Double, _ y: Double, _ x: Double) -> Double { 2 * d + 0.5 * y + 0.25 * x - 3 }
        for d in 0..<sd { for h in 0..<sh { for w in 0..<sw {
            let i = (d * sh + h) * sw + w
            for c in 0..<sample.channels { sample.image[c * sd * sh * sw + i] = Float(linear(Double(d), Double(h), Double(w)) * Double(c + 1)) }
            sample.vertebraLabels[i] = UInt8((h * sw + w) % 250 + 1)
        } } }
        let before = sample
        sample.transform(flip: flip, angle: angle)
        let (ch, cw) = (Double(sh - 1) / 2, Double(sw - 1) / 2)
        var interior = 0
        for d in 0..<sd { for h in 0..<sh { for w in 0..<sw {
            let (Y, X) = ((Double(h) - ch) * spacing[1], (Double(w) - cw) * spacing[2])
            let y = (cos(angle) * Y + sin(angle) * X) / spacing[1] + ch, x = (-sin(angle) * Y + cos(angle) * X) / spacing[2] + cw
            let source = flip ? sd - 1 - d : d
            let i = (d * sh + h) * sw + w
            let (nh, nw) = (Int(y.rounded()), Int(x.rounded()))
            let inside = nh >= 0 && nh < sh && nw >= 0 && nw < sw
            #expect(sample.vertebraLabels[i] == (inside ? before.vertebraLabels[(source * sh + nh) * sw + nw] : 0))
            if !inside { #expect(sample.image[i] == 0) }
            if y >= 0, y.rounded(.down) + 1 < Double(sh), x >= 0, x.rounded(.down) + 1 < Double(sw) {
                for c in 0..<sample.channels {
                    let expected = linear(Double(source), y, x) * Double(c + 1)
                    #expect(abs(Double(sample.image[c * sd * sh * sw + i]) - expected) < 1e-3 * max(1, abs(expected)))
                }
                interior += 1
            }
        } } }
        #expect(interior > sd * sh * sw / 2)
    }

    /// The blur against a direct 3D normalised convolution (every pair of voxels, the kernel a product of sampled
    /// Gaussians cut at 3 sigma), with part of the crop padding; then two closed forms: a Gaussian is symmetric, so a
    /// linear image stays exactly as it is wherever the whole kernel lies in the field of view, and a constant
    /// image stays constant everywhere in it, up to its edge.
    @Test(arguments: [0.4, 1.0])
    func blurIsANormalisedGaussianConvolutionWithinTheFieldOfView(sigma: Double) throws {
        let f = try LoaderFixture()
        let loader = try DataLoader(reader: f.reader, config: LoaderFixture.config(), seed: 0)
        let layout = try loader.layouts[f.subject(.full).id] ?? (SubjectLayout(reader: f.reader, id: f.subject(.full).id))
        // The crop starts before the volume along H and W: its first 3 rows and 2 columns are padding.
        var sample = try loader.read(layout, offset: [0, -3, -2], size: [8, 20, 14])
        let (sd, sh, sw) = (sample.size[0], sample.size[1], sample.size[2]), n = sample.voxelCount
        #expect(sample.fieldOfView.filter { $0 == 0 }.count == sd * (3 * sw + 2 * (sh - 3)))
        var rng = SplitMix64(seed: 11)
        for i in sample.image.indices where sample.fieldOfView[i % n] != 0 { sample.image[i] = Float(rng.uniform(-1, 1)) }
        let before = sample
        sample.blur(sigma: sigma)
        let radius = Int((3 * sigma).rounded(.up))
        func g(_ k: Int) -> Double { abs(k) > radius ? 0 : exp(-Double(k * k) / (2 * sigma * sigma)) }
        for c in 0..<sample.channels { for d in 0..<sd { for h in 0..<sh { for w in 0..<sw {
            let i = (d * sh + h) * sw + w
            guard before.fieldOfView[i] != 0 else { #expect(sample.image[c * n + i] == 0); continue }
            var (sum, weight) = (0.0, 0.0)
            for d2 in 0..<sd { for h2 in 0..<sh { for w2 in 0..<sw {
                let j = (d2 * sh + h2) * sw + w2
                guard before.fieldOfView[j] != 0 else { continue }
                let k = g(d2 - d) * g(h2 - h) * g(w2 - w)
                (sum, weight) = (sum + k * Double(before.image[c * n + j]), weight + k)
            } } }
            #expect(abs(Double(sample.image[c * n + i]) - sum / weight) < 1e-5)
        } } } }
        #expect(sample.fieldOfView == before.fieldOfView && sample.vertebraLabels == before.vertebraLabels)

        func linear(_ d: Int, _ h: Int, _ w: Int) -> Float { Float(0.5 * Double(d) - 0.25 * Double(h) + 0.125 * Double(w) + 2) }
        var constant = before, ramp = before
        for c in 0..<sample.channels { for d in 0..<sd { for h in 0..<sh { for w in 0..<sw {
            let i = (d * sh + h) * sw + w
            guard before.fieldOfView[i] != 0 else { continue }
            (constant.image[c * n + i], ramp.image[c * n + i]) = (Float(c + 1), linear(d, h, w))
        } } } }
        let (constantBefore, rampBefore) = (constant.image, ramp.image)
        constant.blur(sigma: sigma)
        ramp.blur(sigma: sigma)
        #expect(zip(constant.image, constantBefore).allSatisfy { abs($0 - $1) < 1e-5 })
        var interior = 0
        for d in radius..<(sd - radius) { for h in (3 + radius)..<(sh - radius) { for w in (2 + radius)..<(sw - radius) {
            let i = (d * sh + h) * sw + w
            #expect(abs(ramp.image[i] - rampBefore[i]) < 1e-5)
            interior += 1
        } } }
        #expect(interior > 0)
        // And the blur does something: the random image's variance shrinks.
        func variance(_ x: [Float]) -> Double {
            let v = x.indices.filter { before.fieldOfView[$0 % n] != 0 }.map { Double(x[$0]) }
            let mean = v.reduce(0, +) / Double(v.count)
            return v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(v.count)
        }
        #expect(variance(sample.image) < 0.7 * variance(before.image))
    }

    /// A training batch with the blur alone (probability 1, sigma fixed) is its crops read, blurred and normalised:
    /// the same crops as without it, other images. The blur is off by default.
    @Test func trainingBatchesBlurWhenAskedAndOnlyThen() throws {
        let f = try LoaderFixture()
        var config = LoaderFixture.config(augment: false)
        (config.augment.probability.blur, config.augment.blurSigma) = (1, [0.7, 0.7])
        let loader = try DataLoader(reader: f.reader, config: config, seed: 5)
        let batch = try loader.batch(epoch: 1, index: 0)
        var expected: [Float] = []
        for (id, offset) in zip(batch.subjectIDs, batch.cropOffsets) {
            var sample = try loader.read(loader.layouts[id]!, offset: offset, size: config.cropSize)
            sample.blur(sigma: 0.7)
            var rng = SplitMix64(seed: 0)
            sample.adjustIntensities(zscore: true, gamma: 1, scale: 1, shift: 0, noiseSigma: 0, rng: &rng)
            expected += sample.image
        }
        let image = try batch.image.array(Float.self)
        #expect(zip(image, expected).allSatisfy { abs($0 - $1) < 1e-5 })
        let plain = try DataLoader(reader: f.reader, config: LoaderFixture.config(augment: false), seed: 5).batch(epoch: 1, index: 0)
        #expect(plain.subjectIDs == batch.subjectIDs && plain.cropOffsets == batch.cropOffsets)
        #expect(try plain.image.array(Float.self) != image)
        #expect(LoaderConfig().augment.probability.blur == 0)
    }

    @Test func augmentedBatchesKeepCranioCaudalAndAnteroPosteriorOrder() throws {
        let f = try LoaderFixture()
        var config = LoaderFixture.config()
        config.augment.probability.flip = 1
        config.augment.probability.rotation = 1
        let loader = try DataLoader(reader: f.reader, config: config, seed: 9)
        let size = config.cropSize
        for index in 0..<loader.batchesPerEpoch {
            let b = try loader.batch(epoch: 0, index: index)
            let levels = try b.levels.array(Int64.self), structures = try b.structures.array(Int64.self)
            for n in 0..<b.count {
                var sumH = [Int64: (Double, Double)](), sumW = [Int64: (Double, Double)]()
                for d in 0..<size[0] { for h in 0..<size[1] { for w in 0..<size[2] {
                    let l = at(levels, size, n, d, h, w), s = at(structures, size, n, d, h, w)
                    if l != 0 { sumH[l, default: (0, 0)].0 += Double(h); sumH[l, default: (0, 0)].1 += 1 }
                    if s != 0 { sumW[s, default: (0, 0)].0 += Double(w); sumW[s, default: (0, 0)].1 += 1 }
                } } }
                let meanH = sumH.sorted { $0.key < $1.key }.map { $0.value.0 / $0.value.1 }
                #expect(meanH == meanH.sorted(), "levels out of cranio-caudal order in \(b.subjectIDs[n])")
                let body = Int64(StructureLabel.vertebralBody.rawValue), posterior = Int64(StructureLabel.posteriorElements.rawValue)
                if let a = sumW[body], let p = sumW[posterior] {
                    #expect(a.0 / a.1 < p.0 / p.1, "bodies not anterior to posterior elements in \(b.subjectIDs[n])")
                }
            }
        }
    }

    @Test func heightWindowsCutTheFewestClassifiedVertebrae() throws {
        let f = try LoaderFixture()
        let loader = try DataLoader(reader: f.reader, config: LoaderFixture.config(), seed: 6)
        let size = 32
        for id in loader.labelledIDs {
            let layout = loader.layouts[id]!
            let spans = zip(layout.vertebrae, layout.boxes).compactMap { record, box in
                record.classIndex == nil ? nil : box.map { ($0.lo[1], $0.hi[1]) }
            }
            func cuts(_ o: Int) -> Int { spans.filter { $0.1 >= o && $0.0 < o + size && ($0.0 < o || $0.1 >= o + size) }.count }
            let fewest = (0...(layout.shape[1] - size)).map(cuts).min()!
            var offsets = Set<Int>()
            for k in 0..<20 {
                var rng = SplitMix64(seed: 6, stream: UInt64(k))
                let offset = layout.cropOffset(size: [8, size, 32], rng: &rng)
                #expect(offset[0] == 0 && offset[2] == 0, "D and W cover the whole volume")
                #expect(cuts(offset[1]) == fewest, "subject \(id): window at h \(offset[1]) cuts \(cuts(offset[1])), \(fewest) possible")
                offsets.insert(offset[1])
            }
            if spans.isEmpty { #expect(offsets.count > 1) }
        }
    }

    @Test func paddingBeyondASmallVolumeIsUnknown() throws {
        let f = try LoaderFixture()
        var config = LoaderFixture.config(augment: false)
        config.crop = [12, 60, 36]
        let loader = try DataLoader(reader: f.reader, config: config, seed: 2)
        let b = try loader.batch(epoch: 0, index: 0)
        let size = config.cropSize
        #expect(size == [12, 64, 40])
        #expect(b.cropOffsets.allSatisfy { $0 == [-2, -8, -4] })
        let known = try b.levelsKnown.array(Float.self), structuresKnown = try b.structuresKnown.array(Float.self)
        let image = try b.image.array(Float.self), fov = try b.fieldOfView!.array(Float.self)
        let channels = b.image.shape[1], n = size.reduce(1, *)
        var padded = 0
        for s in 0..<b.count { for d in 0..<size[0] { for h in 0..<size[1] { for w in 0..<size[2] {
            let inside = (2..<10).contains(d) && (8..<56).contains(h) && (4..<36).contains(w)
            #expect(at(fov, size, s, d, h, w) == (inside ? 1 : 0))
            guard !inside else { continue }
            padded += 1
            #expect(at(known, size, s, d, h, w) == 0 && at(structuresKnown, size, s, d, h, w) == 0)
            for c in 0..<channels { #expect(image[(s * channels + c) * n + (d * size[1] + h) * size[2] + w] == 0) }
        } } } }
        #expect(padded == b.count * (n - 8 * 48 * 32))
    }

    @Test func validationBatchesAreWholeSubjectsPaddedToTheDivisor() throws {
        let f = try LoaderFixture()
        var config = LoaderFixture.config()
        config.cropDivisor = [1, 16, 20]
        let loader = try DataLoader(reader: f.reader, config: config, seed: 4)
        let batches = try loader.validationBatches()
        #expect(batches.map(\.subjectIDs) == loader.validationIDs.map { [$0] })
        #expect(batches.allSatisfy { $0.image.shape.suffix(3) == [8, 48, 40] && $0.cropOffsets == [[0, 0, 0]] })
        try expectEqual(batches[0], try loader.validationBatches()[0])
    }

    @Test func aMissingSplitNamesTheAvailableOnes() throws {
        let f = try LoaderFixture()
        var config = LoaderConfig()
        config.split = "fold3"
        #expect(throws: LoaderError.unknownSplit(file: f.url.path, split: "fold3", available: ["holdout"])) {
            try DataLoader(reader: f.reader, config: config, seed: 0)
        }
    }

    @Test func throughputIsMeasured() throws {
        let f = try LoaderFixture()
        let loader = try DataLoader(reader: f.reader, config: LoaderFixture.config(), seed: 0)
        #expect(try loader.measureThroughput(batches: 3) > 0)
    }
}

extension LoaderConfigTests {
    /// Three shards of batch 2 yield, step by step, the batch of 6 of one unsharded loader, split in rank order.
    @Test func shardsOfAGlobalBatchAreTheCombinedBatchSplitInRankOrder() throws {
        let f = try LoaderFixture()
        var perRank = LoaderFixture.config()
        perRank.batchSize = 2
        var combined = perRank
        combined.batchSize = 6
        let whole = try DataLoader(reader: f.reader, config: combined, seed: 7)
        let shards = try (0..<3).map { try DataLoader(reader: f.reader, config: perRank, seed: 7, shard: .init(rank: $0, count: 3)) }
        for shard in shards {
            #expect(shard.batchesPerEpoch == whole.batchesPerEpoch && shard.samplesPerEpoch == whole.samplesPerEpoch)
            #expect(shard.globalBatchSize == 6)
        }
        for epoch in [0, 1] {
            for index in 0..<whole.batchesPerEpoch {
                let parts = try shards.map { try $0.batch(epoch: epoch, index: index) }
                let all = try whole.batch(epoch: epoch, index: index)
                #expect(parts.flatMap(\.subjectIDs) == all.subjectIDs)
                #expect(parts.flatMap(\.cropOffsets) == all.cropOffsets)
                #expect(try Tensor.cat(parts.map(\.image)).array(Float.self) == all.image.array(Float.self))
                #expect(try Tensor.cat(parts.map(\.structures)).array(Int64.self) == all.structures.array(Int64.self))
            }
        }
        #expect(throws: LoaderError.invalidConfig(key: "shard", message: "rank 3 is not in 0..<3")) {
            try DataLoader(reader: f.reader, config: perRank, seed: 7, shard: .init(rank: 3, count: 3))
        }
    }
}
