import Foundation

/// Turns the model's whole-volume outputs into vertebrae: centroids, regions and levels.
///
/// 1. Candidates (`candidates`, default `fused`): local maxima of the localization heatmap smoothed with a Gaussian
///    of `smoothingMM` (3×3×3 neighbourhood) at or above `peakThreshold`, greedily kept from the highest down when
///    `separated` from every kept one (at least `minimumSeparationMM` apart along the spine, offsets across it
///    counted at `crossSpineWeight`), at most `LevelSequenceDecoder.levelCount`, and only where the identification
///    head calls the peak's `sampleRadiusMM` ball vertebra (mean background probability at most
///    `1 − minimumForeground`), so that heatmap bumps in the background are not vertebrae. The peak's position is
///    the heatmap-weighted mean over its 3×3×3 neighbourhood. With a vertebral-body mask (from the segmentation
///    head: voxels labelled vertebral body or lesion), its 6-connected components of at least `minimumBodyMM3`
///    (intervertebral discs keep bodies apart), each scored by its mean heatmap value, are candidates too: `fused`
///    adds, largest first, each component that no candidate marks (none lies within its rows, H) and that is
///    `separated` from every candidate, so a vertebra the heatmap missed is found from its body, and a fragment of a
///    body (a posterior element the segmentation calls body, a body split at a lesion) is not one more vertebra;
///    `bodies` takes the components alone, `peaks` the peaks alone. A candidate's centroid becomes its region's in
///    step 2. Without a heatmap (no localization head), the candidates are the components, or without a body mask
///    the per-level centroids of the identification head's argmax (`LevelMapDecoder`).
///    Then, with `edgeCandidates`, vertebrae that the field of view cuts at its top or bottom: a vertebra cut to a
///    sliver has no heatmap peak of its own (its centre lies outside the volume), and its voxels would otherwise join
///    the neighbour's region. Each 6-connected component of the vertebra voxels (step 2's) that touches the first or
///    last H slice, holds at least `minimumEdgeMM3`, lies at least `minimumSeparationMM` from every candidate, and has no candidate within its
///    rows (largest first: a cut vertebra's spinous process, apart from its body, is not one more) is one more
///    candidate, at its centroid, scored by its mean heatmap value.
/// 2. Regions: every vertebra voxel (`vertebraVoxels`: with a bone mask, the segmentation's bone; without one, what
///    the identification head calls vertebra, background probability below ½) goes to the nearest candidate (in mm)
///    within `maximumRadiusMM`.
///    A vertebra's centroid is then its region's (body and posterior elements, as the reference centroids are);
///    a candidate with an empty region keeps its position. The region's centroid is the steadier one: a heatmap that
///    has not converged can peak beside the vertebra's centre (docs/learning.md, sixth round).
/// 3. Levels: each candidate's level probabilities come from the spinal-region head pooled over its region when the
///    caller gives them (`levelTables`: every level of a region gets the region's probability, so levels are
///    counted from the region boundaries in view), otherwise from the identification probabilities averaged over
///    its region (over a `sampleRadiusMM` ball around the centroid when the region is empty), renormalised without
///    background. With a rib mask (the segmentation's ribs) and `ribLevels`, each vertebra's ribs then rule levels out
///    (`ribEvidence`): ribs make it thoracic, a rudimentary last pair T13, no ribs below ribs lumbar or sacral. The
///    candidates, sorted cranial to caudal (by H, which points inferior in the canonical grid), are labelled jointly
///    by `LevelSequenceDecoder`.
public struct VertebraDecoder: Sendable {
    public var peakThreshold: Double
    public var minimumSeparationMM: Double
    public var maximumRadiusMM: Double
    public var sampleRadiusMM: Double
    public var minimumForeground: Double
    /// The smallest vertebral-body component that counts as a vertebra, in mm³.
    public var minimumBodyMM3 = 300.0
    public var sequence: LevelSequenceDecoder

    /// The weight of offsets across the spine (D, left-right, and W, anterior-posterior) against offsets along it
    /// (H) when candidates are kept apart by `minimumSeparationMM`. Neighbouring vertebrae lie one body height and
    /// a disc apart along the spine; two heatmap maxima at one height, beside each other or one behind the other,
    /// are one vertebra (a heatmap that has not converged splits a vertebra so, or peaks at a spinous process 35 mm
    /// behind its body, which a weight of 0.5 took for a vertebra of its own: docs/learning.md, ninth round).
    public var crossSpineWeight = 0.0

