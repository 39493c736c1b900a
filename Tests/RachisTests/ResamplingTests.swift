import Foundation
import Testing
@testable import Rachis

struct ResamplerTests {
    @Test func aResampledGridKeepsTheFieldOfViewEdges() {
        let g = Geometry(shape: [61, 338, 161], spacingMM: [2, 1, 1], originMM: [3, -4, 5],
                         direction: [[0.8, 0, -0.6], [0, 1, 0], [0.6, 0, 0.8]])
        let r = g.resampled(toSpacingMM: [3.5, 2, 2])
        #expect(r.shape == [35, 169, 81])
        #expect(r.direction == g.direction)
        // The outer edge of voxel 0 and of the last voxel lie at the same world points.
        for (old, new) in [([-0.5, -0.5, -0.5], [-0.5, -0.5, -0.5]),
                           (g.shape.map { Double($0) - 0.5 }, r.shape.map { Double($0) - 0.5 })] {
            let a = g.worldMM(index: old), b = r.worldMM(index: new)
            #expect(zip(a, b).allSatisfy { abs($0 - $1) < 1e-9 })
        }
        #expect(abs(r.spacingMM[2] - 161.0 / 81) < 1e-12)
    }

    @Test func linearResamplingOfALinearFunctionIsExactAwayFromTheBorder() {
        let from = [6, 20, 9], to = [11, 7, 9]
        let source = Geometry(shape: from, spacingMM: [2, 1, 1.5])
        let target = source.resampled(toSpacingMM: [1.1, 2.9, 1.5])
        #expect(target.shape == to)
        func f(_ p: [Double]) -> Float { Float(0.3 * p[0] - 0.7 * p[1] + 0.2 * p[2] + 5) }
        var values = [Float]()
        for d in 0..<from[0] { for h in 0..<from[1] { for w in 0..<from[2] { values.append(f(source.worldMM(index: [d, h, w].map(Double.init)))) } } }
        let out = Resampler.resample(values, from: from, to: to, interpolation: [.linear, .linear, .linear])
        var worst: Float = 0
        for d in 1..<(to[0] - 1) { for h in 1..<(to[1] - 1) { for w in 0..<to[2] {
            worst = max(worst, abs(out[(d * to[1] + h) * to[2] + w] - f(target.worldMM(index: [d, h, w].map(Double.init)))))
        } } }
        #expect(worst < 1e-4)
    }

    @Test func nearestTakesTheClosestVoxelCentre() {
        // 4 → 2: output voxel j samples x = 2j + 0.5, rounded up: voxels 1 and 3.
        #expect(Resampler.resample([0, 1, 2, 3], from: [1, 1, 4], to: [1, 1, 2], interpolation: [.nearest, .nearest, .nearest]) == [1, 3])
        #expect(Resampler.resampleLabels([5, 6], from: [1, 1, 2], to: [1, 1, 4], interpolation: [.nearest, .nearest, .nearest]) == [5, 5, 6, 6])
    }

    @Test func perLabelLinearKeepsLabelsAndInventsNoneBetweenThem() {
        // Two adjacent blocks: upsampling never produces a label other than 0, 3 and 7, and a block's inside stays.
        let from = [4, 8, 8]
        var labels = [UInt8](repeating: 0, count: 256)
        for d in 0..<4 { for h in 2..<6 { for w in 1..<4 { labels[(d * 8 + h) * 8 + w] = 3 }; for w in 4..<7 { labels[(d * 8 + h) * 8 + w] = 7 } } }
        let up = Resampler.resampleLabels(labels, from: from, to: [8, 16, 16], interpolation: [.linear, .linear, .linear])
        #expect(Set(up) == [0, 3, 7])
        let back = Resampler.resampleLabels(up, from: [8, 16, 16], to: from, interpolation: [.linear, .linear, .linear])
        #expect(back == labels)
    }

    @Test(arguments: [([4.0, 0.5, 0.5], [Interpolation.nearest, .linear, .linear]), ([2, 1, 1], [.linear, .linear, .linear]),
                      ([0.5, 4, 4], [.linear, .linear, .linear])])
    func aThickSliceAxisIsInterpolatedByNearestNeighbour(spacing: [Double], expected: [Interpolation]) {
        #expect(SpacingRule.interpolation(fromMM: spacing, toMM: [3.5, 2, 2]) == expected)
    }

