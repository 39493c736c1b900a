import Foundation
import Testing
import Torch
@testable import Rachis

/// Anatomical position of a level name.
private func position(_ name: String) -> Int { try! VertebraLevel(name: name).anatomicalOrder }

/// A probability row over the 27 levels: `mass` on the named levels, the rest spread evenly.
private func row(_ mass: [String: Double]) -> [Double] {
    let k = LevelSequenceDecoder.levelCount
    let rest = (1 - mass.values.reduce(0, +)) / Double(k - mass.count)
    var r = [Double](repeating: rest, count: k)
    for (name, p) in mass { r[position(name)] = p }
    return r
}

struct LevelSequenceDecoderTests {
    let decoder = LevelSequenceDecoder()

    func names(_ result: LevelSequenceDecoder.Result) -> [String] { result.levelIDs.map { try! VertebraLevel(id: $0).name } }

    @Test func consecutiveLevels() throws {
        let result = try decoder.decode([row(["L1": 0.7]), row(["L2": 0.6]), row(["L3": 0.8])])
        #expect(names(result) == ["L1", "L2", "L3"])
    }

    @Test func jointDecodingResolvesAConflictThatArgmaxCannot() throws {
        // Each on its own: L1, L1, L3 (L1 used twice). Jointly: L1, L2, L3.
        let tables = [row(["L1": 0.6, "L2": 0.3]), row(["L1": 0.55, "L2": 0.4]), row(["L3": 0.9])]
        #expect(tables.map { t in t.indices.max { t[$0] < t[$1] }! } == [position("L1"), position("L1"), position("L3")])
        #expect(names(try decoder.decode(tables)) == ["L1", "L2", "L3"])
    }

    @Test func transitionalVertebraeAreDecodedWhenTheModelSeesThem() throws {
        #expect(names(try decoder.decode([row(["T12": 0.8]), row(["T13": 0.7, "L1": 0.2]), row(["L1": 0.8])])) == ["T12", "T13", "L1"])
        #expect(names(try decoder.decode([row(["L4": 0.8]), row(["L5": 0.8]), row(["L6": 0.8]), row(["S": 0.9])])) == ["L4", "L5", "L6", "S"])
        // Without evidence for T13, T12 is followed by L1 at no cost.
        #expect(names(try decoder.decode([row(["T12": 0.5, "T13": 0.2]), row(["L1": 0.5, "T13": 0.3])])) == ["T12", "L1"])
    }

    @Test func aMissedVertebraSkipsItsLevel() throws {
        // L2 was not detected: the second vertebra is confidently L3.
        let result = try decoder.decode([row(["L1": 0.99]), row(["L3": 0.99, "L2": 0.005])])
        #expect(names(result) == ["L1", "L3"])
        #expect(VertebraDecoder.flags(positions: result.positions) == [.missingLevel])
    }

    /// `priorRow` nil: no prior; otherwise the start prior on that vertebra (0: the first; the last row of three: a
    /// field of view whose first two vertebrae are cut, `priorOnFirstWhole`).
    @Test(arguments: [1, 2, 3], [nil, 0, 2])
    func viterbiAndMarginalsMatchBruteForceEnumeration(count: Int, priorRow: Int?) throws {
        var rng = SplitMix64(seed: UInt64(count))
        let k = LevelSequenceDecoder.levelCount
        let tables = (0..<count).map { _ -> [Double] in
            let raw = (0..<k).map { _ in pow(rng.uniform(0, 1), 4) }
            return raw.map { $0 / raw.reduce(0, +) }
        }
        var decoder = decoder
        let prior = (0..<k).map { _ in rng.uniform(0, 1) }
        if priorRow != nil { decoder.startPrior = prior.map { $0 / prior.reduce(0, +) } }
        let result = try decoder.decode(tables, priorRow: priorRow)
        // Every strictly increasing labelling with its score (in probability space).
        var labellings: [[Int]] = [[]]
        for _ in 0..<count {
            labellings = labellings.flatMap { prefix in ((prefix.last.map { $0 + 1 } ?? 0)..<k).map { prefix + [$0] } }
        }
        func score(_ l: [Int]) -> Double {
            var s = 1.0
            for (i, level) in l.enumerated() {
                s *= max(tables[i][level], decoder.floor)
                if i > 0 { s *= exp(decoder.logTransition(l[i - 1], level)) }
                if i == priorRow, let p = decoder.startPrior { s *= p[level] }
            }
            return s
        }
        let scores = labellings.map(score)
        let best = scores.indices.max { scores[$0] < scores[$1] }!
        #expect(result.positions == labellings[best])
        #expect(abs(result.logScore - log(scores[best])) < 1e-9)
        let z = scores.reduce(0, +)
        for i in 0..<count {
            for level in 0..<k {
                let expected = zip(labellings, scores).filter { $0.0[i] == level }.reduce(0) { $0 + $1.1 } / z
                #expect(abs(result.marginals[i][level] - expected) < 1e-9)
            }
        }
    }

    /// With as many vertebrae as levels only one labelling exists: every marginal of it is 1, and none exceeds 1
    /// (rounding in log space gave 1 + 1e-14, which the prediction schema rejects).
    @Test(arguments: [0.2, 1.0 / 27, 0.9])
    func marginalsAreProbabilitiesWhenEveryLevelIsTaken(p: Double) throws {
        let k = LevelSequenceDecoder.levelCount
        let rows = (0..<k).map { i in (0..<k).map { $0 == (i * 7) % k ? p : (1 - p) / Double(k - 1) } }
        let result = try LevelSequenceDecoder().decode(rows)
        #expect(result.positions == Array(0..<k))
        for (i, row) in result.marginals.enumerated() {
            #expect(row.allSatisfy { (0...1).contains($0) }, "vertebra \(i): \(row.filter { $0 > 1 })")
            #expect(abs(row[i] - 1) < 1e-9)
        }
    }

    /// Six thoracic vertebrae and no boundary in view: every window of six thoracic levels scores the same. Without a
    /// prior the most cranial (T1-T6) wins; with the training subjects' start counts (fields of view starting at T7
    /// to T10), the window starting at the most frequent start.
    @Test func theStartPriorPlacesAFieldOfViewWithNoBoundaryInView() throws {
        let thoracic = SpinalRegion.levelTable(regionProbabilities: [0, 1, 0, 0, 0])
        let tables = Array(repeating: thoracic, count: 6)
        #expect(names(try decoder.decode(tables)) == ["T1", "T2", "T3", "T4", "T5", "T6"])
        var counts = [Int](repeating: 0, count: LevelSequenceDecoder.levelCount)
        for (name, n) in [("T7", 2), ("T8", 5), ("T9", 3), ("T10", 4)] { counts[position(name)] = n }
        let prior = try #require(LevelSequenceDecoder.startPrior(counts: counts))
        #expect(abs(prior[position("T8")] - 6.0 / 41) < 1e-12 && abs(prior[position("C1")] - 1.0 / 41) < 1e-12)
        #expect(abs(prior.reduce(0, +) - 1) < 1e-12)
        var withPrior = decoder
        withPrior.startPrior = prior
        // Five thoracic vertebrae fit from T8, the most frequent start; six fit from T7 at most (from T8 the sixth
        // would be T13 or L1, which the region head rules out).
        #expect(names(try withPrior.decode(Array(tables.prefix(5)))) == ["T8", "T9", "T10", "T11", "T12"])
        #expect(names(try withPrior.decode(tables)) == ["T7", "T8", "T9", "T10", "T11", "T12"])
        // A boundary in view outweighs the prior: T11 T12 L1 L2 counted from the junction.
        let lumbar = SpinalRegion.levelTable(regionProbabilities: [0, 0, 0, 1, 0])
        #expect(names(try withPrior.decode([thoracic, thoracic, lumbar, lumbar])) == ["T11", "T12", "L1", "L2"])
        // Counted from the first vertebra the field of view does not cut (T9 most often), the prior sits on the
        // second vertebra when the first is a cut sliver above it: T8 (cut), then T9 ... T12.
        var whole = [Int](repeating: 0, count: LevelSequenceDecoder.levelCount)
        for (name, n) in [("T8", 2), ("T9", 5), ("T10", 3), ("T11", 4)] { whole[position(name)] = n }
        withPrior.startPrior = LevelSequenceDecoder.startPrior(counts: whole)
        #expect(names(try withPrior.decode(Array(tables.prefix(5)), priorRow: 1)) == ["T8", "T9", "T10", "T11", "T12"])
        #expect(names(try withPrior.decode(Array(tables.prefix(4)), priorRow: 0)) == ["T9", "T10", "T11", "T12"])
        // No row (every vertebra cut) or one out of range: no prior, the most cranial window.
        #expect(names(try withPrior.decode(Array(tables.prefix(2)), priorRow: nil)) == ["T1", "T2"])
        #expect(names(try withPrior.decode(Array(tables.prefix(2)), priorRow: 5)) == ["T1", "T2"])
        // No usable counts: no prior.
        #expect(LevelSequenceDecoder.startPrior(counts: nil) == nil)
        #expect(LevelSequenceDecoder.startPrior(counts: [1, 2]) == nil)
        #expect(LevelSequenceDecoder.startPrior(counts: [Int](repeating: 0, count: LevelSequenceDecoder.levelCount)) == nil)
    }