    /// σ of the Gaussian that smooths the heatmap before peaks are sought (0: none), in mm.
    public var smoothingMM = 3.0
    /// Where step 1 finds candidates when both a heatmap and a body mask are given.
    public enum CandidateSource: String, Sendable, CaseIterable {
        /// Heatmap peaks alone.
        case peaks
        /// Vertebral-body components alone.
        case bodies
        /// Heatmap peaks, then each body component at whose rows no candidate lies and that is `separated` from
        /// every candidate so far, largest first.
        case fused
    }
    /// Where step 1 finds candidates: `fused` unless a caller asks for one source (`rachis predict --candidates`).
    public var candidates = CandidateSource.fused

    /// Add the vertebrae the field of view cuts at its top or bottom (step 1).
    public var edgeCandidates = true
    /// The smallest cut vertebra at the field of view's edge that counts as one, in mm³.
    public var minimumEdgeMM3 = 150.0
    /// Which voxels are vertebrae (the cut vertebrae of step 1, the regions of step 2) when a bone mask is given;
    /// without one, the identification head's foreground (background probability below ½).
    public enum VertebraVoxels: String, Sendable, CaseIterable {
        /// The segmentation's bone alone.
        case bone
        /// The segmentation's bone that the identification head also calls vertebra. The head calls much of a
        /// vertebra that the field of view cuts background, so those went unfound, and the regions' centroids sat
        /// off the reference ones (on the development set, three seeds: identification 0.940 against 0.954,
        /// localization 2.59 mm against 1.96 mm; docs/learning.md, twenty-second round).
        case boneAndIdentified
    }
    /// Which voxels are vertebrae when a bone mask is given: `bone` unless a caller asks (`rachis predict
    /// --vertebra-voxels`).
    public var vertebraVoxels = VertebraVoxels.bone

    /// Levels from the ribs (step 3, with a rib mask; `ribEvidence`): a vertebra with ribs is thoracic, one with a
    /// rudimentary pair the 13th thoracic, and one the field of view does not cut with no ribs below one with ribs
    /// is lumbar or sacral, whatever the spinal-region head said (it errs at the thoracolumbar junction; the
    /// segmentation's ribs rarely do: docs/learning.md, twenty-fourth round).
    public var ribLevels = true
    /// A vertebra whose ribs hold fewer than this share of the rib voxels of the vertebra above it, and that is the
    /// last with ribs, carries the rudimentary pair of a T13. 0: no T13 from ribs. On the development and
    /// transitional sets a T13's ribs held 0.15-0.50 of its T12's, and no other vertebra's fewer than 0.69 of the
    /// one above's (docs/learning.md, twenty-fourth round).
    public var rudimentaryRibShare = 0.6
    /// Rib voxels below this share of the most any vertebra in view has count as none (a stray voxel the
    /// segmentation calls rib).
    static let ribPresenceShare = 0.05
    /// The least rib volume, in mm³, that makes a vertebra rib-bearing: a rib pair in view is about 1,400 mm³ in the
    /// default phantoms, a rudimentary one about 500.
    static let minimumRibMM3 = 300.0
    /// How much less likely the levels the ribs rule out become (`favouring`): `LevelSequenceDecoder` then follows
    /// the ribs whatever the spinal-region head said (the transitional prior costs T13 a factor of 10).
    static let ruledOutByRibs = 0.01

    public init(peakThreshold: Double = 0.2, minimumSeparationMM: Double = 15, maximumRadiusMM: Double = 40,
                sampleRadiusMM: Double = 5, minimumForeground: Double = 0.5, sequence: LevelSequenceDecoder = LevelSequenceDecoder()) {
        (self.peakThreshold, self.minimumSeparationMM, self.maximumRadiusMM, self.sampleRadiusMM, self.sequence) =
            (peakThreshold, minimumSeparationMM, maximumRadiusMM, sampleRadiusMM, sequence)
        self.minimumForeground = minimumForeground
    }

