import Foundation
import Testing
@testable import Rachis

struct STAPLETests {
    /// Two raters, four voxels with ratings (1,1), (1,0), (0,0), (0,0); prior 0.5, p = q = 0.9 to start, one round.
    /// E-step: W = 0.81/(0.81 + 0.01) = 81/82 for (1,1); 0.09/(0.09 + 0.09) = 1/2 for (1,0); 1/82 for (0,0).
    /// M-step: p_A = (81/82 + 1/2)/ΣW, p_B = (81/82)/ΣW with ΣW = 81/82 + 1/2 + 2/82;
    /// q_A = (2·81/82)/Σ(1 − W), q_B = (1/2 + 2·81/82)/Σ(1 − W) with Σ(1 − W) = 4 − ΣW.
    @Test func handWorkedRound() throws {
        let a = [true, true, false, false], b = [true, false, false, false]
        let result = try STAPLE(prior: .global(0.5), maxIterations: 1, initialPerformance: 0.9)([a, b])
        let sumW = 81.0 / 82 + 0.5 + 2.0 / 82, sumNotW = 4 - sumW
        let p = [(81.0 / 82 + 0.5) / sumW, (81.0 / 82) / sumW]
        let q = [(2 * 81.0 / 82) / sumNotW, (0.5 + 2 * 81.0 / 82) / sumNotW]
        #expect(result.iterations == 1 && !result.converged)
        #expect(zip(result.sensitivity, p).allSatisfy { abs($0 - $1) < 1e-12 }, "\(result.sensitivity) vs \(p)")
        #expect(zip(result.specificity, q).allSatisfy { abs($0 - $1) < 1e-12 }, "\(result.specificity) vs \(q)")
        // The consensus is the E-step with the returned p and q.
        func w(_ da: Bool, _ db: Bool) -> Double {
            let ta = 0.5 * (da ? p[0] : 1 - p[0]) * (db ? p[1] : 1 - p[1])
            let tb = 0.5 * (da ? 1 - q[0] : q[0]) * (db ? 1 - q[1] : q[1])
            return ta / (ta + tb)
        }
        let expected = [w(true, true), w(true, false), w(false, false), w(false, false)]
        #expect(zip(result.consensus, expected).allSatisfy { abs($0 - $1) < 1e-12 })
        #expect(result.priorForeground == 0.5)
    }

    /// Raters simulated from a known truth with set sensitivity and specificity: STAPLE recovers them.
    @Test func recoversKnownRaterQuality() throws {
        var rng = SplitMix64(seed: 2024)
        let n = 40_000
        // A truth with about 30 % foreground, in blobs (runs) rather than independent voxels.
        var truth = [Bool](repeating: false, count: n)
        var i = 0
        while i < n {
            let length = 20 + Int(rng.unit() * 40)
            let on = rng.bernoulli(0.3)
            for k in i..<min(n, i + length) { truth[k] = on }
            i += length
        }
        let sensitivity = [0.95, 0.8, 0.7, 0.9, 0.6]
        let specificity = [0.9, 0.97, 0.85, 0.99, 0.95]
        let raters = zip(sensitivity, specificity).map { p, q in truth.map { t in t ? rng.bernoulli(p) : !rng.bernoulli(q) } }
        let result = try STAPLE()(raters)
        #expect(result.converged)
        for j in 0..<5 {
            #expect(abs(result.sensitivity[j] - sensitivity[j]) < 0.02, "rater \(j): p \(result.sensitivity[j]) vs \(sensitivity[j])")
            #expect(abs(result.specificity[j] - specificity[j]) < 0.02, "rater \(j): q \(result.specificity[j]) vs \(specificity[j])")
        }
        // The consensus thresholded at 0.5 is closer to the truth than the best rater.
        let consensus = result.consensus.map { $0 >= 0.5 }
        let errors = zip(consensus, truth).filter { $0 != $1 }.count
        let bestRater = raters.map { r in zip(r, truth).filter { $0 != $1 }.count }.min()!
        #expect(errors < bestRater, "consensus \(errors) errors, best rater \(bestRater)")
    }