    @Test func transitionPotentialsFollowTheRule() {
        let (sigma, tau) = (log(decoder.skipProbability), log(decoder.transitionalProbability))
        #expect(decoder.logTransition(position("L1"), position("L2")) == 0)
        #expect(abs(decoder.logTransition(position("L1"), position("L4")) - 2 * sigma) < 1e-12)
        #expect(decoder.logTransition(position("T12"), position("L1")) == 0)
        #expect(abs(decoder.logTransition(position("T12"), position("T13")) - tau) < 1e-12)
        #expect(abs(decoder.logTransition(position("T11"), position("L1")) - sigma) < 1e-12)
        #expect(decoder.logTransition(position("L5"), position("S")) == 0)
    }

    @Test func tooManyVertebraeAndBadRowsAreErrors() throws {
        let k = LevelSequenceDecoder.levelCount
        #expect(throws: LevelSequenceDecoder.Error.tooMany(k + 1)) { try decoder.decode(Array(repeating: row([:]), count: k + 1)) }
        #expect(throws: LevelSequenceDecoder.Error.badRow(index: 0, count: 3)) { try decoder.decode([[0.2, 0.3, 0.5]]) }
        #expect(try decoder.decode([]).positions.isEmpty)
    }

    @Test func subjectFlagsCountRegionsOnlyWhenWhollyInView() {
        let full = (position("C7")...position("L1")).filter { $0 != position("T13") }
        #expect(VertebraDecoder.flags(positions: full).isEmpty)
        let missingT5 = full.filter { $0 != position("T5") }
        #expect(VertebraDecoder.flags(positions: missingT5) == [.missingLevel, .unusualVertebraCount])
        #expect(VertebraDecoder.flags(positions: [position("T12"), position("T13"), position("L1")]) == [.transitionalVertebra])
        #expect(VertebraDecoder.flags(positions: []) == [.noVertebrae])
    }
}

struct VertebraDecoderTests {
    /// Three vertebra blocks along H on a [4, 40, 10] grid at 2 mm: levels L1, L2, L3 at h 5...10, 17...22, 29...34.
    static func scene(heatmapBump: Bool = false) -> (heatmap: [Float], levels: [Float], geometry: Geometry, blocks: [ClosedRange<Int>]) {
        let geometry = Geometry(shape: [4, 40, 10], spacingMM: [2, 2, 2])
        let n = geometry.voxelCount, k = LevelIndex.count
        let blocks = [5...10, 17...22, 29...34]
        var levels = [Float](repeating: 0, count: k * n)
        var heatmap = [Float](repeating: 0, count: n)
        for d in 0..<4 { for h in 0..<40 { for w in 0..<10 {
            let i = (d * 40 + h) * 10 + w
            let block = blocks.firstIndex { $0.contains(h) && (2...7).contains(w) }
            let winner = block.map { LevelIndex.index(ofLevelID: 20 + $0) } ?? 0
            for c in 0..<k { levels[c * n + i] = c == winner ? 0.8 : 0.2 / Float(k - 1) }
            for (b, range) in blocks.enumerated() {
                let centre = [1.5, Double(range.lowerBound + range.upperBound) / 2, 4.5]
                let r2 = (pow(Double(d) - centre[0], 2) + pow(Double(h) - centre[1], 2) + pow(Double(w) - centre[2], 2)) * 4
                heatmap[i] = max(heatmap[i], Float(exp(-r2 / (2 * 36))) * (b == 1 ? 0.9 : 1))
            }
            // A bump in the background (h 38, w 0): high heatmap but the identification head says background.
            if heatmapBump, h >= 37, w <= 1 { heatmap[i] = max(heatmap[i], 0.95 - Float(abs(h - 38) + w) * 0.01) }
        } } }
        return (heatmap, levels, geometry, blocks)
    }

    @Test func decodesCentroidsRegionsAndLevelsFromHeatmapPeaks() throws {
        let s = Self.scene(heatmapBump: true)
        let result = try VertebraDecoder().decode(heatmap: s.heatmap, levelProbabilities: s.levels, geometry: s.geometry)
        #expect(result.vertebrae.map(\.levelID) == [20, 21, 22])
        for (v, block) in zip(result.vertebrae, s.blocks) {
            let centre = [1.5, Double(block.lowerBound + block.upperBound) / 2, 4.5]
            #expect(zip(v.centroidVoxel, centre).allSatisfy { abs($0 - $1) < 0.5 }, "centroid \(v.centroidVoxel) against \(centre)")
            #expect(v.voxels == 4 * 6 * 6)
            #expect(v.identificationConfidence > 0.9)
            #expect(v.centroidMM == s.geometry.worldMM(index: v.centroidVoxel))
        }
        #expect(result.vertebrae[1].detectionScore < result.vertebrae[0].detectionScore)
        // Region labels: exactly the blocks.
        for (i, label) in result.labelMap.enumerated() {
            let h = (i / 10) % 40, w = i % 10
            let block = s.blocks.firstIndex { $0.contains(h) && (2...7).contains(w) }
            #expect(Int(label) == block.map { 20 + $0 } ?? 0)
        }
        #expect(result.flags.isEmpty)
    }

    /// A heatmap peaking beside the vertebra's centre (2 voxels posterior, as an unconverged one can) still gives the
    /// region's centroid: the centroid of the voxels the vertebra owns, as the reference centroids are.
    @Test func theCentroidIsTheRegionsNotThePeaks() throws {
        var s = Self.scene()
        let n = s.geometry.voxelCount
        s.heatmap = (0..<n).map { i in s.heatmap[(i / 10) * 10 + Swift.max(0, i % 10 - 2)] }
        var decoder = VertebraDecoder()
        decoder.smoothingMM = 0
        let peaks = decoder.peaks(s.heatmap, shape: s.geometry.shape, spacing: s.geometry.spacingMM)
        #expect(peaks.count == 3 && peaks.allSatisfy { abs($0.voxel[2] - 6.5) < 0.5 })
        let result = try decoder.decode(heatmap: s.heatmap, levelProbabilities: s.levels, geometry: s.geometry)
        #expect(result.vertebrae.map(\.levelID) == [20, 21, 22])
        for (v, block) in zip(result.vertebrae, s.blocks) {
            let centre = [1.5, Double(block.lowerBound + block.upperBound) / 2, 4.5]
            #expect(zip(v.centroidVoxel, centre).allSatisfy { abs($0 - $1) < 1e-9 }, "centroid \(v.centroidVoxel) against \(centre)")
        }
    }