    @Test func targetSpacingIsTheMedianUnlessStronglyAnisotropic() {
        let shapes = [[80, 200, 200], [82, 220, 210], [78, 190, 200]]
        #expect(SpacingRule.targetSpacing(spacingsMM: [[3, 1, 1], [4, 0.8, 0.8], [3.5, 1.2, 1]], shapes: shapes) == [3.5, 1, 1])
        // nnU-Net: the thick axis's median 5 > 3 x 1 and 20 x 3 < 200: its 10th percentile instead.
        let thick = SpacingRule.targetSpacing(spacingsMM: [[5, 1, 1], [6, 1, 1], [2, 1, 1], [5, 1, 1], [7, 1, 1]],
                                              shapes: [[20, 200, 200], [20, 200, 200], [20, 200, 200], [20, 200, 200], [20, 200, 200]])!
        #expect(abs(thick[0] - 3.2) < 1e-12 && thick[1] == 1 && thick[2] == 1)
    }

    @Test func aModelGridRoundTripsAnObliqueVolume() {
        // Array axes not in canonical order (W first), oblique: the model grid is canonical and resampled, and maps
        // and labels come back in the input's order.
        let input = Geometry(shape: [40, 24, 12], spacingMM: [1, 1, 2], originMM: [10, 20, -30],
                             direction: [[0, 0, 1], [-0.96, -0.28, 0], [-0.28, 0.96, 0]])
        let grid = ModelGrid(input: input, targetSpacingMM: [3.5, 2, 2])
        #expect(grid.permutation == [2, 1, 0] && grid.canonical.shape == [12, 24, 40])
        #expect(grid.resamples && grid.model.shape == [7, 12, 20])
        var labels = [UInt8](repeating: 0, count: input.voxelCount)
        for a in 8..<32 { for b in 6..<18 { for c in 3..<9 { labels[(a * 24 + b) * 12 + c] = 20 } } }
        let back = grid.labelsToInput(grid.labelsToModel(labels))
        let differing = zip(back, labels).filter { $0 != $1 }.count
        let labelled = labels.filter { $0 == 20 }.count
        #expect(differing < labelled / 4, "\(differing) of \(labelled)")
        // A smooth image comes back close to itself.
        let image = (0..<input.voxelCount).map { i in Float(sin(Double(i % 12) / 6) + cos(Double(i / 288) / 10)) }
        let trip = grid.mapsToInput(grid.imageToModel(image, channels: 1), channels: 1)
        #expect(zip(trip, image).map { abs($0 - $1) }.max()! < 0.5)
    }
}

struct ImageArgumentTests {
    @Test(arguments: [("T1=a.nii.gz", "T1", "a.nii.gz"), ("a.nii.gz", nil, "a.nii.gz"), ("dir=x/a.nii.gz", "dir", "x/a.nii.gz"),
                      ("x=y/a.nii.gz", "x", "y/a.nii.gz"), ("folder/T1=a.nii.gz", nil, "folder/T1=a.nii.gz"), ("=a.nii.gz", nil, "=a.nii.gz")])
    func parsesChannelNames(text: String, channel: String?, path: String) {
        let argument = ImageArgument(parsing: text)
        #expect(argument.channel == channel)
        #expect(argument.url.path.hasSuffix(path))
    }
}

/// Files written by nibabel and SimpleITK, resampled by Rachis and back.
struct ResamplingInteropTests {
    /// A VerSe-like label volume (1 x 1 x 2 mm, oblique, array axes in RAS-ish file order) with nibabel, and each
    /// label's centroid in world millimetres as nibabel computes it.
    static let writer = """
    import sys, json, numpy as np, nibabel as nib
    path = sys.argv[1]
    shape = (40, 64, 16)
    i, j, k = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    data = np.zeros(shape, np.uint8)
    for n, level in enumerate([18, 19, 20, 21]):
        centre = (20, 10 + 14 * n, 8)
        inside = ((i - centre[0]) / 9.0) ** 2 + ((j - centre[1]) / 5.5) ** 2 + ((k - centre[2]) / 5.0) ** 2 <= 1
        data[inside] = level
    t = np.radians(12)
    rot = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rot @ np.diag([1.0, 1.0, 2.0])
    affine[:3, 3] = [-20, 30, -15]
    nib.save(nib.Nifti1Image(data, affine), path)
    centroids = {}
    for level in [18, 19, 20, 21]:
        idx = np.argwhere(data == level).mean(0)
        centroids[str(level)] = (affine @ [*idx, 1])[:3].tolist()
    print(json.dumps(centroids))
    """

