import Foundation
import Testing
@testable import Rachis

struct ClassificationRatesTests {
    /// Six vertebrae, four classes (the last never present nor decided):
    ///
    ///     true  probabilities              decided  confidence
    ///     0     0.70 0.20 0.10 0           0        0.70
    ///     0     0.45 0.55 0    0           1        0.55
    ///     1     0.10 0.85 0.05 0           1        0.85
    ///     1     0.15 0.80 0.05 0           1        0.80
    ///     2     0.60 0.10 0.30 0           0        0.60
    ///     0     0.95 0.03 0.02 0           0        0.95
    static let rows: [[Double]] = [[0.7, 0.2, 0.1, 0], [0.45, 0.55, 0, 0], [0.1, 0.85, 0.05, 0], [0.15, 0.8, 0.05, 0],
                                   [0.6, 0.1, 0.3, 0], [0.95, 0.03, 0.02, 0]]
    static let labels = [0, 0, 1, 1, 2, 0]

    func result() throws -> ClassificationResult {
        var metric = ClassificationMetric(classNames: ["a", "b", "c", "d"])
        try metric.add(probabilities: Self.rows, labels: Self.labels)
        return metric.aggregate()
    }

    @Test func perClassRatesByHand() throws {
        let r = try result()
        #expect(r.confusion == [[2, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
        // Class a: TP 2, FN 1, FP 1, TN 2. Class b: TP 2, FN 0, FP 1, TN 3. Class c: TP 0, FN 1, FP 0, TN 5.
        // Class d: no positives, never decided, TN 6.
        let expected: [(sens: Double, spec: Double, prec: Double, f1: Double)] = [
            (2.0 / 3, 2.0 / 3, 2.0 / 3, 4.0 / 6), (1, 3.0 / 4, 2.0 / 3, 4.0 / 5), (0, 1, .nan, 0), (.nan, 1, .nan, .nan),
        ]
        for (c, e) in expected.enumerated() {
            let p = r.perClass[c]
            #expect(same(p.sensitivity, e.sens) && same(p.specificity, e.spec) && same(p.precision, e.prec) && same(p.f1, e.f1), "class \(c): \(p)")
        }
        #expect(same(r.macroF1, (4.0 / 6 + 0.8 + 0) / 3))
        #expect(same(r.balancedAccuracy, (2.0 / 3 + 1 + 0) / 3))
        #expect(r.perClass.map(\.positives) == [3, 2, 1, 0] && r.perClass.map(\.negatives) == [3, 4, 5, 6])
    }

    @Test func expectedCalibrationErrorByHand() throws {
        let r = try result()
        // Bins [0.5,0.6): 0.55 wrong; [0.6,0.7): 0.60 wrong; [0.7,0.8): 0.70 right; [0.8,0.9): 0.85, 0.80 right;
        // [0.9,1]: 0.95 right. ECE = (0.55 + 0.60 + 0.30 + 2·0.175 + 0.05) / 6.
        #expect(r.calibrationBins.map(\.count) == [0, 0, 0, 0, 0, 1, 1, 1, 2, 1])
        #expect(same(r.calibrationBins[8].meanConfidence, 0.825) && r.calibrationBins[8].accuracy == 1)
        #expect(r.calibrationBins[0].accuracy.isNaN && r.calibrationBins[0].meanConfidence.isNaN)
        #expect(same(r.expectedCalibrationError, 1.85 / 6))
        #expect(ClassificationMetric(classNames: ["a"]).aggregate().expectedCalibrationError.isNaN)
        // A confidence of exactly 1 falls in the last bin; a perfectly calibrated bin contributes 0.
        var certain = ClassificationMetric(classNames: ["a", "b"])
        try certain.add(probabilities: [[1, 0], [0, 1]], labels: [0, 1])
        #expect(certain.aggregate().calibrationBins[9].count == 2 && certain.aggregate().expectedCalibrationError == 0)
    }

    @Test func newFieldsAreNullInJSONWhenUndefined() throws {
        let json = String(decoding: try JSONEncoder().encode(try result()), as: UTF8.self)
        #expect(json.contains("\"precision\":null") && json.contains("\"f1\":null"))
        #expect(try JSONDecoder().decode(ClassificationResult.self, from: Data(json.utf8)) == (try result()))
    }
}

/// NaN equals NaN; otherwise equal to 1e-12.
func same(_ a: Double, _ b: Double) -> Bool { (a.isNaN && b.isNaN) || abs(a - b) < 1e-12 }