    @Test(arguments: VertebraDecoder.VertebraVoxels.allCases)
    func aBoneMaskKeepsRegionsToVertebralBone(voxels: VertebraDecoder.VertebraVoxels) throws {
        // The segmentation calls the blocks bone except their w = 2 column (soft tissue): the regions leave it out.
        let s = Self.scene()
        let bone = (0..<s.geometry.voxelCount).map { i in (3...7).contains(i % 10) && s.blocks.contains { $0.contains((i / 10) % 40) } }
        var decoder = VertebraDecoder()
        decoder.vertebraVoxels = voxels
        let result = try decoder.decode(heatmap: s.heatmap, levelProbabilities: s.levels, geometry: s.geometry, boneMask: bone)
        #expect(result.vertebrae.map(\.levelID) == [20, 21, 22])
        #expect(result.vertebrae.allSatisfy { $0.voxels == 4 * 6 * 5 })
        #expect(result.labelMap.indices.allSatisfy { bone[$0] || result.labelMap[$0] == 0 })
    }

    /// A vertebra the field of view cuts to a sliver that the segmentation calls bone and the identification head
    /// background, as the phantoms' cut vertebrae (docs/learning.md, twenty-second round): with `bone` it is found,
    /// with `boneAndIdentified` it is not.
    @Test func theSegmentationsBoneFindsACutVertebraTheIdentificationHeadCallsBackground() throws {
        let s = Self.scene()
        // The blocks and the sliver (rows 0...1, w 2...7: 4 x 2 x 6 voxels) are bone; the levels say background there.
        let bone = (0..<s.geometry.voxelCount).map { i in
            let h = (i / 10) % 40
            return (2...7).contains(i % 10) && (h <= 1 || s.blocks.contains { $0.contains(h) })
        }
        var decoder = VertebraDecoder()
        decoder.minimumSeparationMM = 12   // the sliver's centroid (h 0.5) is 14 mm from L1's (h 7.5)
        let found = try decoder.decode(heatmap: s.heatmap, levelProbabilities: s.levels, geometry: s.geometry, boneMask: bone)
        #expect(found.vertebrae.map(\.levelID) == [19, 20, 21, 22])
        let sliver = found.vertebrae[0]
        #expect(zip(sliver.centroidVoxel, [1.5, 0.5, 4.5]).allSatisfy { abs($0 - $1) < 1e-9 } && sliver.voxels == 48 && sliver.touchesFieldOfViewEdge)
        #expect(found.vertebrae.dropFirst().allSatisfy { $0.voxels == 4 * 6 * 6 })
        decoder.vertebraVoxels = .boneAndIdentified
        let missed = try decoder.decode(heatmap: s.heatmap, levelProbabilities: s.levels, geometry: s.geometry, boneMask: bone)
        #expect(missed.vertebrae.map(\.levelID) == [20, 21, 22] && missed.vertebrae.allSatisfy { $0.voxels == 4 * 6 * 6 })
    }

    @Test func spinalRegionTablesAreCountedFromTheBoundaryInView() throws {
        // The identification head says L1, L2, L3; the region head says thoracic, lumbar, lumbar: its tables win,
        // and the levels are counted from the thoracolumbar junction.
        let s = Self.scene()
        var seen: [[Int]] = []
        let regions: [[Double]] = [[0, 0.9, 0, 0.1, 0], [0, 0.2, 0, 0.8, 0], [0, 0.1, 0, 0.8, 0.1]]
        let result = try VertebraDecoder().decode(heatmap: s.heatmap, levelProbabilities: s.levels, geometry: s.geometry) { owner, count in
            seen = (0..<count).map { c in owner.indices.filter { owner[$0] == c } }
            return regions.map { SpinalRegion.levelTable(regionProbabilities: $0) }
        }
        #expect(result.vertebrae.map(\.levelID) == [19, 20, 21])
        // The closure saw each vertebra's region, cranial to caudal: the blocks.
        #expect(seen.count == 3)
        for (voxels, block) in zip(seen, s.blocks) {
            #expect(voxels.count == 4 * 6 * 6 && voxels.allSatisfy { block.contains(($0 / 10) % 40) })
        }
        // Every level of a region carries the region's probability.
        let table = SpinalRegion.levelTable(regionProbabilities: [0.1, 0.2, 0.05, 0.3, 0.35])
        for (id, p) in zip(VertebraLevel.anatomicalIDs, table) {
            let level = try VertebraLevel(id: id)
            let expected = id == 28 ? 0.05 : [VertebraLevel.Region.cervical: 0.1, .thoracic: 0.2, .lumbar: 0.3, .sacral: 0.35][level.region]
            #expect(p == expected)
        }
        #expect(SpinalRegion.index(ofLevelID: 28) == 2 && SpinalRegion.index(ofLevelID: 19) == 1 && SpinalRegion.index(ofLevelID: 25) == 3)
        #expect(SpinalRegion.index(ofLevelID: 99) == nil)
    }

    /// The scene's blocks as bone in the middle slices (d 1...2) and ribs beside them (d 0 and 3) at rows of each
    /// block and `ribColumns[b]` (W) of block b (nil: none); the region head says thoracic, thoracic, lumbar.
    static func ribScene(ribColumns: [ClosedRange<Int>?]) -> (scene: (heatmap: [Float], levels: [Float], geometry: Geometry, blocks: [ClosedRange<Int>]),
                                                               bone: [Bool], ribs: [Bool], tables: ([Int], Int) -> [[Double]]) {
        let s = Self.scene()
        var bone = [Bool](repeating: false, count: s.geometry.voxelCount), ribs = bone
        for i in bone.indices {
            let d = i / 400, h = (i / 10) % 40, w = i % 10
            guard let b = s.blocks.firstIndex(where: { $0.contains(h) }) else { continue }
            if (1...2).contains(d), (2...7).contains(w) { bone[i] = true }
            if d == 0 || d == 3, let columns = ribColumns[b], columns.contains(w) { ribs[i] = true }
        }
        let regions: [[Double]] = [[0, 0.9, 0, 0.1, 0], [0, 0.8, 0, 0.2, 0], [0, 0.1, 0, 0.9, 0]]
        return (s, bone, ribs, { _, _ in regions.map { SpinalRegion.levelTable(regionProbabilities: $0) } })
    }