    @Test func labelsResampledToTheModelAndBackLandOnTheSameWorldPoints() throws {
        let folder = try Fixture.folder()
        defer { Fixture.remove(folder) }
        let file = folder.appendingPathComponent("labels.nii.gz")
        guard let output = ImportInteropTests.python(Self.writer, [file.path]) else { return }
        let centroids = try JSONDecoder().decode([String: [Double]].self, from: Data(output.utf8))
        let volume = try ImageIO.read(file, reorient: false)
        let labels = try volume.intLabels().map { UInt8($0) }
        let grid = ModelGrid(input: volume.geometry, targetSpacingMM: [3.5, 2, 2])
        #expect(grid.resamples)
        let model = grid.labelsToModel(labels)
        // Centroids computed on the model grid, in world millimetres, within half a model voxel of nibabel's.
        let m = grid.model
        for (key, expected) in centroids {
            let level = UInt8(key)!
            var sum = [0.0, 0.0, 0.0], count = 0.0
            for d in 0..<m.shape[0] { for h in 0..<m.shape[1] { for w in 0..<m.shape[2] where model[(d * m.shape[1] + h) * m.shape[2] + w] == level {
                sum = zip(sum, [d, h, w]).map { $0 + Double($1) }
                count += 1
            } } }
            let world = m.worldMM(index: sum.map { $0 / count })
            let distance = zip(world, expected).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
            #expect(distance < m.spacingMM.max()! / 2, "level \(key): \(world) against nibabel's \(expected)")
        }
        // Back on the input grid: the labels agree except at boundaries.
        let back = grid.labelsToInput(model)
        #expect(back.count == labels.count)
        let labelled = labels.filter { $0 != 0 }.count
        let differing = zip(back, labels).filter { $0 != $1 }.count
        #expect(Double(differing) < 0.25 * Double(labelled), "\(differing) of \(labelled) labelled voxels differ")
        // Voxels more than a model voxel (4 mm) from any boundary agree.
        let s = volume.geometry.shape, r = [4, 4, 2]
        var interior = 0, interiorDiffering = 0
        for a in r[0]..<(s[0] - r[0]) { for b in r[1]..<(s[1] - r[1]) { for c in r[2]..<(s[2] - r[2]) {
            let i = (a * s[1] + b) * s[2] + c
            var uniform = true
            for da in -r[0]...r[0] { for db in -r[1]...r[1] { for dc in -r[2]...r[2] where labels[((a + da) * s[1] + b + db) * s[2] + c + dc] != labels[i] { uniform = false } } }
            guard uniform else { continue }
            interior += 1
            if back[i] != labels[i] { interiorDiffering += 1 }
        } } }
        #expect(interior > 1000 && interiorDiffering == 0, "\(interiorDiffering) of \(interior) interior voxels differ")
    }

    /// Resamples the original with SimpleITK (linear) onto the grid of Rachis's resampled file and prints the
    /// largest difference over voxels away from the border.
    static let compare = """
    import sys, numpy as np, SimpleITK as sitk
    original, resampled = sitk.ReadImage(sys.argv[1], sitk.sitkFloat32), sitk.ReadImage(sys.argv[2], sitk.sitkFloat32)
    reference = sitk.Resample(original, resampled, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    a, b = sitk.GetArrayFromImage(reference), sitk.GetArrayFromImage(resampled)
    print(float(np.abs(a - b)[1:-1, 1:-1, 1:-1].max()), a.shape == b.shape)
    """

    @Test func aResampledImageMatchesSimpleITKOnTheSameWorldPoints() throws {
        let folder = try Fixture.folder()
        defer { Fixture.remove(folder) }
        let file = folder.appendingPathComponent("image.nii.gz")
        // A smooth image on an oblique grid in a non-canonical axis order.
        let (cosA, sinA) = (cos(0.2), sin(0.2))
        let geometry = Geometry(shape: [30, 24, 10], spacingMM: [1, 1, 2], originMM: [-20, 30, -15],
                                direction: [[cosA, -sinA, 0], [sinA, cosA, 0], [0, 0, 1]])
        var voxels = [Float]()
        for a in 0..<30 { for b in 0..<24 { for c in 0..<10 {
            voxels.append(Float(100 + 40 * sin(Double(a) / 5) + 30 * cos(Double(b) / 4) + 10 * Double(c)))
        } } }
        try ImageIO.write(ImageVolume(geometry: geometry, voxels: voxels), to: file)
        let grid = ModelGrid(input: geometry, targetSpacingMM: [3.5, 2, 2])
        #expect(grid.down == [.linear, .linear, .linear])
        let resampled = folder.appendingPathComponent("resampled.nii.gz")
        try ImageIO.write(ImageVolume(geometry: grid.model, voxels: grid.imageToModel(voxels, channels: 1)), to: resampled)
        guard let output = ImportInteropTests.python(Self.compare, [file.path, resampled.path]) else { return }
        let parts = output.split(separator: " ")
        #expect(parts.count == 2 && parts[1].hasPrefix("True"))
        #expect(Double(parts[0])! < 1e-2, "largest difference from SimpleITK: \(parts[0])")
    }
}