struct SurfaceDistanceTests {
    /// A deterministic generator (SplitMix64) for the random masks.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func bool(_ p: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < p }
    }

    static func coordinates(_ i: Int, _ shape: [Int]) -> [Int] { [i / (shape[1] * shape[2]), (i / shape[2]) % shape[1], i % shape[2]] }

    /// Surface by definition: in the mask, and some 6-neighbour is outside the mask or the volume.
    static func bruteSurface(_ mask: [Bool], _ shape: [Int]) -> [Int] {
        mask.indices.filter { i in
            guard mask[i] else { return false }
            let c = coordinates(i, shape)
            for axis in 0..<3 {
                for step in [-1, 1] {
                    var n = c
                    n[axis] += step
                    if n[axis] < 0 || n[axis] >= shape[axis] { return true }
                    if !mask[(n[0] * shape[1] + n[1]) * shape[2] + n[2]] { return true }
                }
            }
            return false
        }
    }

    static func distance(_ a: Int, _ b: Int, _ shape: [Int], _ spacing: [Double]) -> Double {
        let (p, q) = (coordinates(a, shape), coordinates(b, shape))
        return (0..<3).reduce(0.0) { $0 + pow(Double(p[$1] - q[$1]) * spacing[$1], 2) }.squareRoot()
    }

    /// numpy's linear percentile written out from its definition (virtual index (n − 1)·q).
    static func numpyPercentile(_ values: [Double], _ q: Double) -> Double {
        let x = values.sorted()
        let h = Double(x.count - 1) * q / 100
        let j = Int(floor(h))
        return j + 1 < x.count ? x[j] + (h - Double(j)) * (x[j + 1] - x[j]) : x[j]
    }

    static func bruteHD(_ a: [Bool], _ b: [Bool], _ shape: [Int], _ spacing: [Double], _ q: Double) -> Double {
        let (sa, sb) = (bruteSurface(a, shape), bruteSurface(b, shape))
        let ab = sa.map { i in sb.map { distance(i, $0, shape, spacing) }.min()! }
        let ba = sb.map { i in sa.map { distance(i, $0, shape, spacing) }.min()! }
        return max(numpyPercentile(ab, q), numpyPercentile(ba, q))
    }

    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6])
    func hd95MatchesBruteForceOnRandomMasks(seed: UInt64) {
        var random = Random(state: seed)
        let shape = [5 + Int(seed % 3), 7, 6]
        let spacing = [3.0, 1.0, 0.7]
        let n = shape.reduce(1, *)
        let density = 0.2 + 0.1 * Double(seed % 4)
        let a = (0..<n).map { _ in random.bool(density) }, b = (0..<n).map { _ in random.bool(density) }
        #expect(Set(SurfaceDistance.surface(a, shape: shape).indices.filter { SurfaceDistance.surface(a, shape: shape)[$0] }) == Set(Self.bruteSurface(a, shape)))
        for q in [95.0, 100, 50] {
            let fast = SurfaceDistance.hausdorffMM(prediction: a, reference: b, shape: shape, spacingMM: spacing, percentile: q)
            #expect(abs(fast - Self.bruteHD(a, b, shape, spacing, q)) < 1e-9, "seed \(seed), percentile \(q)")
        }
    }

    @Test func distanceTransformIsExact() {
        var random = Random(state: 11)
        let shape = [4, 9, 7], spacing = [4.0, 0.8, 1.3]
        let sites = (0..<shape.reduce(1, *)).map { _ in random.bool(0.05) }
        let field = SurfaceDistance.squaredDistanceTransform(sites, shape: shape, spacingMM: spacing)
        let siteIndices = sites.indices.filter { sites[$0] }
        #expect(!siteIndices.isEmpty)
        for i in sites.indices {
            let brute = siteIndices.map { Self.distance(i, $0, shape, spacing) }.min()!
            #expect(abs(field[i].squareRoot() - brute) < 1e-9)
        }
        #expect(SurfaceDistance.squaredDistanceTransform([false, false], shape: [1, 1, 2], spacingMM: [1, 1, 1]).allSatisfy { $0.isInfinite })
    }

    /// Two boxes two voxels thick along an axis, `k` voxels apart along it: each voxel is on the surface, half
    /// lie k·s from the other box's surface and half (k − 1)·s, so for more than a few voxels the 95th percentile
    /// (and the maximum) is k·s, and the median lies half-way.
    @Test(arguments: [(0, 3), (1, 4), (2, 2), (2, 5)])
    func offsetBoxesClosedForm(axis: Int, k: Int) {
        let shape = [12, 10, 11], spacing = [4.0, 1.5, 0.9]
        func box(_ start: Int) -> [Bool] {
            (0..<shape.reduce(1, *)).map { i in
                let c = Self.coordinates(i, shape)
                return (0..<3).allSatisfy { a in a == axis ? (start..<(start + 2)).contains(c[a]) : (2..<6).contains(c[a]) }
            }
        }
        let (a, b) = (box(1), box(1 + k))
        let expected = Double(k) * spacing[axis]
        #expect(abs(SurfaceDistance.hausdorff95MM(prediction: a, reference: b, shape: shape, spacingMM: spacing) - expected) < 1e-9)
        #expect(abs(SurfaceDistance.hausdorffMM(prediction: a, reference: b, shape: shape, spacingMM: spacing, percentile: 100) - expected) < 1e-9)
        #expect(abs(SurfaceDistance.hausdorffMM(prediction: a, reference: b, shape: shape, spacingMM: spacing, percentile: 50) - (Double(k) - 0.5) * spacing[axis]) < 1e-9)
        #expect(SurfaceDistance.hausdorff95MM(prediction: a, reference: a, shape: shape, spacingMM: spacing) == 0)
    }

    @Test func percentileIsNumpyLinear() {
        #expect(abs(SurfaceDistance.percentile([1, 2, 3, 4], 95) - 3.85) < 1e-12)
        #expect(SurfaceDistance.percentile([5], 95) == 5)
        #expect(SurfaceDistance.percentile([], 95).isNaN)
    }

    @Test func anisotropicBallsShiftedInPlane() {
        // 24 × 96 × 64 voxels (147 k, far beyond brute force): two balls of 20 mm radius, 10 voxels of 0.6 mm apart
        // along W, so no surface point moves by more than 6 mm and the 95th percentile is close to that.
        let shape = [24, 96, 64], spacing = [3.3, 0.6, 0.6]
        func ball(_ centre: [Double], _ radiusMM: Double) -> [Bool] {
            (0..<shape.reduce(1, *)).map { i in
                let c = Self.coordinates(i, shape)
                return (0..<3).reduce(0.0) { $0 + pow((Double(c[$1]) - centre[$1]) * spacing[$1], 2) } <= radiusMM * radiusMM
            }
        }
        let hd = SurfaceDistance.hausdorff95MM(prediction: ball([12, 48, 27], 20), reference: ball([12, 48, 37], 20), shape: shape, spacingMM: spacing)
        #expect(hd > 3 && hd <= 6 + 1e-9, "\(hd)")
    }
}