    public struct Vertebra: Equatable, Sendable {
        public var levelID: Int
        /// Continuous voxel index `[d, h, w]`.
        public var centroidVoxel: [Double]
        public var centroidMM: [Double]
        public var detectionScore: Double
        public var identificationConfidence: Double
        public var voxels: Int
        /// Touches the first or last H slice (top or bottom of the field of view).
        public var touchesFieldOfViewEdge: Bool
    }

    public struct Result: Equatable, Sendable {
        /// Cranial to caudal.
        public var vertebrae: [Vertebra]
        /// `[D, H, W]` VerSe level id of each voxel's region (0 outside every region).
        public var labelMap: [UInt8]
        public var flags: [SubjectFlag]
    }

    /// - Parameters:
    ///   - heatmap: `[D, H, W]` localization output, or nil.
    ///   - levelProbabilities: `[LevelIndex.count, D, H, W]` softmax of the identification head (channel 0 background).
    ///   - bodyMask: `[D, H, W]` vertebral-body voxels, or nil.
    ///   - boneMask: `[D, H, W]` voxels the segmentation calls vertebral bone (body, lesion, posterior elements), or
    ///     nil. A vertebra's region is then restricted to them, as the labelled regions are: the classifier reads
    ///     no soft tissue or disc that the identification head's foreground takes in at the edges.
    ///   - levelTables: given each voxel's vertebra (index into the candidates, cranial to caudal, or -1) and the
    ///     number of vertebrae, returns one row of `LevelSequenceDecoder.levelCount` level probabilities per
    ///     vertebra (the spinal-region head's, `SpineModel.levelTables`), or nil to use the identification
    ///     probabilities averaged over each region. A vertebra with an empty region is given the voxels within
    ///     `sampleRadiusMM` of its centroid.
    ///   - ribMask: `[D, H, W]` voxels the segmentation calls rib, or nil: with `ribLevels`, each vertebra's ribs rule
    ///     levels out of its row (`ribEvidence`: thoracic, T13, or lumbar and sacral).
    public func decode(heatmap: [Float]?, levelProbabilities: [Float], geometry: Geometry, bodyMask: [Bool]? = nil,
                       boneMask: [Bool]? = nil, ribMask: [Bool]? = nil,
                       levelTables: (([Int], Int) throws -> [[Double]]?)? = nil) throws -> Result {
        let shape = geometry.shape, n = geometry.voxelCount
        precondition(levelProbabilities.count == LevelIndex.count * n, "level probabilities do not fit the geometry")
        precondition(heatmap.map { $0.count == n } ?? true, "heatmap does not fit the geometry")
        precondition(boneMask.map { $0.count == n } ?? true, "bone mask does not fit the geometry")
        let spacing = geometry.spacingMM
        var candidates: [(voxel: [Double], score: Double)]
        let bodies = bodyMask.flatMap { mask -> [(voxel: [Double], score: Double, voxels: Int, rows: ClosedRange<Double>)]? in
            guard self.candidates != .peaks || heatmap == nil else { return nil }
            let minimum = Swift.max(1, Int((minimumBodyMM3 / spacing.reduce(1, *)).rounded(.up)))
            return Self.components(mask, shape: shape).filter { $0.count >= minimum }.map { voxels in
                let centre = (0..<3).map { axis in voxels.reduce(0.0) { total, i in total + Double(Self.coordinates(i, shape)[axis]) } / Double(voxels.count) }
                let score = heatmap.map { h in voxels.reduce(0.0) { $0 + Double(h[$1]) } / Double(voxels.count) } ?? 1
                let rows = voxels.map { Double(($0 / shape[2]) % shape[1]) }
                return (centre, score, voxels.count, rows.min()!...rows.max()!)
            }
        }
        if let heatmap, bodies == nil || self.candidates == .fused {
            let smoothed = smoothingMM > 0 ? Self.smooth(heatmap, shape: shape, sigmaVoxels: spacing.map { smoothingMM / $0 }) : heatmap
            candidates = peaks(smoothed, shape: shape, spacing: spacing) { voxel in
                let voxels = ball(around: voxel, shape: shape, spacing: spacing)
                let background = voxels.reduce(0.0) { $0 + Double(levelProbabilities[$1]) } / Double(voxels.count)
                return 1 - background >= minimumForeground
            }
            // Fused: a body the segmentation separates and no peak marks (none lies within its rows, H) is one more
            // vertebra (largest first).
            for body in (bodies ?? []).sorted(by: { $0.voxels > $1.voxels }) where candidates.count < LevelSequenceDecoder.levelCount
                && isAnother(body.voxel, rows: body.rows, than: candidates, spacing: spacing, crossSpineWeight: crossSpineWeight) {
                candidates.append((body.voxel, body.score))
            }
        } else if let bodies {
            // The strongest when there are more than levels.
            candidates = Array(bodies.sorted { $0.score > $1.score }.prefix(LevelSequenceDecoder.levelCount).map { ($0.voxel, $0.score) })
        } else {
            candidates = LevelMapDecoder(minimumVoxels: 20).decode(probabilities: levelProbabilities, shape: shape, geometry: geometry)
                .map { (geometry.index(worldMM: $0.centroidMM), $0.confidence) }
        }
        // The vertebra voxels (`vertebraVoxels`).
        let foreground = (0..<n).map { i in
            boneMask.map { $0[i] && (vertebraVoxels == .bone || levelProbabilities[i] < 0.5) } ?? (levelProbabilities[i] < 0.5)
        }
        if edgeCandidates, !candidates.isEmpty, candidates.count < LevelSequenceDecoder.levelCount {
            let added = cutVertebrae(foreground: foreground, heatmap: heatmap, shape: shape, spacing: spacing, existing: candidates)
            candidates += added.prefix(LevelSequenceDecoder.levelCount - candidates.count)
        }
        candidates.sort { $0.voxel[1] < $1.voxel[1] }

        // Regions: nearest candidate within the radius.
        var owner = [Int](repeating: -1, count: n)
        var counts = [Int](repeating: 0, count: candidates.count)
        var sums = [[Double]](repeating: [Double](repeating: 0, count: LevelIndex.count), count: candidates.count)
        var touches = [Bool](repeating: false, count: candidates.count)
        var positions = [[Double]](repeating: [0, 0, 0], count: candidates.count)
        let r2max = maximumRadiusMM * maximumRadiusMM
        if !candidates.isEmpty {
            for i in 0..<n where foreground[i] {
                let d = i / (shape[1] * shape[2]), h = (i / shape[2]) % shape[1], w = i % shape[2]
                var best = -1, bestDistance = r2max
                for (c, candidate) in candidates.enumerated() {
                    let dd = (Double(d) - candidate.voxel[0]) * spacing[0], dh = (Double(h) - candidate.voxel[1]) * spacing[1]
                    let dw = (Double(w) - candidate.voxel[2]) * spacing[2]
                    let r2 = dd * dd + dh * dh + dw * dw
                    if r2 <= bestDistance { (best, bestDistance) = (c, r2) }
                }
                guard best >= 0 else { continue }
                owner[i] = best
                counts[best] += 1
                positions[best][0] += Double(d); positions[best][1] += Double(h); positions[best][2] += Double(w)
                if h == 0 || h == shape[1] - 1 { touches[best] = true }
                for k in 0..<LevelIndex.count { sums[best][k] += Double(levelProbabilities[k * n + i]) }
            }
        }
        // Candidates with empty regions read the probabilities around their centroid.
        for c in candidates.indices where counts[c] == 0 {
            for i in ball(around: candidates[c].voxel, shape: shape, spacing: spacing) {
                for k in 0..<LevelIndex.count { sums[c][k] += Double(levelProbabilities[k * n + i]) }
            }
        }
        var tables = sums.map { row -> [Double] in
            let levels = Array(row[1...])
            let total = levels.reduce(0, +)
            return total > 0 ? levels.map { $0 / total } : [Double](repeating: 1 / Double(levels.count), count: levels.count)
        }
        if let levelTables, !candidates.isEmpty {
            var pooling = owner
            for c in candidates.indices where counts[c] == 0 {
                for i in ball(around: candidates[c].voxel, shape: shape, spacing: spacing) where pooling[i] < 0 { pooling[i] = c }
            }
            if let rows = try levelTables(pooling, candidates.count) {
                precondition(rows.count == candidates.count && rows.allSatisfy { $0.count == LevelSequenceDecoder.levelCount },
                             "level tables do not fit the vertebrae")
                tables = rows
            }
        }
        if let ribMask, ribLevels, !candidates.isEmpty {
            precondition(ribMask.count == n, "rib mask does not fit the geometry")
            let ribs = Self.ribVoxels(ribMask: ribMask, owner: owner, count: candidates.count, shape: shape)
            let evidence = Self.ribEvidence(ribVoxels: ribs, cut: touches, rudimentaryShare: rudimentaryRibShare,
                                            minimum: Self.minimumRibMM3 / spacing.reduce(1, *))
            for c in candidates.indices { tables[c] = Self.favouring(tables[c], evidence[c].levels) }
        }
        // The vertebra's centroid: its region's (body and posterior elements), as the reference centroids are.
        for k in candidates.indices where counts[k] > 0 { candidates[k].voxel = positions[k].map { $0 / Double(counts[k]) } }
        let decoded = try sequence.decode(tables, priorRow: sequence.priorOnFirstWhole ? candidates.indices.first { !touches[$0] } : 0)
        let ids = decoded.levelIDs
        let vertebrae = candidates.indices.map { c in
            Vertebra(levelID: ids[c], centroidVoxel: candidates[c].voxel, centroidMM: geometry.worldMM(index: candidates[c].voxel),
                     detectionScore: candidates[c].score, identificationConfidence: decoded.marginals[c][decoded.positions[c]],
                     voxels: counts[c], touchesFieldOfViewEdge: touches[c])
        }
        let labelMap = owner.map { $0 < 0 ? UInt8(0) : UInt8(ids[$0]) }
        return Result(vertebrae: vertebrae, labelMap: labelMap, flags: Self.flags(positions: decoded.positions))
    }

