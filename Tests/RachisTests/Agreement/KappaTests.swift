import Foundation
import Testing
@testable import Rachis

struct CohenKappaTests {
    /// Wikipedia's example: 50 proposals, yes/yes 20, yes/no 5, no/yes 10, no/no 15.
    /// p_o = 35/50 = 0.7; rater A says yes 25/50, B 30/50: p_e = 0.5·0.6 + 0.5·0.4 = 0.5; κ = 0.2/0.5 = 0.4.
    @Test func wikipediaExample() {
        let a = Array(repeating: 1, count: 25) + Array(repeating: 0, count: 25)
        let b = Array(repeating: 1, count: 20) + Array(repeating: 0, count: 5) + Array(repeating: 1, count: 10) + Array(repeating: 0, count: 15)
        let k = CohenKappa(a, b)
        #expect(k.items == 50)
        #expect(abs(k.observedAgreement - 0.7) < 1e-12)
        #expect(abs(k.chanceAgreement - 0.5) < 1e-12)
        #expect(abs(k.kappa - 0.4) < 1e-12)
    }

    @Test func perfectOppositeAndUndefined() {
        #expect(CohenKappa([0, 1, 2, 1], [0, 1, 2, 1]).kappa == 1)
        // Two classes, always swapped: p_o = 0, p_e = 0.5 → κ = −1.
        #expect(abs(CohenKappa([0, 1, 0, 1], [1, 0, 1, 0]).kappa + 1) < 1e-12)
        // One class everywhere: p_e = 1, undefined.
        #expect(CohenKappa([2, 2, 2], [2, 2, 2]).kappa.isNaN)
        #expect(CohenKappa([], []).kappa.isNaN)
    }
}

struct FleissKappaTests {
    /// Wikipedia's worked example: 10 subjects, 14 raters, 5 categories; P̄ = 0.378, P̄_e = 0.213, κ = 0.210.
    static let table = [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]

    @Test func wikipediaExample() {
        let k = FleissKappa(counts: Self.table)
        #expect(k.items == 10 && k.raters == 14)
        // By hand: Σ_i P_i = 3.780 (P_1 = 1, P_2 = (4+36+16+4−14)/182 = 46/182, …) → P̄ = 0.378.
        let p = Self.table.map { row in Double(row.map { $0 * $0 }.reduce(0, +) - 14) / (14 * 13) }
        let pBar = p.reduce(0, +) / 10
        let shares = [20.0, 28, 39, 21, 32].map { $0 / 140 }
        let pe = shares.map { $0 * $0 }.reduce(0, +)
        #expect(abs(k.meanAgreement - pBar) < 1e-12 && abs(pBar - 0.378) < 5e-4)
        #expect(zip(k.classShares, shares).allSatisfy { abs($0 - $1) < 1e-12 })
        #expect(abs(k.chanceAgreement - pe) < 1e-12 && abs(pe - 0.213) < 5e-4)
        #expect(abs(k.kappa - (pBar - pe) / (1 - pe)) < 1e-12 && abs(k.kappa - 0.210) < 5e-4)
    }

    @Test func fromRatingsMatchesCounts() {
        // Three raters, four items.
        let ratings = [[0, 0, 0], [0, 1, 1], [2, 2, 2], [1, 1, 0]]
        let k = FleissKappa(ratings: ratings)
        #expect(k == FleissKappa(counts: [[3, 0, 0], [1, 2, 0], [0, 0, 3], [1, 2, 0]]))
        // P_i = [1, 1/3, 1, 1/3] → P̄ = 2/3; p = [5/12, 4/12, 3/12] → P̄_e = 50/144; κ = (2/3 − 50/144)/(94/144) = 46/94.
        #expect(abs(k.kappa - 46.0 / 94) < 1e-12)
        // With two raters, Fleiss' kappa is Scott's pi, not Cohen's kappa: both are defined and agree on perfect agreement.
        #expect(FleissKappa(ratings: [[0, 0], [1, 1]]).kappa == 1)
        #expect(FleissKappa(ratings: [[1, 1], [1, 1]]).kappa.isNaN)
        #expect(FleissKappa(ratings: []).kappa.isNaN)
    }
}

struct PairwiseDiceTests {
    @Test func perLabelPerPair() {
        let r0: [UInt8] = [1, 1, 2, 0, 0, 3]
        let r1: [UInt8] = [1, 0, 2, 2, 0, 0]
        let r2: [UInt8] = [1, 1, 0, 0, 0, 0]
        let dice = PairwiseDice.dice([r0, r1, r2], labels: [1, 2, 3, 4])
        #expect(dice[1]!.map(\.raters) == [[0, 1], [0, 2], [1, 2]])
        // Label 1: (0,1) 2·1/3, (0,2) 2·2/4, (1,2) 2·1/3.
        #expect(zip(dice[1]!.map(\.dice), [2.0 / 3, 1, 2.0 / 3]).allSatisfy { abs($0 - $1) < 1e-12 })
        // Label 2: (0,1) 2·1/3, (0,2) 0, (1,2) 0.
        #expect(zip(dice[2]!.map(\.dice), [2.0 / 3, 0, 0]).allSatisfy { abs($0 - $1) < 1e-12 })
        // Label 3: only rater 0; (1,2) both empty → NaN.
        #expect(dice[3]![0].dice == 0 && dice[3]![2].dice.isNaN)
        #expect(dice[4]!.allSatisfy { $0.dice.isNaN })
        #expect(PairwiseDice.dice([true, false], [true, true]) == 2.0 / 3)
    }
}