    /// Levels from the ribs. At 2 mm voxels a block's ribs at W 3...6 hold 2 x 6 x 4 = 48 voxels (384 mm³, above
    /// the 300 mm³ that make a vertebra rib-bearing), at 3...5 36 (three quarters of 48: not under the 0.6 share)
    /// and at 4...4 12 (a quarter: rudimentary). The region head alone says thoracic, thoracic, lumbar: T11, T12, L1.
    @Test func ribsSayWhichVertebraeAreThoracicAndWhichIsT13() throws {
        func levels(_ columns: [ClosedRange<Int>?], regions: [[Double]]? = nil, ribLevels: Bool = true) throws -> [Int] {
            let r = Self.ribScene(ribColumns: columns)
            var decoder = VertebraDecoder()
            decoder.ribLevels = ribLevels
            let tables = regions.map { rows in { (_: [Int], _: Int) in rows.map { SpinalRegion.levelTable(regionProbabilities: $0) } } } ?? r.tables
            return try decoder.decode(heatmap: r.scene.heatmap, levelProbabilities: r.scene.levels, geometry: r.scene.geometry,
                                      boneMask: r.bone, ribMask: r.ribs, levelTables: tables).vertebrae.map(\.levelID)
        }
        // A rudimentary pair under a full one, nothing below: T12, T13, L1; with the rule off, the head's levels.
        #expect(try levels([3...6, 4...4, nil]) == [19, 28, 20])
        #expect(try levels([3...6, 4...4, nil], ribLevels: false) == [18, 19, 20])
        // Three quarters of the pair above is not rudimentary (and is under 300 mm³: no evidence); ribs below the
        // short pair too (not the last with ribs): no T13.
        #expect(try levels([3...6, 3...5, nil]) == [18, 19, 20])
        #expect(try levels([3...6, 4...4, 4...4]) == [18, 19, 20])
        // The head calls the second block lumbar, but it has full ribs: thoracic (T11, T12, L1, against T12, L1, L2).
        let wrong: [[Double]] = [[0, 0.9, 0, 0.1, 0], [0, 0.2, 0, 0.8, 0], [0, 0.1, 0, 0.9, 0]]
        #expect(try levels([nil, nil, nil], regions: wrong) == [19, 20, 21])
        #expect(try levels([3...6, 3...6, nil], regions: wrong) == [18, 19, 20])
        // The head calls the third block thoracic too (three thoracic levels, no boundary in view), but it has no
        // ribs below two with ribs: lumbar.
        let late: [[Double]] = [[0, 0.9, 0, 0.1, 0], [0, 0.9, 0, 0.1, 0], [0, 0.8, 0, 0.2, 0]]
        #expect(try levels([nil, nil, nil], regions: late).allSatisfy { (8...19).contains($0) })
        #expect(try levels([3...6, 3...6, nil], regions: late) == [18, 19, 20])
        // Without a rib mask the region head's levels stand.
        let r = Self.ribScene(ribColumns: [3...6, 4...4, nil])
        #expect(try VertebraDecoder().decode(heatmap: r.scene.heatmap, levelProbabilities: r.scene.levels, geometry: r.scene.geometry,
                                             boneMask: r.bone, levelTables: r.tables).vertebrae.map(\.levelID) == [18, 19, 20])
    }

    /// Rib voxels go to the vertebra that holds most of their (H, W) column, in any D slice; the evidence compares
    /// each vertebra with the one above (closed-form cases).
    @Test func ribsAreCountedByColumnAndComparedWithTheVertebraAbove() {
        // [D 3, H 2, W 2], columns p = h * 2 + w: vertebra 0 holds column 0 in three slices and column 1 in two
        // against vertebra 1's one; vertebra 1 holds column 2; column 3 is nobody's, so its ribs count for none.
        let owner = [0, 0, 1, -1,
                     0, 1, 1, -1,
                     0, 0, -1, -1]
        let ribs = [false, true, false, true,
                    true, false, true, true,
                    true, false, true, false]
        #expect(VertebraDecoder.ribVoxels(ribMask: ribs, owner: owner, count: 2, shape: [3, 2, 2]) == [3, 2])
        func evidence(_ counts: [Int], cut: [Int] = []) -> [VertebraDecoder.RibEvidence] {
            VertebraDecoder.ribEvidence(ribVoxels: counts, cut: counts.indices.map { cut.contains($0) }, rudimentaryShare: 0.5, minimum: 50)
        }
        // Above the ribs nothing is known; T13 is under half of the pair above; below it, lumbar or sacral.
        #expect(evidence([0, 100, 40, 0, 0]) == [.none, .thoracic, .thirteenthThoracic, .belowTheRibs, .belowTheRibs])
        // At the bottom with nothing below; under a cut pair (a cut one only has fewer): T13.
        #expect(evidence([100, 40]) == [.thoracic, .thirteenthThoracic])
        #expect(evidence([60, 25, 0], cut: [0]) == [.thoracic, .thirteenthThoracic, .belowTheRibs])
        // Half is not under half; 4 of 100 counts as none (under 5 %); 40 with 20 below is not the last; a cut one
        // with few ribs, or a cut one with none, says nothing.
        #expect(evidence([100, 50, 0]) == [.thoracic, .thoracic, .belowTheRibs])
        #expect(evidence([100, 4, 0]) == [.thoracic, .belowTheRibs, .belowTheRibs])
        #expect(evidence([100, 40, 20]) == [.thoracic, .none, .none])
        #expect(evidence([100, 40, 0], cut: [1, 2]) == [.thoracic, .none, .none])
        // No vertebra with a pair's worth: no evidence at all.
        #expect(evidence([40, 20, 0]) == [.none, .none, .none])
        // The row: the levels the evidence leaves keep their ratios, their largest scaled to the row's largest; the
        // others get a hundredth.
        let row = SpinalRegion.levelTable(regionProbabilities: [0, 0.6, 0.01, 0.3, 0.09])
        let ids = VertebraLevel.anatomicalIDs
        for (k, p) in VertebraDecoder.favouring(row, VertebraDecoder.RibEvidence.thirteenthThoracic.levels).enumerated() {
            #expect(abs(p - (ids[k] == 28 ? 0.6 : row[k] * 0.01)) < 1e-15)
        }
        for (k, p) in VertebraDecoder.favouring(row, VertebraDecoder.RibEvidence.belowTheRibs.levels).enumerated() {
            let expected = (20...25).contains(ids[k]) ? 0.6 : ids[k] == 26 ? 0.18 : row[k] * 0.01
            #expect(abs(p - expected) < 1e-12)
        }
        #expect(VertebraDecoder.favouring(row, nil) == row)
    }

    @Test func aVertebraTheFieldOfViewCutsIsACandidateWithoutAPeak() throws {
        // A sliver of T12 in the first two H slices (w 2...7): no heatmap peak of its own (the L1 peak's tail falls
        // off towards it), 4 × 2 × 6 voxels of 8 mm³ = 384 mm³.
        var s = Self.scene()
        let n = s.geometry.voxelCount, k = LevelIndex.count
        func setSliver(rows: ClosedRange<Int>) {
            for d in 0..<4 { for h in rows { for w in 2...7 {
                let i = (d * 40 + h) * 10 + w
                for c in 0..<k { s.levels[c * n + i] = c == LevelIndex.index(ofLevelID: 19) ? 0.8 : 0.2 / Float(k - 1) }
            } } }
        }
        setSliver(rows: 0...1)
        var decoder = VertebraDecoder()
        decoder.minimumSeparationMM = 12   // the sliver's centroid (h 0.5) is 14 mm from L1's (h 7.5)
        let result = try decoder.decode(heatmap: s.heatmap, levelProbabilities: s.levels, geometry: s.geometry)
        #expect(result.vertebrae.map(\.levelID) == [19, 20, 21, 22])
        let sliver = result.vertebrae[0]
        #expect(zip(sliver.centroidVoxel, [1.5, 0.5, 4.5]).allSatisfy { abs($0 - $1) < 1e-9 } && sliver.voxels == 48 && sliver.touchesFieldOfViewEdge)
        #expect(result.vertebrae[1].voxels == 4 * 6 * 6)
        // Without edge candidates its voxels join L1's region, and the level is lost.
        decoder.edgeCandidates = false
        let absorbed = try decoder.decode(heatmap: s.heatmap, levelProbabilities: s.levels, geometry: s.geometry)
        #expect(absorbed.vertebrae.map(\.levelID) == [20, 21, 22] && absorbed.vertebrae[0].voxels == 4 * 6 * 6 + 48)
        // A component below minimumEdgeMM3 is not a vertebra.
        decoder.edgeCandidates = true
        decoder.minimumEdgeMM3 = 48 * 8 + 1
        #expect(try decoder.decode(heatmap: s.heatmap, levelProbabilities: s.levels, geometry: s.geometry).vertebrae.map(\.levelID) == [20, 21, 22])
        // Nor is one closer than the separation to a candidate.
        decoder.minimumEdgeMM3 = 150
        decoder.minimumSeparationMM = 15
        #expect(try decoder.decode(heatmap: s.heatmap, levelProbabilities: s.levels, geometry: s.geometry).vertebrae.count == 3)
        // All four thoracic and a start prior at T9: on the first vertebra the sliver is T9; with priorOnFirstWhole
        // the prior is on the first vertebra the field of view does not cut, so the sliver above it is T8.
        decoder.minimumSeparationMM = 12
        var counts = [Int](repeating: 0, count: LevelSequenceDecoder.levelCount)
        counts[VertebraLevel.anatomicalIDs.firstIndex(of: 16)!] = 10
        decoder.sequence.startPrior = LevelSequenceDecoder.startPrior(counts: counts)
        let thoracic = { (_: [Int], count: Int) in [[Double]](repeating: SpinalRegion.levelTable(regionProbabilities: [0, 1, 0, 0, 0]), count: count) }
        let first = try decoder.decode(heatmap: s.heatmap, levelProbabilities: s.levels, geometry: s.geometry, levelTables: thoracic)
        #expect(first.vertebrae.map(\.levelID) == [16, 17, 18, 19])
        decoder.sequence.priorOnFirstWhole = true
        let whole = try decoder.decode(heatmap: s.heatmap, levelProbabilities: s.levels, geometry: s.geometry, levelTables: thoracic)
        #expect(whole.vertebrae.map(\.levelID) == [15, 16, 17, 18] && whole.vertebrae.map(\.touchesFieldOfViewEdge) == [true, false, false, false])
    }

    /// A cut vertebra whose spinous process the cut separates from its body gives two components at the edge; the
    /// smaller, at whose rows the larger one's candidate lies, is no vertebra of its own.
    @Test func aPieceOfACutVertebraIsNotOneMore() throws {
        var s = Self.scene()
        let n = s.geometry.voxelCount, k = LevelIndex.count
        func setVertebra(rows: ClosedRange<Int>, columns: ClosedRange<Int>) {
            for d in 0..<4 { for h in rows { for w in columns {
                let i = (d * 40 + h) * 10 + w
                for c in 0..<k { s.levels[c * n + i] = c == LevelIndex.index(ofLevelID: 19) ? 0.8 : 0.2 / Float(k - 1) }
            } } }
        }
        // The body's part: rows 0...3, w 2...4 (48 voxels of 8 mm³), centroid (h 1.5, w 3), 12.4 mm from L1's
        // (h 7.5, w 4.5); the spinous process's: rows 0...2, w 7...9 (36 voxels), centroid (h 1, w 8), 10.05 mm
        // from the body's: separated at 8 mm, but the body's candidate lies within its rows.
        setVertebra(rows: 0...3, columns: 2...4)
        setVertebra(rows: 0...2, columns: 7...9)
        var decoder = VertebraDecoder()
        decoder.minimumSeparationMM = 8
        let result = try decoder.decode(heatmap: s.heatmap, levelProbabilities: s.levels, geometry: s.geometry)
        #expect(result.vertebrae.map(\.levelID) == [19, 20, 21, 22])
        // The piece joins the cut vertebra's region.
        #expect(result.vertebrae[0].touchesFieldOfViewEdge && result.vertebrae[0].voxels == 48 + 36)
    }

    @Test func withoutAHeatmapTheLevelRegionsGiveTheCandidates() throws {
        let s = Self.scene()
        let result = try VertebraDecoder().decode(heatmap: nil, levelProbabilities: s.levels, geometry: s.geometry)
        #expect(result.vertebrae.map(\.levelID) == [20, 21, 22])
        #expect(abs(result.vertebrae[0].centroidVoxel[1] - 7.5) < 1e-9)
    }

    @Test func vertebralBodyComponentsGiveTheCandidates() throws {
        let s = Self.scene()
        // Bodies: the blocks' voxels with w in 2...4 (the rest of each block stands for posterior elements).
        let bodies = (0..<s.geometry.voxelCount).map { i in
            let h = (i / 10) % 40, w = i % 10
            return s.blocks.contains { $0.contains(h) } && (2...4).contains(w)
        }
        var decoder = VertebraDecoder()
        decoder.candidates = .bodies
        let result = try decoder.decode(heatmap: s.heatmap, levelProbabilities: s.levels, geometry: s.geometry, bodyMask: bodies)
        #expect(result.vertebrae.map(\.levelID) == [20, 21, 22])
        // The centroid is the whole region's (w 2...7), not the body's.
        for (v, block) in zip(result.vertebrae, s.blocks) {
            #expect(zip(v.centroidVoxel, [1.5, Double(block.lowerBound + block.upperBound) / 2, 4.5]).allSatisfy { abs($0 - $1) < 1e-9 })
        }
        // Components below the minimum size are not vertebrae.
        decoder.minimumBodyMM3 = 4 * 6 * 3 * 8 + 1
        #expect(try decoder.decode(heatmap: s.heatmap, levelProbabilities: s.levels, geometry: s.geometry, bodyMask: bodies).vertebrae.isEmpty)
    }

    /// `fused` candidates: the heatmap's peaks, and each body that no peak marks. The heatmap here has no peak at the
    /// middle block (a heatmap that missed a vertebra).
    @Test func fusedCandidatesAddTheBodiesNoPeakMarks() throws {
        var s = Self.scene()
        let n = s.geometry.voxelCount
        for i in 0..<n where s.blocks[1].contains((i / 10) % 40) { s.heatmap[i] = 0.05 }
        var bodies = (0..<n).map { i in s.blocks.contains { $0.contains((i / 10) % 40) } && (2...4).contains(i % 10) }
        var decoder = VertebraDecoder()
        #expect(decoder.candidates == .fused && decoder.crossSpineWeight == 0)
        let fused = try decoder.decode(heatmap: s.heatmap, levelProbabilities: s.levels, geometry: s.geometry, bodyMask: bodies)
        // The middle vertebra comes from its body.
        #expect(fused.vertebrae.map(\.levelID) == [20, 21, 22] && fused.vertebrae.map(\.voxels) == [144, 144, 144])
        #expect(abs(fused.vertebrae[1].centroidVoxel[1] - 19.5) < 1e-9)
        // The peaks alone miss it: its voxels join the neighbours' regions.
        decoder.candidates = .peaks
        let peaks = try decoder.decode(heatmap: s.heatmap, levelProbabilities: s.levels, geometry: s.geometry, bodyMask: bodies)
        #expect(peaks.vertebrae.count == 2 && peaks.vertebrae.map(\.voxels).reduce(0, +) == 3 * 144)
        // Without a body mask, fused is peaks.
        decoder.candidates = .fused
        #expect(try decoder.decode(heatmap: s.heatmap, levelProbabilities: s.levels, geometry: s.geometry).vertebrae.count == 2)
        // A body fragment behind the first block (w 8, rows 7...25: a posterior element the segmentation calls body),
        // and the middle body missed too. The fragment's centroid (h 16) lies 17 mm from the nearest peak, but its
        // rows hold the first peak: it is no vertebra of its own.
        for i in 0..<n where s.blocks[1].contains((i / 10) % 40) { bodies[i] = false }
        for d in 0..<4 { for h in 7...25 { bodies[(d * 40 + h) * 10 + 8] = true } }
        #expect(try decoder.decode(heatmap: s.heatmap, levelProbabilities: s.levels, geometry: s.geometry, bodyMask: bodies).vertebrae.count == 2)
        // The bodies alone take it for one.
        decoder.candidates = .bodies
        #expect(try decoder.decode(heatmap: s.heatmap, levelProbabilities: s.levels, geometry: s.geometry, bodyMask: bodies).vertebrae.count == 3)
    }

    @Test func smoothingKeepsAConstantAndSpreadsAPoint() {
        let constant = VertebraDecoder.smooth([Float](repeating: 2, count: 60), shape: [3, 4, 5], sigmaVoxels: [1, 1, 1])
        #expect(constant.allSatisfy { abs($0 - 2) < 1e-6 })
        var point = [Float](repeating: 0, count: 60)
        point[(1 * 4 + 2) * 5 + 2] = 1
        let spread = VertebraDecoder.smooth(point, shape: [3, 4, 5], sigmaVoxels: [0, 0, 1])
        // Along W only, a sampled Gaussian cut at 3σ and renormalised at the edges: at w = 3 the taps -3...1 fall
        // inside the 5 voxels, and the point (w = 2) is tap -1.
        let expected = exp(-0.5) / (exp(-4.5) + exp(-2) + exp(-0.5) + 1 + exp(-0.5))
        #expect(abs(Double(spread[(1 * 4 + 2) * 5 + 3]) - expected) < 1e-6)
        #expect(spread[(0 * 4 + 2) * 5 + 2] == 0)
    }

    @Test func peaksCloserThanTheSeparationMerge() {
        var decoder = VertebraDecoder()
        let s = Self.scene()
        decoder.minimumSeparationMM = 30  // blocks are 24 mm apart: the middle one is suppressed
        let peaks = decoder.peaks(s.heatmap, shape: s.geometry.shape, spacing: s.geometry.spacingMM)
        #expect(peaks.count == 2)
    }

    /// Two maxima at one height, beside each other (along D) or one behind the other (along W), are one vertebra
    /// when their offset, weighted by `crossSpineWeight`, is under the separation; two maxima as far apart along
    /// the spine (H) stay two.
    @Test(arguments: [(axis: 0, weight: 0.5, expected: 1), (axis: 0, weight: 1.0, expected: 2), (axis: 2, weight: 0.5, expected: 1),
                      (axis: 2, weight: 1.0, expected: 2), (axis: 1, weight: 0.5, expected: 2), (axis: 2, weight: 0.0, expected: 1),
                      (axis: 1, weight: 0.0, expected: 2)])
    func maximaAcrossTheSpineAreOneVertebra(axis: Int, weight: Double, expected: Int) {
        // [12, 24, 12] at 2 mm; maxima 18 mm apart along `axis` around the centre (6, 12, 6), each a narrow Gaussian.
        let shape = [12, 24, 12], spacing = [2.0, 2, 2]
        var a = [6.0, 12, 6], b = a
        a[axis] -= 4.5; b[axis] += 4.5
        var heatmap = [Float](repeating: 0, count: shape.reduce(1, *))
        for d in 0..<12 { for h in 0..<24 { for w in 0..<12 {
            let p = [Double(d), Double(h), Double(w)]
            let r2 = { (c: [Double]) in (0..<3).reduce(0.0) { $0 + pow((p[$1] - c[$1]) * 2, 2) } }
            heatmap[(d * 24 + h) * 12 + w] = Float(max(exp(-r2(a) / 8), 0.95 * exp(-r2(b) / 8)))
        } } }
        var decoder = VertebraDecoder()
        decoder.crossSpineWeight = weight
        #expect(decoder.minimumSeparationMM == 15)
        let peaks = decoder.peaks(heatmap, shape: shape, spacing: spacing)
        #expect(peaks.count == expected)
        // The stronger maximum is the one kept.
        #expect(peaks.first.map { zip($0.voxel, a).allSatisfy { abs($0 - $1) < 0.5 } } == true)
    }
}