struct SegmentationMetricTests {
    @Test func diceAndHD95PerStructureWithEmptyCasesAndAnnotation() {
        // A 1 × 4 × 4 grid, spacing 2 mm in H and 1 mm in W. Structure 1: the same 2 × 2 block, plus predicted voxels
        // outside the annotated region (ignored). Structure 2: only in the reference. Structure 3: only predicted,
        // and only where unannotated (so both empty). Structure 4: in neither.
        let shape = [1, 4, 4], spacing = [5.0, 2.0, 1.0]
        let target: [UInt8] = [1, 1, 0, 0,
                               1, 1, 0, 2,
                               0, 0, 0, 0,
                               0, 0, 0, 0]
        let prediction: [UInt8] = [1, 1, 0, 0,
                                   1, 1, 0, 0,
                                   0, 0, 0, 1,
                                   0, 0, 3, 1]
        let known = (0..<16).map { $0 < 12 || $0 == 12 }
        let scores = SegmentationMetric.score(prediction: prediction, target: target, known: known, shape: shape, spacingMM: spacing,
                                              classNames: ["background", "one", "two", "three", "four"])
        // Structure 1: the block plus the annotated voxel (h 2, w 3): Dice 2·4 / (5 + 4).
        #expect(same(scores[0].dice, 8.0 / 9))
        // Every voxel is on the surface (D has one slice). Reference to prediction: four 0s. Prediction to reference:
        // four 0s and (2, 3) to (1, 1), √((1·2 mm)² + (2·1 mm)²); the 95th percentile of [0, 0, 0, 0, √8] is 0.8·√8.
        let far = ((2.0 * 1) * (2.0 * 1) + (1.0 * 2) * (1.0 * 2)).squareRoot()
        #expect(abs(0.8 * far - SurfaceDistanceTests.numpyPercentile([0, 0, 0, 0, far], 95)) < 1e-12)
        #expect(abs(scores[0].hd95MM - SurfaceDistanceTests.numpyPercentile([0, 0, 0, 0, far], 95)) < 1e-12)
        #expect(scores[1].dice == 0 && scores[1].hd95MM.isNaN && scores[1].emptiness == .one)
        #expect(scores[2].dice.isNaN && scores[2].hd95MM.isNaN && scores[2].emptiness == .both)
        #expect(scores[3].dice.isNaN && scores[3].emptiness == .both)

        var metric = SegmentationMetric(classNames: ["background", "one", "two", "three", "four"])
        metric.add(id: "a", prediction: prediction, target: target, known: known, shape: shape, spacingMM: spacing)
        metric.add(id: "b", prediction: target, target: target, known: nil, shape: shape, spacingMM: spacing)
        let r = metric.aggregate()
        #expect(same(r.perStructure[0].meanDice, (8.0 / 9 + 1) / 2) && r.perStructure[0].diceCount == 2)
        #expect(same(r.perStructure[0].meanHD95MM, scores[0].hd95MM / 2) && r.perStructure[0].hd95Count == 2)
        #expect(r.perStructure[1].meanDice == 0.5 && r.perStructure[1].oneEmpty == 1 && r.perStructure[1].hd95Count == 1)
        #expect(r.perStructure[1].meanHD95MM == 0)
        #expect(r.perStructure[2].meanDice.isNaN && r.perStructure[2].bothEmpty == 2 && r.perStructure[2].diceCount == 0)
        #expect(r.cases == 2)
    }
}