    /// `decode` with its masks from a segmentation's structure labels `structures` `[D, H, W]` (nil: none): bodies
    /// (body, lesion), bone (and posterior elements) and ribs, as prediction and validation both decode.
    public func decode(heatmap: [Float]?, levelProbabilities: [Float], geometry: Geometry, structures: [UInt8]?,
                       levelTables: (([Int], Int) throws -> [[Double]]?)? = nil) throws -> Result {
        try decode(heatmap: heatmap, levelProbabilities: levelProbabilities, geometry: geometry,
                   bodyMask: structures.map(Predictor.bodyMask), boneMask: structures.map(Predictor.boneMask),
                   ribMask: structures.map(Predictor.ribMask), levelTables: levelTables)
    }

    /// Rib voxels beside each of `count` vertebrae: the `ribMask` voxels, in any slice along D (left-right), of the
    /// (H, W) columns where the vertebra holds more voxels than any other (`owner`: each voxel's vertebra or -1). A rib
    /// leaves its vertebra at the height of the body's back, so its voxels lie in the columns of the vertebra's region.
    static func ribVoxels(ribMask: [Bool], owner: [Int], count: Int, shape: [Int]) -> [Int] {
        let plane = shape[1] * shape[2]
        var votes = [Int](repeating: 0, count: plane * count)
        for (i, o) in owner.enumerated() where o >= 0 { votes[(i % plane) * count + o] += 1 }
        let column = (0..<plane).map { p -> Int in
            let row = votes[(p * count)..<((p + 1) * count)]
            guard let top = row.max(), top > 0 else { return -1 }
            return row.firstIndex(of: top)! - p * count
        }
        var ribs = [Int](repeating: 0, count: count)
        for (i, rib) in ribMask.enumerated() where rib {
            let c = column[i % plane]
            if c >= 0 { ribs[c] += 1 }
        }
        return ribs
    }

