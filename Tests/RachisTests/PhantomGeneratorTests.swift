import Foundation
import Testing
@testable import Rachis

/// Small, fast recipes with fixed seeds.
private func recipe(seed: UInt64 = 11, modes: [String: Double] = ["full": 1],
                    _ change: (inout PhantomRecipe) -> Void = { _ in }) -> PhantomGenerator {
    var r = PhantomRecipe()
    r.seed = seed
    r.count = 6
    r.shape = [10, 56, 40]
    r.spacingMM = [5, 3.5, 3.5]
    r.annotationModes = modes
    change(&r)
    return try! PhantomGenerator(recipe: r)
}

private func indices(of label: UInt8, in volume: [UInt8], shape: [Int]) -> [[Int]] {
    volume.indices.filter { volume[$0] == label }.map { [$0 / (shape[1] * shape[2]), ($0 / shape[2]) % shape[1], $0 % shape[2]] }
}

struct PhantomGeneratorTests {
    @Test func sameSeedSameSubjects() {
        let a = recipe().subject(at: 3), b = recipe().subject(at: 3)
        #expect(a == b)
        #expect(a != recipe(seed: 12).subject(at: 3))
        #expect(a.image != recipe().subject(at: 2).image)
    }

    /// `dataset synth --threads`: the thread count changes nothing but the speed.
    @Test func subjectsDoNotDependOnTheThreadCount() {
        let g = recipe { $0.count = 5 }
        let one = g.samples(0..<5, threads: 1).map(\.subject), three = g.samples(0..<5, threads: 3).map(\.subject)
        #expect(one == three && one == g.subjects(0..<5))
    }

    @Test func subjectDoesNotDependOnCountOrOrder() {
        let few = recipe { $0.count = 3 }, many = recipe { $0.count = 40 }
        let concurrent = many.subjects(0..<4)
        #expect(concurrent[2] == few.subject(at: 2))
        #expect(concurrent[3] == many.subject(at: 3))
        #expect(few.subjects().count == 3)
    }

    @Test func subjectsValidateAndSpacingIsTheRecipes() throws {
        let g = recipe(modes: Dictionary(uniqueKeysWithValues: AnnotationMode.allCases.map { ($0.rawValue, 1.0) }))
        for s in g.subjects(0..<8) {
            try s.validate()
            #expect(s.geometry.spacingMM == [5, 3.5, 3.5])
            #expect(s.geometry.shape == [10, 56, 40])
            #expect(s.image.count == 2 * 10 * 56 * 40)
            #expect(s.tasks.contains(.autoencoding))
        }
    }

    @Test func levelsAreValidAndOrderedCranialToCaudal() throws {
        let g = recipe()
        for k in 0..<6 {
            let sample = g.sample(at: k), shape = g.recipe.shape
            #expect(sample.subject.vertebrae.map(\.level) == sample.truth.levels)
            #expect(sample.truth.levels == sample.truth.levels.sorted())
            let meanH = sample.truth.levels.map { level -> Double in
                let voxels = indices(of: UInt8(level.id), in: sample.truth.vertebraLabels, shape: shape)
                return Double(voxels.map { $0[1] }.reduce(0, +)) / Double(voxels.count)
            }
            #expect(meanH == meanH.sorted(), "subject \(k): levels \(sample.truth.levels)")
            #expect(Set(meanH).count == meanH.count)
            for id in Set(sample.truth.vertebraLabels) where id != 0 { _ = try VertebraLevel(id: Int(id)) }
        }
    }