struct SlidingWindowTests {
    @Test(arguments: [(100, 40, 0.5, [0, 20, 40, 60]), (40, 40, 0.5, [0]), (45, 40, 0.5, [0, 5]), (100, 40, 0.0, [0, 30, 60]),
                      (30, 40, 0.5, [0])])
    func windowStartsCoverTheAxisEvenly(length: Int, window: Int, overlap: Double, expected: [Int]) {
        #expect(SlidingWindow.windowStarts(length: length, window: window, overlap: overlap) == expected)
    }

    @Test func gaussianWeightsPeakAtTheCentreAndStayPositive() throws {
        let g = try SlidingWindow.gaussian([4, 8, 8], device: .cpu).array(Float.self)
        #expect(g.min()! >= 1e-3)
        let centre = g[(1 * 8 + 3) * 8 + 3]
        #expect(g.max()! == centre)
    }
}

struct PredictorTests {
    /// A checkpoint of an untrained model for the test phantoms.
    static func checkpoint(in folder: TemporaryFolder, spacingMM: [Double] = [4, 3, 3], config mutate: (inout TrainingConfig) -> Void = { _ in }) throws -> URL {
        var config = TrainingFixture.config()
        mutate(&config)
        Torch.manualSeed(0)
        let model = try SpineModel(config.model)
        var checkpoint = Checkpoint(state: Checkpoint.State(bestMetric: "val.loss.total"), config: try config.json().jsonText, history: "{}",
                                    model: Dictionary(uniqueKeysWithValues: model.state().map { ($0.name, $0.tensor) }),
                                    optimizer: [:], lossWeighting: [:], rngState: nil)
        checkpoint.dataset = Checkpoint.TrainingData(name: "test", channelNames: ["T1", "STIR"], classNames: ["a", "b", "c"],
                                                     structureNames: StructureLabel.allCases.map(\.name), spacingMM: spacingMM)
        let url = folder.file("model.h5")
        try checkpoint.write(to: url)
        return url
    }