    /// What a vertebra's ribs say about its level.
    enum RibEvidence: Equatable {
        /// Nothing to go by: none of the cases below (no vertebra in view has a pair's worth of ribs, or this one is
        /// cut, above every vertebra with ribs, or has a few rib voxels that make neither a pair nor the last one).
        case none
        /// Ribs: a thoracic vertebra, T1-T12.
        case thoracic
        /// A rudimentary pair, and the last: T13.
        case thirteenthThoracic
        /// No ribs, whole in view, below a vertebra with ribs: lumbar or sacral.
        case belowTheRibs

        /// The anatomical positions (`VertebraLevel.anatomicalIDs`' indices) the evidence leaves; nil: all.
        var levels: Set<Int>? {
            let ids = VertebraLevel.anatomicalIDs
            switch self {
            case .none: return nil
            case .thoracic: return Set(ids.indices.filter { (8...19).contains(ids[$0]) })
            case .thirteenthThoracic: return [ids.firstIndex(of: 28)!]
            case .belowTheRibs: return Set(ids.indices.filter { (20...26).contains(ids[$0]) })
            }
        }
    }

    /// Each vertebra's rib evidence, given its rib voxels (`ribVoxels`, cranial to caudal) and whether the field of
    /// view cuts it:
    /// - `thirteenthThoracic` when it is not cut, the vertebra above has at least `minimum` rib voxels (cut or not: a
    ///   cut one only has fewer), this one fewer than `rudimentaryShare` of them, and the one below (if any) none;
    /// - otherwise `thoracic` with at least `minimum` rib voxels;
    /// - `belowTheRibs` when it is not cut, has none, and a vertebra above it has ribs;
    /// - `none` otherwise.
    /// "None" is below `ribPresenceShare` of the most any vertebra has. A vertebra is compared with its neighbour,
    /// not with a fixed size, so that the rule holds at any field of view's width.
    static func ribEvidence(ribVoxels: [Int], cut: [Bool], rudimentaryShare: Double, minimum: Double) -> [RibEvidence] {
        let counts = ribVoxels.map(Double.init)
        let most = counts.max() ?? 0
        guard most >= minimum else { return counts.map { _ in .none } }
        let present = counts.map { $0 >= ribPresenceShare * most }
        var evidence = [RibEvidence](repeating: .none, count: counts.count)
        var ribsAbove = false
        for i in counts.indices {
            let last = i + 1 == counts.count || !present[i + 1]
            if i > 0, !cut[i], present[i], last, counts[i - 1] >= minimum, counts[i] < rudimentaryShare * counts[i - 1] {
                evidence[i] = .thirteenthThoracic
            } else if counts[i] >= minimum {
                evidence[i] = .thoracic
            } else if !cut[i], !present[i], ribsAbove {
                evidence[i] = .belowTheRibs
            }
            ribsAbove = ribsAbove || evidence[i] == .thoracic || evidence[i] == .thirteenthThoracic
        }
        return evidence
    }