    @Test func centroidsMatchTheLabelVoxels() {
        let g = recipe()
        for k in 0..<4 {
            let s = g.subject(at: k), geo = s.geometry
            for record in s.vertebrae {
                let voxels = indices(of: UInt8(record.level.id), in: s.vertebraLabels, shape: geo.shape)
                // World position computed here from the definition: origin + direction · diag(spacing) · index.
                let mean = (0..<3).map { a in Double(voxels.map { $0[a] }.reduce(0, +)) / Double(voxels.count) }
                var world = geo.originMM
                for r in 0..<3 {
                    for a in 0..<3 { world[r] += geo.direction[r][a] * geo.spacingMM[a] * mean[a] }
                }
                let centroid = try! #require(record.centroidMM)
                #expect(zip(centroid, world).allSatisfy { abs($0 - $1) < 1e-6 })
                guard !record.cutByFieldOfView else { continue }
                let index = geo.index(worldMM: centroid).map { Int($0.rounded()) }
                #expect(s.vertebraLabels[s.voxelIndex(index[0], index[1], index[2])] == UInt8(record.level.id),
                        "subject \(k) \(record.level): centroid outside its label")
            }
        }
    }

    @Test func classPrevalenceFollowsTheRecipe() {
        let g = recipe { $0.shape = [4, 32, 20]; $0.spacingMM = [12, 6, 6]; $0.classPrevalence = [0.5, 0.3, 0.2] }
        var counts = [0, 0, 0]
        for k in 0..<50 {
            let truth = g.sample(at: k).truth
            for (level, c) in zip(truth.levels, truth.classIndices) where level.id != 26 { counts[c] += 1 }
        }
        let n = Double(counts.reduce(0, +))
        #expect(n > 200)
        for (c, p) in [0.5, 0.3, 0.2].enumerated() {
            #expect(abs(Double(counts[c]) / n - p) < 4 * (p * (1 - p) / n).squareRoot(), "class \(c): \(counts)")
        }
    }

    /// With `noiseVoxelMM3` the noise follows the voxel volume: at the reference volume nothing changes (the random
    /// stream and every voxel are those of a recipe without one), and at a quarter of it the noise doubles. Measured
    /// against the noise-free rendering of the same subjects (`noiseSigma: [0, 0]` draws the same random numbers):
    /// where the signal is bright the Rician magnitude is the signal plus σ times the same Gaussian draw, up to
    /// σ²/signal, so the root-mean-square deviation doubles.
    @Test func noiseFollowsTheVoxelVolumeGivenAReference() {
        let volume = 5 * 3.5 * 3.5
        let plain = recipe(), same = recipe { $0.noiseVoxelMM3 = volume }, doubled = recipe { $0.noiseVoxelMM3 = 4 * volume }
        let clean = recipe { $0.noiseSigma = [0, 0] }
        #expect(plain.recipe.noiseScale == 1 && same.recipe.noiseScale == 1)
        #expect(abs(doubled.recipe.noiseScale - 2) < 1e-12)
        for k in 0..<3 {
            let a = plain.subject(at: k), b = doubled.subject(at: k), c = clean.subject(at: k)
            #expect(same.subject(at: k) == a)
            #expect(b.vertebrae == a.vertebrae)
            var squares = SIMD2<Double>.zero, bright = 0
            for i in c.image.indices where c.image[i] > 0.3 {
                let deviation = SIMD2(Double(a.image[i] - c.image[i]), Double(b.image[i] - c.image[i]))
                squares += deviation * deviation
                bright += 1
            }
            #expect(bright > 2_000)
            let ratio = (squares.y / squares.x).squareRoot()
            #expect(abs(ratio - 2) < 0.03, "subject \(k): \(ratio)")
        }
    }

    /// `grids`: each subject is rendered on the grid drawn for it, and is then exactly the subject a recipe with that
    /// grid alone gives (the draw has its own random stream); a grid of weight 0 is never drawn.
    @Test func eachSubjectIsRenderedOnTheGridDrawnForIt() throws {
        let coarse = PhantomRecipe.Grid(shape: [10, 56, 40], spacingMM: [5, 3.5, 3.5])
        let fine = PhantomRecipe.Grid(shape: [14, 70, 56], spacingMM: [3.5, 2.8, 2.5], weight: 2)
        let never = PhantomRecipe.Grid(shape: [25, 98, 70], spacingMM: [2, 2, 2], weight: 0)
        let mixed = recipe { $0.count = 12; $0.grids = [coarse, fine, never] }
        var drawn: [[Double]] = []
        for k in 0..<12 {
            let sample = mixed.sample(at: k)
            let grid = [coarse, fine].first { $0.spacingMM == sample.subject.geometry.spacingMM }
            let chosen = try #require(grid, "subject \(k): \(sample.subject.geometry.spacingMM)")
            drawn.append(chosen.spacingMM)
            #expect(sample.subject.geometry.shape == chosen.shape)
            #expect(sample.subject.geometry == mixed.geometry(subject: k))
            let alone = recipe { $0.shape = chosen.shape; $0.spacingMM = chosen.spacingMM }
            #expect(sample == alone.sample(at: k), "subject \(k)")
        }
        #expect(Set(drawn).count == 2, "\(drawn)")
        // The anatomy does not depend on the grid: the same vertebrae, classes and centroids within a voxel.
        let a = recipe().sample(at: 0).truth, b = recipe { $0.shape = fine.shape; $0.spacingMM = fine.spacingMM }.sample(at: 0).truth
        #expect(a.levels == b.levels && a.classIndices == b.classIndices)
        for (p, q) in zip(a.centroidsMM, b.centroidsMM) where a.levels.count == b.levels.count {
            #expect(zip(p, q).allSatisfy { abs($0 - $1) < 3.5 }, "\(p) vs \(q)")
        }
    }

    @Test func lesionContrastHasTheClassSign() {
        let g = recipe {
            $0.classPrevalence = [0, 1, 1]
            $0.lesionRadiusMM = [5, 7]
            $0.noiseSigma = [0.01, 0.02]
        }
        // Per class: (T1 lesion − body, STIR lesion − body) summed over vertebrae, and vertebrae counted.
        var difference: [Int: SIMD2<Double>] = [:], agreeing = [1: 0, 2: 0], counted = [1: 0, 2: 0]
        for k in 0..<6 {
            let sample = g.sample(at: k), s = sample.subject, n = s.geometry.voxelCount
            for (level, c) in zip(sample.truth.levels, sample.truth.classIndices) where c != 0 {
                var sums = [SIMD3<Double>.zero, .zero]  // (T1, STIR, count) for lesion, rest of body
                for i in 0..<n where sample.truth.vertebraLabels[i] == UInt8(level.id) {
                    let structure = sample.truth.structureLabels[i]
                    guard structure == StructureLabel.lesion.rawValue || structure == StructureLabel.vertebralBody.rawValue else { continue }
                    sums[structure == StructureLabel.lesion.rawValue ? 0 : 1] += SIMD3(Double(s.image[i]), Double(s.image[n + i]), 1)
                }
                guard sums[0].z >= 2, sums[1].z >= 2 else { continue }
                let d = SIMD2(sums[0].x / sums[0].z - sums[1].x / sums[1].z, sums[0].y / sums[0].z - sums[1].y / sums[1].z)
                difference[c, default: .zero] += d
                counted[c]! += 1
                if c == 1 ? (d.x < 0 && d.y > 0) : (d.x > 0 && d.y < 0) { agreeing[c]! += 1 }
            }
        }
        #expect(counted[1]! >= 5 && counted[2]! >= 5)
        #expect(difference[1]!.x < 0 && difference[1]!.y > 0, "inflammation: dark on T1, bright on STIR")
        #expect(difference[2]!.x > 0 && difference[2]!.y < 0, "fat lesion: bright on T1, dark on STIR")
        for c in [1, 2] { #expect(Double(agreeing[c]!) >= 0.9 * Double(counted[c]!)) }
    }

    @Test func shortcutAgreesWithTheClassAtTheSetRate() {
        let g = recipe { $0.shape = [4, 32, 20]; $0.spacingMM = [12, 6, 6]; $0.shortcut = true; $0.shortcutStrength = 0.8 }
        var agree = 0, total = 0
        for k in 0..<50 {
            let truth = g.sample(at: k).truth
            for (level, (c, cue)) in zip(truth.levels, zip(truth.classIndices, truth.shortcutCues)) where level.id != 26 {
                total += 1
                if cue == (c != 0) { agree += 1 }
            }
        }
        let rate = Double(agree) / Double(total)
        #expect(abs(rate - 0.8) < 4 * (0.16 / Double(total)).squareRoot(), "agreement \(rate) over \(total)")
        let off = recipe { $0.shape = [4, 32, 20]; $0.spacingMM = [12, 6, 6] }.sample(at: 0).truth.shortcutCues
        #expect(!off.contains(true))
    }

    @Test func transitionalAnatomyFollowsTheRate() throws {
        let small = { (rate: Double) in
            recipe { $0.shape = [4, 32, 20]; $0.spacingMM = [12, 6, 6]; $0.fovCenterLevels = ["T12", "L4"]; $0.transitionalRate = rate }
        }
        let (t13, l6, l5) = try (VertebraLevel(name: "T13"), VertebraLevel(name: "L6"), VertebraLevel(name: "L5"))
        let never = (0..<20).flatMap { small(0).sample(at: $0).truth.levels }
        #expect(!never.contains(t13) && !never.contains(l6))
        var seen = [0, 0, 0]
        for k in 0..<30 {
            let levels = small(1).sample(at: k).truth.levels
            #expect(!(levels.contains(t13) && levels.contains(l6)))
            if levels.contains(t13) { seen[0] += 1 }
            if levels.contains(l6) { seen[1] += 1 }
            if let last = levels.last, last.id == 26, !levels.contains(l5) { seen[2] += 1 }
        }
        #expect(seen.allSatisfy { $0 > 0 }, "T13, L6, missing L5 seen: \(seen)")
    }

    @Test func ribsAreRibStructuresBesideThoracicBodiesInNoVertebra() throws {
        let plain = recipe { $0.shape = [16, 56, 40]; $0.spacingMM = [4, 3.5, 3.5]; $0.fovCenterLevels = ["T10", "T12"] }
        let ribbed = recipe { $0.shape = [16, 56, 40]; $0.spacingMM = [4, 3.5, 3.5]; $0.fovCenterLevels = ["T10", "T12"]; $0.ribs = true }
        let a = plain.sample(at: 2), b = ribbed.sample(at: 2)
        // Same anatomy and vertebra labels: ribs belong to no vertebra (VerSe's masks leave them out).
        #expect(a.truth.levels == b.truth.levels && a.truth.vertebraLabels == b.truth.vertebraLabels)
        let rib = StructureLabel.rib.rawValue
        #expect(!a.truth.structureLabels.contains(rib))
        let n = a.truth.vertebraLabels.count
        let changed = (0..<n).filter { a.subject.image[$0] != b.subject.image[$0] }
        #expect(changed.count > 100)
        // Bone in the vertebrae's lateral slices (the body is 25-45 mm wide, the grid 64 mm), almost never in a label.
        let shape = [16, 56, 40]
        let lateral = changed.filter { i in abs(Double(i / (shape[1] * shape[2])) + 0.5 - 8) * 4 > 10 }
        #expect(Double(lateral.count) >= 0.95 * Double(changed.count))
        let labelled = changed.filter { a.truth.vertebraLabels[$0] != 0 }
        #expect(Double(labelled.count) <= 0.05 * Double(changed.count), "\(labelled.count) of \(changed.count) rib voxels in a vertebra")
        // The structure labels differ only where a rib was drawn: rib voxels (at least half covered, as every
        // structure) that were background, never another structure's.
        let relabelled = (0..<n).filter { a.truth.structureLabels[$0] != b.truth.structureLabels[$0] }
        #expect(relabelled.count > 50)
        #expect(relabelled.allSatisfy { b.truth.structureLabels[$0] == rib && a.truth.structureLabels[$0] == 0 })
        #expect(Set(relabelled).isSubset(of: Set(changed)))
        #expect(b.truth.structureLabels.filter { $0 == rib }.count == relabelled.count)
    }

    @Test func thirteenthThoracicRibsAreRudimentary() throws {
        let body = Superellipsoid(centre: SIMD3(30, 50, 40), angle: 0.2, radii: SIMD3(20, 12, 15), exponent: 4)
        let t12 = try PhantomAnatomy.ribs(of: body, level: VertebraLevel(name: "T12"), scale: 1)
        let t13 = try PhantomAnatomy.ribs(of: body, level: VertebraLevel(name: "T13"), scale: 1)
        #expect(t12.count == 2 && t13.count == 2)
        #expect(t12.allSatisfy { $0.radii.x == 15 } && t13.allSatisfy { $0.radii.x == 5 })
        // Either side of the body, starting 1 mm beyond its half-width.
        #expect(abs(t12[0].centre.x - (30 - 36)) < 1e-9 && abs(t12[1].centre.x - (30 + 36)) < 1e-9)
        #expect(try PhantomAnatomy.ribs(of: body, level: VertebraLevel(name: "L1"), scale: 1).isEmpty)
        #expect(try PhantomAnatomy.ribs(of: body, level: VertebraLevel(name: "C7"), scale: 1).isEmpty)
    }

    @Test func anatomyIsDefinedInMillimetres() {
        // The same seed on a thick-sliced and a fine grid covering the same field of view.
        let thick = recipe { $0.shape = [10, 56, 40]; $0.spacingMM = [5, 3.5, 3.5] }
        let fine = recipe { $0.shape = [25, 56, 40]; $0.spacingMM = [2, 3.5, 3.5] }
        let a = thick.sample(at: 1), b = fine.sample(at: 1)
        #expect(a.truth.levels == b.truth.levels)
        for (ra, rb) in zip(a.subject.vertebrae, b.subject.vertebrae) where !ra.cutByFieldOfView {
            let va = Double(a.truth.vertebraLabels.filter { $0 == UInt8(ra.level.id) }.count) * 5 * 3.5 * 3.5
            let vb = Double(b.truth.vertebraLabels.filter { $0 == UInt8(rb.level.id) }.count) * 2 * 3.5 * 3.5
            #expect(abs(va / vb - 1) < 0.15, "\(ra.level): \(va) vs \(vb) mm³")
            #expect(zip(ra.centroidMM!, rb.centroidMM!).allSatisfy { abs($0 - $1) < 2 }, "\(ra.centroidMM!) vs \(rb.centroidMM!)")
        }
    }
}