    @Test func slidingWindowBlendsProbabilitiesThatStillSumToOne() throws {
        try Torch.exclusiveRandomness(seed: 0) {
            let folder = try TemporaryFolder()
            let reader = try DatasetReader(url: try TrainingFixture.dataset(in: folder))
            var options = Predictor.Options()
            options.window = [8, 24, 16]
            options.keepMaps = true
            let predictor = try Predictor(checkpoint: try Self.checkpoint(in: folder), options: options)
            let id = reader.subjectIDs[0]
            let input = try predictor.input(dataset: reader, subject: id)
            let maps = try predictor.maps(image: input.image, geometry: input.geometry, source: id)
            let n = input.geometry.voxelCount
            // [8, 48, 32] in windows of [8, 24, 16] at overlap 0.5: 1 x 3 x 3.
            #expect(maps.windows == 9)
            #expect(maps.features.shape == [1, 4] + input.geometry.shape)
            for (probabilities, k) in [(maps.structures!, predictor.config.model.structureClasses), (maps.levels!, LevelIndex.count)] {
                #expect(probabilities.count == k * n)
                let worst = (0..<n).map { i in abs((0..<k).reduce(Float(0)) { $0 + probabilities[$1 * n + i] } - 1) }.max()!
                #expect(worst < 1e-4)
            }
            let (prediction, volumes) = try predictor.predict(id: id, image: input.image, geometry: input.geometry, source: input.source)
            #expect(volumes.vertebrae.count == n && volumes.structures?.count == n)
            // --save-maps keeps the softmax the structure labels are the argmax of.
            #expect(volumes.structureProbabilities == maps.structures)
            #expect(volumes.structures == Predictor.argmax(maps.structures!, voxels: n))
            #expect(prediction.warnings.contains { $0.contains("sliding window") })
            let json = try JSONValue.parse(try PredictionFolder.encode(prediction), source: "prediction")
            #expect(try JSONSchema.shipped("prediction.schema.json").validate(json).isEmpty)
        }
    }

    /// `[k, D, H, W]` values mirrored along D.
    static func mirrored<T>(_ values: [T], shape: [Int]) -> [T] {
        let plane = shape[1] * shape[2], n = shape[0] * plane
        return values.indices.map { i in
            let (channel, d, rest) = (i / n, (i % n) / plane, i % plane)
            return values[channel * n + (shape[0] - 1 - d) * plane + rest]
        }
    }