    /// A level row (`LevelSequenceDecoder.levelCount`) favouring `positions` (nil: the row as it is): those keep their
    /// ratios, scaled so that the largest of them is the row's largest; every other level gets `ruledOutByRibs`
    /// times its own.
    static func favouring(_ row: [Double], _ positions: Set<Int>?) -> [Double] {
        guard let positions, let top = row.max() else { return row }
        let favoured = positions.map { row[$0] }.max() ?? 0
        return row.indices.map { k in
            positions.contains(k) ? (favoured > 0 ? row[k] * top / favoured : top) : row[k] * ruledOutByRibs
        }
    }

    /// Separable Gaussian smoothing (σ per axis in voxels, kernel cut at 3σ, edges renormalised).
    static func smooth(_ values: [Float], shape: [Int], sigmaVoxels: [Double]) -> [Float] {
        var out = values
        let strides = [shape[1] * shape[2], shape[2], 1]
        for axis in 0..<3 where sigmaVoxels[axis] > 0 {
            let radius = Int((3 * sigmaVoxels[axis]).rounded(.up))
            let kernel = (-radius...radius).map { exp(-Double($0 * $0) / (2 * sigmaVoxels[axis] * sigmaVoxels[axis])) }
            let input = out
            for i in 0..<input.count {
                let c = coordinates(i, shape)[axis]
                var sum = 0.0, weight = 0.0
                for k in -radius...radius where c + k >= 0 && c + k < shape[axis] {
                    let w = kernel[k + radius]
                    sum += w * Double(input[i + k * strides[axis]])
                    weight += w
                }
                out[i] = Float(sum / weight)
            }
        }
        return out
    }

    static func coordinates(_ i: Int, _ shape: [Int]) -> [Int] { [i / (shape[1] * shape[2]), (i / shape[2]) % shape[1], i % shape[2]] }