struct PhantomAnnotationTests {
    private func only(_ mode: AnnotationMode, _ change: (inout PhantomRecipe) -> Void = { _ in }) -> PhantomGenerator {
        recipe(modes: [mode.rawValue: 1], change)
    }

    @Test func classOnlyAndUnlabelledHaveNoVoxelLabels() {
        for mode in [AnnotationMode.classOnly, .unlabelled] {
            let s = only(mode).subject(at: 0)
            #expect(s.annotationMode == mode)
            #expect(s.vertebraLabels.allSatisfy { $0 == 0 } && s.structureLabels.allSatisfy { $0 == 0 })
            #expect(s.vertebraAnnotated.allSatisfy { $0 == 0 } && s.structureAnnotated.allSatisfy { $0 == 0 })
            #expect(s.vertebrae.allSatisfy { $0.centroidMM == nil && $0.classIndex != nil })
            #expect(s.vertebrae.isEmpty == (mode == .unlabelled))
            #expect(s.tasks == (mode == .unlabelled ? [.autoencoding] : [.classification, .autoencoding]))
        }
    }

    @Test func partialMasksAreZeroOnUnlabelledVertebrae() {
        let g = only(.partial) { $0.partialFraction = 0.5 }
        var unlabelled = 0
        for k in 0..<4 {
            let sample = g.sample(at: k), s = sample.subject
            for record in s.vertebrae {
                let id = UInt8(record.level.id)
                let voxels = sample.truth.vertebraLabels.indices.filter { sample.truth.vertebraLabels[$0] == id }
                if record.annotation == .unlabelled {
                    unlabelled += 1
                    #expect(record.classIndex == nil)
                    #expect(voxels.allSatisfy { s.vertebraAnnotated[$0] == 0 && s.vertebraLabels[$0] == 0 })
                } else {
                    #expect(voxels.allSatisfy { s.vertebraAnnotated[$0] == 1 && s.vertebraLabels[$0] == id })
                }
            }
            // Where a voxel is annotated, its label is the truth.
            for i in s.vertebraLabels.indices where s.vertebraAnnotated[i] == 1 {
                #expect(s.vertebraLabels[i] == sample.truth.vertebraLabels[i])
            }
            for i in s.structureLabels.indices where s.structureAnnotated[i] == 1 {
                #expect(s.structureLabels[i] == sample.truth.structureLabels[i])
            }
        }
        #expect(unlabelled > 0)
    }