    static func largestDifference(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    @Test func mirroringAveragesTheOutputsOnTheImageAndOnItsMirrorImage() throws {
        try Torch.exclusiveRandomness(seed: 0) {
            let folder = try TemporaryFolder()
            let reader = try DatasetReader(url: try TrainingFixture.dataset(in: folder))
            // A classifier that convolves the image (base.yaml's): pooling features alone would not see the mirror.
            let checkpoint = try Self.checkpoint(in: folder) {
                ($0.model.classifierFeatures, $0.model.classifierRegion) = (.localInside, .segmentedBody)
            }
            var options = Predictor.Options()
            #expect(options.mirror)
            options.mirror = false
            let plain = try Predictor(checkpoint: checkpoint, options: options)
            options.mirror = true
            let mirroring = try Predictor(checkpoint: checkpoint, options: options)
            let id = reader.subjectIDs[0]
            let input = try plain.input(dataset: reader, subject: id)
            let (geometry, shape) = (input.geometry, input.geometry.shape)
            let image = input.image, mirrorImage = Self.mirrored(input.image, shape: shape)
            let a = try plain.maps(image: image, geometry: geometry, source: id)
            let b = try plain.maps(image: mirrorImage, geometry: geometry, source: id)
            let m = try mirroring.maps(image: image, geometry: geometry, source: id)
            let mm = try mirroring.maps(image: mirrorImage, geometry: geometry, source: id)
            let outputs: [(Predictor.Maps) -> [Float]?] = [\.structures, \.heatmap, \.levels, \.reconstruction, { try? $0.features.contiguous().array(Float.self) }]
            for output in outputs {
                let (onImage, onMirror, mirrored, mirroredOnMirror) = (output(a)!, output(b)!, output(m)!, output(mm)!)
                // The untrained model is not symmetric, so the mean below is not the output itself.
                #expect(Self.largestDifference(onImage, Self.mirrored(onMirror, shape: shape)) > 1e-3)
                let mean = zip(onImage, Self.mirrored(onMirror, shape: shape)).map { ($0 + $1) / 2 }
                #expect(Self.largestDifference(mirrored, mean) < 1e-5)
                // Mirroring the image mirrors every map.
                #expect(Self.largestDifference(mirroredOnMirror, Self.mirrored(mirrored, shape: shape)) < 1e-5)
            }
            // Two boxes as vertebrae, asymmetric along D, and their class probabilities.
            var labels = [UInt8](repeating: 0, count: geometry.voxelCount)
            for d in 1..<4 { for h in 10..<22 { for w in 8..<20 { labels[(d * shape[1] + h) * shape[2] + w] = 20 } } }
            for d in 3..<8 { for h in 26..<38 { for w in 10..<22 { labels[(d * shape[1] + h) * shape[2] + w] = 21 } } }
            let mirrorLabels = Self.mirrored(labels, shape: shape)
            // Level 22 has no voxel: no evidence, no probabilities.
            let decisions = try mirroring.classDecisions(maps: m, shape: shape, labelMap: labels, levelIDs: [20, 21, 22], structures: nil)
            #expect(decisions.count == 3 && decisions[2] == .emptyRegion && decisions[2].flag == .emptyClassRegion)
            let all = decisions.map(\.probabilities)
            // Nor has a vertebra with no body or lesion voxel, for a classifier of the body (it would fall back to
            // the whole vertebra).
            var structures = [UInt8](repeating: UInt8(StructureLabel.vertebralBody.rawValue), count: labels.count)
            for i in labels.indices where labels[i] == 21 { structures[i] = UInt8(StructureLabel.posteriorElements.rawValue) }
            let bodiless = try mirroring.classDecisions(maps: m, shape: shape, labelMap: labels, levelIDs: [20, 21], structures: structures).map(\.probabilities)
            #expect(bodiless[0] != nil && bodiless[1] == nil)
            #expect(try mirroring.classDecisions(maps: m, shape: shape, labelMap: labels, levelIDs: [20, 21], structures: structures)[1] == .emptyRegion)
            structures[labels.firstIndex(of: 21)!] = UInt8(StructureLabel.lesion.rawValue)
            #expect(try mirroring.classDecisions(maps: m, shape: shape, labelMap: labels, levelIDs: [20, 21], structures: structures).map(\.probabilities).allSatisfy { $0 != nil })
            let p = all.prefix(2).compactMap { $0 }
            let onMirror = try mirroring.classDecisions(maps: mm, shape: shape, labelMap: mirrorLabels, levelIDs: [20, 21], structures: nil).map(\.probabilities).compactMap { $0 }
            let halves = (try plain.classDecisions(maps: m, shape: shape, labelMap: labels, levelIDs: [20, 21], structures: nil).map(\.probabilities).compactMap { $0 },
                          try plain.classDecisions(maps: mm, shape: shape, labelMap: mirrorLabels, levelIDs: [20, 21], structures: nil).map(\.probabilities).compactMap { $0 })
            #expect(p.count == 2 && onMirror.count == 2 && halves.0.count == 2 && halves.1.count == 2)
            #expect(p.allSatisfy { $0.count == 3 && abs($0.reduce(0, +) - 1) < 1e-6 })
            for v in 0..<2 { for c in 0..<3 {
                #expect(abs(p[v][c] - (halves.0[v][c] + halves.1[v][c]) / 2) < 1e-5)
                #expect(abs(onMirror[v][c] - p[v][c]) < 1e-5)
            } }
            #expect(zip(halves.0, halves.1).contains { zip($0, $1).contains { abs($0 - $1) > 1e-4 } })
        }
    }

    /// With `model.minimumClassRegionShare`, a vertebra the field of view cuts whose region holds less than that share
    /// of the median whole vertebra's gets no decision (`partialRegion`); the median is over the uncut ones, and
    /// with none (or a share of 0) every vertebra with evidence is decided.
    @Test func aSliverWithTooLittleInViewGetsNoClassDecision() throws {
        try Torch.exclusiveRandomness(seed: 0) {
            let folder = try TemporaryFolder()
            let reader = try DatasetReader(url: try TrainingFixture.dataset(in: folder))
            let checkpoint = try Self.checkpoint(in: folder) { $0.model.minimumClassRegionShare = 0.25 }
            let predictor = try Predictor(checkpoint: checkpoint, options: Predictor.Options())
            let id = reader.subjectIDs[0]
            let input = try predictor.input(dataset: reader, subject: id)
            let shape = input.geometry.shape
            let maps = try predictor.maps(image: input.image, geometry: input.geometry, source: id)
            // Whole vertebrae of 3·12·12 = 432 and 5·10·12 = 600 voxels (median 516), and slivers of 1·10·12 = 120
            // (under a quarter: 129) and 1·13·12 = 156 (over it) at the top and bottom rows.
            var labels = [UInt8](repeating: 0, count: input.geometry.voxelCount)
            func box(_ level: UInt8, _ d: Range<Int>, _ h: Range<Int>, _ w: Range<Int>) {
                for d in d { for h in h { for w in w { labels[(d * shape[1] + h) * shape[2] + w] = level } } }
            }
            box(20, 1..<4, 12..<24, 8..<20)
            box(21, 3..<8, 24..<34, 10..<22)
            box(19, 2..<3, 0..<10, 8..<20)
            box(22, 2..<3, (shape[1] - 13)..<shape[1], 8..<20)
            let levels = [19, 20, 21, 22], cut = [true, false, false, true]
            let decisions = try predictor.classDecisions(maps: maps, shape: shape, labelMap: labels, levelIDs: levels, cut: cut, structures: nil)
            #expect(decisions[0] == .partialRegion && decisions[0].flag == .partialClassRegion)
            #expect(decisions[1...].allSatisfy { $0.probabilities?.count == 3 })
            // Nothing whole to compare with: every vertebra with evidence is decided.
            let noneWhole = try predictor.classDecisions(maps: maps, shape: shape, labelMap: labels, levelIDs: levels, cut: [true, true, true, true], structures: nil)
            #expect(noneWhole.allSatisfy { $0.probabilities != nil })
            // The decided vertebrae's probabilities do not depend on which others are decided.
            for i in 1..<4 { #expect(zip(noneWhole[i].probabilities!, decisions[i].probabilities!).allSatisfy { abs($0 - $1) < 1e-6 }) }
        }
    }

    @Test func theShareOfAWholeVertebraIsTakenFromTheMedianOfTheUncutOnes() {
        // Uncut evidence 400, 300, 500 (median 400); a quarter of it is 100.
        let voxels: [Double] = [99, 400, 300, 100, 500, 0, 90]
        let cut = [true, false, false, true, false, true, true]
        #expect(SpineModel.largeEnoughToClassify(voxels: voxels, cut: cut, minimumShare: 0.25) == [false, true, true, true, true, false, false])
        // An even count takes the mean of the middle two: (300 + 400) / 2 = 350, a quarter 87.5.
        #expect(SpineModel.largeEnoughToClassify(voxels: [300, 400, 88, 87], cut: [false, false, true, true], minimumShare: 0.25) == [true, true, true, false])
        // A share of 0, or no uncut vertebra with evidence: all of them.
        #expect(SpineModel.largeEnoughToClassify(voxels: voxels, cut: cut, minimumShare: 0) == voxels.map { _ in true })
        #expect(SpineModel.largeEnoughToClassify(voxels: [5, 500, 0], cut: [true, true, false], minimumShare: 0.5) == [true, true, true])
    }

    @Test func predictionsRoundTripThroughTheFolder() throws {
        let folder = try TemporaryFolder()
        let geometry = Geometry(shape: [2, 3, 4], spacingMM: [4, 3, 3], originMM: [1, 2, 3])
        let vertebra = VertebraPrediction(levelID: 20, centroidMM: [1, 2, 3], centroidVoxel: [1, 1, 1], detectionScore: 0.9,
                                          identificationConfidence: 0.8, voxels: 5, volumeML: 0.18, classProbabilities: [0.2, 0.7, 0.1],
                                          flags: [.cutByFieldOfView])
        #expect(vertebra.decision == 1 && vertebra.level == "L1" && vertebra.decisionConfidence == 0.7)
        let prediction = SubjectPrediction(subjectID: "s-1", source: .init(kind: "files", paths: ["a.nii.gz"], subject: nil), checkpoint: "m.h5",
                                           geometry: geometry, channelNames: ["T1"], classNames: ["a", "b", "c"], vertebrae: [vertebra],
                                           flags: [], reconstructionPSNR: nil, warnings: [])
        let volumes = PredictedVolumes(vertebrae: (0..<24).map { UInt8($0 % 3 == 0 ? 20 : 0) }, structures: (0..<24).map { UInt8($0 % 6) })
        let out = PredictionFolder(folder.url.appendingPathComponent("pred"))
        try out.write(prediction, volumes: volumes)
        #expect(try out.subjectIDs() == ["s-1"])
        let read = try out.read("s-1")
        #expect(read == prediction)
        #expect(try out.readVolumes(read) == volumes)
        // Probability maps: one NIfTI channel per structure class, on the subject's grid.
        var withMaps = volumes
        withMaps.structureProbabilities = (0..<48).map { Float($0) / 48 }
        try out.write(prediction, volumes: withMaps)
        let maps = try ImageIO.read(out.probabilities("s-1"))
        #expect(maps.channels == 2 && maps.geometry == geometry && maps.voxels == withMaps.structureProbabilities)
    }

    @Test func badInputGetsClearErrors() throws {
        try Torch.exclusiveRandomness(seed: 0) {
            let folder = try TemporaryFolder()
            var options = Predictor.Options()
            let predictor = try Predictor(checkpoint: try Self.checkpoint(in: folder), options: options)
            let geometry = Geometry(shape: [8, 48, 32], spacingMM: [4, 3, 3])
            let n = geometry.voxelCount
            // One channel for a two-channel model.
            let one = folder.file("t1.nii.gz")
            try ImageIO.write(ImageVolume(geometry: geometry, voxels: [Float](repeating: 1, count: n)), to: one)
            #expect { try predictor.input(files: [one]) } throws: { error in
                guard case Predictor.Error.channelMismatch(_, 1, 2, ["T1", "STIR"]) = error else { return false }
                return "\(error)".contains("T1, STIR")
            }
            // Two files on different grids.
            let shifted = folder.file("stir.nii.gz")
            try ImageIO.write(ImageVolume(geometry: Geometry(shape: [8, 48, 32], spacingMM: [4, 3, 3], originMM: [5, 0, 0]),
                                          voxels: [Float](repeating: 1, count: n)), to: shifted)
            #expect { try predictor.input(files: [one, shifted]) } throws: { "\($0)".contains("origin") && "\($0)".contains("stir.nii.gz") }
            // NaN voxels.
            var image = [Float](repeating: 1, count: 2 * n)
            image[7] = .nan
            let source = SubjectPrediction.Source(kind: "files", paths: ["x"], subject: nil)
            #expect(throws: Predictor.Error.nonFinite(source: "x", count: 1)) {
                try predictor.predict(id: "x", image: image, geometry: geometry, source: source)
            }
            // Resampled by default: a spacing 3x the training spacing predicts, with every output on the input's grid.
            image[7] = 1
            let coarseInput = Geometry(shape: [8, 48, 32], spacingMM: [12, 3, 3])
            let (resampled, resampledVolumes) = try predictor.predict(id: "x", image: image, geometry: coarseInput, source: source)
            #expect(resampled.geometry == coarseInput && resampledVolumes.vertebrae.count == n && resampledVolumes.structures?.count == n)
            #expect(resampled.warnings.contains { $0.contains("resampled from 12 x 3 x 3 mm (8x48x32) to 4 x 3 x 3 mm (24x48x32)") })
            // With --no-resample a spacing 3x the training spacing is refused, 1.5x warns.
            options.resample = false
            let native = try Predictor(checkpoint: try Self.checkpoint(in: folder), options: options)
            let coarse = Geometry(shape: [8, 48, 32], spacingMM: [12, 3, 3])
            #expect { try native.predict(id: "x", image: image, geometry: coarse, source: source) } throws: { error in
                guard case Predictor.Error.spacingMismatch = error else { return false }
                return "\(error)".contains("--allow-spacing-mismatch")
            }
            let (prediction, _) = try native.predict(id: "x", image: image, geometry: Geometry(shape: [8, 48, 32], spacingMM: [6, 3, 3]), source: source)
            #expect(prediction.warnings.contains { $0.contains("training spacing") })
            options.allowSpacingMismatch = true
            let lenient = try Predictor(checkpoint: try Self.checkpoint(in: folder), options: options)
            #expect(try lenient.predict(id: "x", image: image, geometry: coarse, source: source).0.warnings.contains { $0.contains("3.00x") })
        }
    }

    @Test func aCheckpointWhoseConfigThisRachisCannotReadIsRefused() throws {
        let folder = try TemporaryFolder()
        let url = try Self.checkpoint(in: folder)
        var checkpoint = try Checkpoint.read(from: url)
        checkpoint.config = #"{"model": {"width": 8, "colour": "blue"}}"#
        try checkpoint.write(to: url)
        #expect { try Predictor(checkpoint: url) } throws: { error in
            guard case Predictor.Error.incompatibleCheckpoint = error else { return false }
            return "\(error)".contains("colour")
        }
    }

    /// `rachis train` resolves `model.spacingMM: []`; a checkpoint that still holds it plans no known grid.
    @Test func aCheckpointWithoutATrainingSpacingIsRefused() throws {
        let folder = try TemporaryFolder()
        let url = try Self.checkpoint(in: folder) { $0.model.spacingMM = [] }
        #expect { try Predictor(checkpoint: url) } throws: { error in
            guard case Predictor.Error.incompatibleCheckpoint = error else { return false }
            return "\(error)".contains("records no training spacing") && "\(error)".contains(url.path)
        }
    }
}