/// Training on a dataset that mixes spacings: the loader reads every subject at one spacing.
struct HeterogeneousLoaderTests {
    /// The same phantoms rendered at 4 x 3 x 3 mm and at 2 x 1.5 x 1.5 mm over the same field of view.
    static func mixedDataset(in folder: TemporaryFolder) throws -> URL {
        var recipe = PhantomRecipe()
        (recipe.seed, recipe.count, recipe.shape, recipe.spacingMM, recipe.annotationModes) = (3, 4, [8, 48, 32], [4, 3, 3], ["full": 1])
        let coarse = try PhantomGenerator(recipe: recipe).subjects()
        (recipe.shape, recipe.spacingMM) = ([16, 96, 64], [2, 1.5, 1.5])
        var fine = try PhantomGenerator(recipe: recipe).subjects()
        for i in fine.indices { fine[i].id = "fine-" + fine[i].id }
        let all = coarse + fine
        let url = folder.file("mixed.h5")
        let split = Split(name: "holdout", train: all.map(\.id), val: [], test: [], method: "all for training")
        try TestData.writeDataset(all, to: url, splits: [split])
        return url
    }

    @Test func subjectsAreReadAtTheConfiguredSpacing() throws {
        let folder = try TemporaryFolder()
        let reader = try DatasetReader(url: try Self.mixedDataset(in: folder))
        var config = TrainingFixture.config().loader
        config.spacingMM = [4, 3, 3]
        let loader = try DataLoader(reader: reader, config: config, seed: 0)
        #expect(reader.view.spacingMM == [4, 3, 3])
        let coarseIDs = reader.subjectIDs.filter { !$0.hasPrefix("fine-") }
        for id in coarseIDs {
            let fine = "fine-" + id
            #expect(try reader.storedGeometry(of: fine).shape == [16, 96, 64])
            #expect(try reader.geometry(of: fine) == (try reader.geometry(of: id)))
            // The fine rendering resampled to 4 x 3 x 3 mm labels the same anatomy as the coarse one.
            let a = try reader.volumeCrop(id, "labels/vertebrae", offset: [0, 0, 0], size: [8, 48, 32])
            let b = try reader.volumeCrop(fine, "labels/vertebrae", offset: [0, 0, 0], size: [8, 48, 32])
            let labelled = zip(a, b).filter { $0 != 0 || $1 != 0 }.count
            let agree = zip(a, b).filter { $0 == $1 && $0 != 0 }.count
            #expect(Double(agree) > 0.7 * Double(labelled), "\(id): \(agree) of \(labelled)")
        }
        let batch = try loader.batch(epoch: 0, index: 0)
        #expect(batch.image.shape == [config.batchSize, 2, 8, 48, 32])
        #expect(batch.spacingMM.allSatisfy { $0 == [4, 3, 3] })
    }

    @Test func theTargetSpacingDefaultsToTheMedian() throws {
        let folder = try TemporaryFolder()
        let reader = try DatasetReader(url: try Self.mixedDataset(in: folder))
        _ = try DataLoader(reader: reader, config: TrainingFixture.config().loader, seed: 0)
        // Four subjects at 4 x 3 x 3 and four at 2 x 1.5 x 1.5: NumPy's median is the mean of the middle two.
        #expect(reader.view.spacingMM == [3, 2.25, 2.25])
        var off = TrainingFixture.config().loader
        off.resample = false
        let stored = try DatasetReader(url: reader.url)
        _ = try DataLoader(reader: stored, config: off, seed: 0)
        #expect(stored.view.spacingMM == nil)
    }

    @Test func channelsAreChosenByName() throws {
        let folder = try TemporaryFolder()
        let url = try TrainingFixture.dataset(in: folder)
        var config = TrainingFixture.config()
        config.loader.channels = ["STIR"]
        let reader = try DatasetReader(url: url)
        let loader = try DataLoader(reader: reader, config: config.loader, seed: 0)
        #expect(try loader.batch(epoch: 0, index: 0).image.shape[1] == 1)
        let id = reader.subjectIDs[0], shape = try reader.geometry(of: id).shape
        let both = try DatasetReader(url: url).imageCrop(id, offset: [0, 0, 0], size: shape)
        #expect(try reader.imageCrop(id, offset: [0, 0, 0], size: shape) == Array(both[(both.count / 2)...]))
        // A trainer for a one-channel model records the channel it learns from.
        config.model.inChannels = 1
        let trainer = try Trainer(config: config, options: Trainer.Options(dataset: url, run: folder.url.appendingPathComponent("run")))
        #expect(trainer.trainingData.channelNames == ["STIR"])
        config.loader.channels = ["T2"]
        #expect { try DataLoader(reader: try DatasetReader(url: url), config: config.loader, seed: 0) } throws: { error in
            "\(error)".contains("loader.channels") && "\(error)".contains("no channel T2") && "\(error)".contains(url.lastPathComponent)
        }
    }
}