    /// With a global prior the EM runs over rating patterns; a per-voxel prior of the same value runs over voxels:
    /// both give the same estimates.
    @Test func patternsAndVoxelsAgree() throws {
        var rng = SplitMix64(seed: 3)
        let truth = (0..<3000).map { _ in rng.bernoulli(0.4) }
        let raters = [(0.9, 0.8), (0.7, 0.95), (0.85, 0.9)].map { p, q in truth.map { $0 ? rng.bernoulli(p) : !rng.bernoulli(q) } }
        let byPattern = try STAPLE(prior: .global(0.4))(raters)
        let byVoxel = try STAPLE(prior: .perVoxel(Array(repeating: 0.4, count: truth.count)))(raters)
        #expect(byPattern.iterations == byVoxel.iterations && byPattern.converged)
        #expect(zip(byPattern.sensitivity + byPattern.specificity, byVoxel.sensitivity + byVoxel.specificity).allSatisfy { abs($0 - $1) < 1e-9 })
        #expect(zip(byPattern.consensus, byVoxel.consensus).allSatisfy { abs($0 - $1) < 1e-9 })
        #expect(throws: STAPLE.Error.tooManyRaters(65)) { try STAPLE()(Array(repeating: [true], count: 65)) }
    }

    @Test func agreeingRatersAndErrors() throws {
        let mask = [true, true, false, false, false, true]
        let result = try STAPLE()([mask, mask, mask])
        #expect(result.converged)
        #expect(result.sensitivity.allSatisfy { $0 > 1 - 1e-6 } && result.specificity.allSatisfy { $0 > 1 - 1e-6 })
        #expect(zip(result.consensus, mask).allSatisfy { abs($0 - ($1 ? 1 : 0)) < 1e-6 })
        #expect(throws: STAPLE.Error.noRater) { try STAPLE()([]) }
        #expect(throws: STAPLE.Error.sizeMismatch(rater: 1, expected: 2, found: 1)) { try STAPLE()([[true, false], [true]]) }
        #expect(throws: STAPLE.Error.self) { try STAPLE(prior: .global(1.5))([[true]]) }
        #expect(throws: STAPLE.Error.self) { try STAPLE(prior: .perVoxel([0.5]))([[true, false]]) }
    }
}

struct MultiLabelSTAPLETests {
    /// With two labels multi-label STAPLE is binary STAPLE (θ[1][1] = p, θ[0][0] = q, the same rater-mean prior).
    @Test func twoLabelsIsBinarySTAPLE() throws {
        var rng = SplitMix64(seed: 8)
        let truth = (0..<4000).map { _ in rng.bernoulli(0.35) }
        let raters = [(0.9, 0.85), (0.75, 0.95), (0.8, 0.9), (0.95, 0.7)].map { p, q in truth.map { $0 ? rng.bernoulli(p) : !rng.bernoulli(q) } }
        let binary = try STAPLE()(raters)
        let multi = try MultiLabelSTAPLE()(raters.map { $0.map { $0 ? UInt8(1) : 0 } }, labels: 2)
        #expect(multi.converged && multi.iterations == binary.iterations)
        for j in 0..<4 {
            #expect(abs(multi.sensitivity(rater: j, label: 1) - binary.sensitivity[j]) < 1e-9)
            #expect(abs(multi.sensitivity(rater: j, label: 0) - binary.specificity[j]) < 1e-9)
        }
        #expect((0..<truth.count).allSatisfy { abs(multi.consensus[2 * $0 + 1] - binary.consensus[$0]) < 1e-9 })
    }

    /// Three labels, raters who keep the true label with a set probability and otherwise pick another at random.
    @Test func recoversKnownConfusion() throws {
        var rng = SplitMix64(seed: 21)
        let n = 30_000
        let truth = (0..<n).map { _ -> UInt8 in let u = rng.unit(); return u < 0.5 ? 0 : u < 0.8 ? 1 : 2 }
        let keep = [0.9, 0.75, 0.85]
        let raters = keep.map { k in truth.map { t -> UInt8 in rng.bernoulli(k) ? t : UInt8((Int(t) + 1 + Int(rng.unit() * 2)) % 3) } }
        let result = try MultiLabelSTAPLE()(raters, labels: 3)
        #expect(result.converged)
        for j in 0..<3 {
            for s in 0..<3 {
                #expect(abs(result.sensitivity(rater: j, label: s) - keep[j]) < 0.03, "rater \(j) label \(s): \(result.sensitivity(rater: j, label: s))")
            }
        }
        let errors = zip(result.labelMap, truth).filter { $0 != Int($1) }.count
        #expect(errors < raters.map { r in zip(r, truth).filter { $0 != $1 }.count }.min()!)
        #expect(throws: STAPLE.Error.self) { try MultiLabelSTAPLE()([[0, 3]], labels: 3) }
    }
}