    /// 6-connected components of a mask, as voxel index lists, in order of their first voxel.
    static func components(_ mask: [Bool], shape: [Int]) -> [[Int]] {
        var label = [Int32](repeating: -1, count: mask.count)
        var result: [[Int]] = []
        let (sh, sw) = (shape[1], shape[2])
        for start in mask.indices where mask[start] && label[start] < 0 {
            var members = [start]
            label[start] = Int32(result.count)
            var k = 0
            while k < members.count {
                let i = members[k]
                k += 1
                let c = coordinates(i, shape)
                for (axis, step) in [(0, -1), (0, 1), (1, -1), (1, 1), (2, -1), (2, 1)] {
                    let v = c[axis] + step
                    guard v >= 0, v < shape[axis] else { continue }
                    let j = i + step * [sh * sw, sw, 1][axis]
                    if mask[j], label[j] < 0 { label[j] = Int32(result.count); members.append(j) }
                }
            }
            result.append(members)
        }
        return result
    }

    /// Candidates for the vertebrae the field of view cuts (step 1 of `decode`): components of `foreground` touching
    /// the first or last H slice, of `minimumEdgeMM3` or more, `minimumSeparationMM` or more from every other
    /// candidate and with none within their rows, largest first.
    func cutVertebrae(foreground: [Bool], heatmap: [Float]?, shape: [Int], spacing: [Double],
                      existing: [(voxel: [Double], score: Double)]) -> [(voxel: [Double], score: Double)] {
        let minimum = Swift.max(1, Int((minimumEdgeMM3 / spacing.reduce(1, *)).rounded(.up)))
        var added: [(voxel: [Double], score: Double)] = []
        // Largest first, so that a piece of a cut vertebra (its spinous process, cut off from its body) meets the body.
        for component in Self.components(foreground, shape: shape).sorted(by: { $0.count > $1.count }) where component.count >= minimum {
            let rows = component.map { ($0 / shape[2]) % shape[1] }
            guard rows.contains(0) || rows.contains(shape[1] - 1) else { continue }
            let centre = (0..<3).map { axis in component.reduce(0.0) { $0 + Double(Self.coordinates($1, shape)[axis]) } / Double(component.count) }
            // Euclidean here: a sliver lies less than a body height from its whole neighbour along the spine.
            guard isAnother(centre, rows: Double(rows.min()!)...Double(rows.max()!), than: existing + added, spacing: spacing,
                            crossSpineWeight: 1) else { continue }
            let score = heatmap.map { h in component.reduce(0.0) { $0 + Double(h[$1]) } / Double(component.count) } ?? 0
            added.append((centre, score))
        }
        return added
    }

    /// Voxel indices (C order) within `sampleRadiusMM` of a continuous voxel position (at least the nearest voxel).
    func ball(around centre: [Double], shape: [Int], spacing: [Double]) -> [Int] {
        let nearest = (0..<3).map { Swift.min(shape[$0] - 1, Swift.max(0, Int(centre[$0].rounded()))) }
        let radius = (0..<3).map { Int((sampleRadiusMM / spacing[$0]).rounded(.up)) }
        var out: [Int] = []
        for d in Swift.max(0, nearest[0] - radius[0])...Swift.min(shape[0] - 1, nearest[0] + radius[0]) {
            for h in Swift.max(0, nearest[1] - radius[1])...Swift.min(shape[1] - 1, nearest[1] + radius[1]) {
                for w in Swift.max(0, nearest[2] - radius[2])...Swift.min(shape[2] - 1, nearest[2] + radius[2]) {
                    let r2 = pow((Double(d) - centre[0]) * spacing[0], 2) + pow((Double(h) - centre[1]) * spacing[1], 2)
                        + pow((Double(w) - centre[2]) * spacing[2], 2)
                    if r2 <= sampleRadiusMM * sampleRadiusMM { out.append((d * shape[1] + h) * shape[2] + w) }
                }
            }
        }
        return out.isEmpty ? [(nearest[0] * shape[1] + nearest[1]) * shape[2] + nearest[2]] : out
    }

    /// Whether a component (its centroid and the rows, H, it spans) is a vertebra besides `candidates`: `separated`
    /// from each, and none lies within its rows (a component at a candidate's rows is a piece of that vertebra).
    func isAnother(_ centre: [Double], rows: ClosedRange<Double>, than candidates: [(voxel: [Double], score: Double)],
                   spacing: [Double], crossSpineWeight: Double) -> Bool {
        candidates.allSatisfy { !rows.contains($0.voxel[1]) && separated($0.voxel, centre, spacing: spacing, crossSpineWeight: crossSpineWeight) }
    }