    @Test func boxLabelsAreBoxes() {
        let g = only(.box), shape = g.recipe.shape
        for k in 0..<3 {
            let s = g.subject(at: k)
            #expect(s.structureAnnotated.allSatisfy { $0 == 0 })
            #expect(!s.tasks.contains(.segmentation))
            for record in s.vertebrae {
                let voxels = indices(of: UInt8(record.level.id), in: s.vertebraLabels, shape: shape)
                let lo = (0..<3).map { a in voxels.map { $0[a] }.min()! }, hi = (0..<3).map { a in voxels.map { $0[a] }.max()! }
                // Every voxel of the box is labelled: this level, or a neighbour whose box came first.
                var own = 0
                for d in lo[0]...hi[0] { for h in lo[1]...hi[1] { for w in lo[2]...hi[2] {
                    let v = s.vertebraLabels[s.voxelIndex(d, h, w)]
                    #expect(v != 0)
                    if v == UInt8(record.level.id) { own += 1 }
                } } }
                #expect(own == voxels.count)
            }
        }
    }

    @Test func erodedAndDilatedMasksShrinkAndGrow() {
        for mode in [AnnotationMode.eroded, .dilated] {
            let sample = only(mode).sample(at: 1), s = sample.subject, truth = sample.truth.vertebraLabels
            let labelled = s.vertebraLabels.filter { $0 != 0 }.count, truthCount = truth.filter { $0 != 0 }.count
            for i in truth.indices {
                if mode == .eroded, s.vertebraLabels[i] != 0 { #expect(s.vertebraLabels[i] == truth[i]) }
                if mode == .dilated, truth[i] != 0 { #expect(s.vertebraLabels[i] == truth[i]) }
            }
            #expect(mode == .eroded ? labelled < truthCount : labelled > truthCount)
            #expect(s.vertebrae.allSatisfy { $0.annotation == mode })
        }
    }

    @Test func ratersDisagreeAndTheMainLabelsAreTheirMajority() {
        let g = only(.raters) { $0.raterCount = 3; $0.raterClassErrorRate = 0.3; $0.maskMarginVoxels = 2 }
        var flips = 0
        for k in 0..<4 {
            let s = g.subject(at: k)
            #expect(s.raters.count == 3)
            for record in s.vertebrae {
                #expect(record.raterClasses.count == 3)
                let c = record.raterClasses
                if c[0] == c[1] || c[0] == c[2] { #expect(record.classIndex == c[0]) }
                flips += Set(c).count > 1 ? 1 : 0
            }
            for i in s.vertebraLabels.indices {
                let votes = s.raters.map { $0.vertebraLabels[i] }
                if votes[1] == votes[2] { #expect(s.vertebraLabels[i] == votes[1]) }
            }
        }
        #expect(flips > 0)
    }
}