    /// Whether candidates at voxels `a` and `b` are two vertebrae: at least `minimumSeparationMM` apart, with the
    /// offsets along D and W weighted by `crossSpineWeight`.
    func separated(_ a: [Double], _ b: [Double], spacing: [Double], crossSpineWeight: Double) -> Bool {
        let weights = [crossSpineWeight, 1, crossSpineWeight]
        let squared = (0..<3).reduce(0.0) { $0 + pow(weights[$1] * (a[$1] - b[$1]) * spacing[$1], 2) }
        return squared >= minimumSeparationMM * minimumSeparationMM
    }

    /// Local maxima of the heatmap, strongest first, `separated` from each other, that `accept` lets through.
    func peaks(_ heatmap: [Float], shape: [Int], spacing: [Double], accept: ([Double]) -> Bool = { _ in true }) -> [(voxel: [Double], score: Double)] {
        let (sd, sh, sw) = (shape[0], shape[1], shape[2])
        var maxima: [(index: Int, value: Float)] = []
        for d in 0..<sd { for h in 0..<sh { for w in 0..<sw {
            let i = (d * sh + h) * sw + w
            let v = heatmap[i]
            guard Double(v) >= peakThreshold else { continue }
            var isMax = true
            search: for dd in -1...1 { for dh in -1...1 { for dw in -1...1 where dd != 0 || dh != 0 || dw != 0 {
                let (a, b, c) = (d + dd, h + dh, w + dw)
                guard a >= 0, a < sd, b >= 0, b < sh, c >= 0, c < sw else { continue }
                let u = heatmap[(a * sh + b) * sw + c]
                // Ties go to the first voxel in C order, so a plateau gives one peak.
                if u > v || (u == v && (a * sh + b) * sw + c < i) { isMax = false; break search }
            } } }
            if isMax { maxima.append((i, v)) }
        } } }
        maxima.sort { $0.value > $1.value || ($0.value == $1.value && $0.index < $1.index) }
        var kept: [(voxel: [Double], score: Double)] = []
        for m in maxima where kept.count < LevelSequenceDecoder.levelCount {
            let d = m.index / (sh * sw), h = (m.index / sw) % sh, w = m.index % sw
            // Sub-voxel centroid: heatmap-weighted mean over the 3x3x3 neighbourhood.
            var total = 0.0, position = [0.0, 0.0, 0.0]
            for a in Swift.max(0, d - 1)...Swift.min(sd - 1, d + 1) { for b in Swift.max(0, h - 1)...Swift.min(sh - 1, h + 1) {
                for c in Swift.max(0, w - 1)...Swift.min(sw - 1, w + 1) {
                    let u = Double(Swift.max(heatmap[(a * sh + b) * sw + c], 0))
                    total += u
                    position[0] += u * Double(a); position[1] += u * Double(b); position[2] += u * Double(c)
                }
            } }
            let voxel = total > 0 ? position.map { $0 / total } : [Double(d), Double(h), Double(w)]
            if kept.allSatisfy({ separated($0.voxel, voxel, spacing: spacing, crossSpineWeight: crossSpineWeight) }), accept(voxel) { kept.append((voxel, Double(m.value))) }
        }
        return kept
    }

    /// Subject flags from the decoded anatomical positions (sorted cranial to caudal).
    static func flags(positions: [Int]) -> [SubjectFlag] {
        guard !positions.isEmpty else { return [.noVertebrae] }
        var flags: [SubjectFlag] = []
        let ids = positions.map { VertebraLevel.anatomicalIDs[$0] }
        if ids.contains(28) || ids.contains(25) { flags.append(.transitionalVertebra) }
        let skipsRegular = zip(positions, positions.dropFirst()).contains { a, b in
            ((a + 1)..<b).contains { !LevelSequenceDecoder.optional.contains($0) }
        }
        if skipsRegular { flags.append(.missingLevel) }
        let thoracic = ids.filter { (8...19).contains($0) || $0 == 28 }.count
        let lumbar = ids.filter { (20...25).contains($0) }.count
        // A region counts as fully in view when the levels on both sides of it were found.
        let thoracicInView = ids.contains(7) && ids.contains(20)
        let lumbarInView = (ids.contains(19) || ids.contains(28)) && ids.contains(26)
        if (thoracicInView && thoracic != 12) || (lumbarInView && lumbar != 5) { flags.append(.unusualVertebraCount) }
        return flags
    }
}
