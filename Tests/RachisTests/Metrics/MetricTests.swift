import Foundation
import Testing
@testable import Rachis
import Torch

struct LocalizationMetricTests {
    @Test(arguments: [(19.9, 1), (20.1, 0)])
    func verseIdentificationRule(offsetMM: Double, identified: Int) {
        var metric = LocalizationMetric()
        metric.add(predicted: [VertebraPoint(levelID: 20, centroidMM: [offsetMM, 0, 0])],
                   truth: [VertebraPoint(levelID: 20, centroidMM: [0, 0, 0]), VertebraPoint(levelID: 21, centroidMM: [0, 0, 60])])
        let result = metric.aggregate()
        #expect(result.identifiedCount == identified)
        #expect(result.identificationRate == Double(identified) / 2)
        #expect(abs(result.meanDistanceMM - offsetMM) < 1e-12 && result.distanceCount == 1)
    }

    @Test func nearestTruthOfAnotherLevelIsNotIdentified() {
        var metric = LocalizationMetric()
        // The L1 prediction lies 5 mm from L2 and 15 mm from L1: its nearest truth is L2. With L2 predicted too
        // (where it is), L2 is a candidate for VerSe as well: L1 is missed by both rules.
        let truth = [VertebraPoint(levelID: 20, centroidMM: [0, 0, 0]), VertebraPoint(levelID: 21, centroidMM: [0, 20, 0])]
        metric.add(predicted: [VertebraPoint(levelID: 20, centroidMM: [0, 15, 0]), truth[1]], truth: truth)
        #expect(metric.aggregate().identifiedCount == 1 && metric.aggregate().strictIdentifiedCount == 1)
        #expect(metric.aggregate().meanDistanceMM == 7.5)
        // Without L2 predicted, VerSe compares L1 with the shared levels only (L1): a hit; the strict rule still misses.
        var alone = LocalizationMetric()
        alone.add(predicted: [VertebraPoint(levelID: 20, centroidMM: [0, 15, 0])], truth: truth)
        #expect(alone.aggregate().identifiedCount == 1 && alone.aggregate().strictIdentifiedCount == 0)
    }

    @Test func wholeVertebraeLeaveOutTheCutOnesOnly() throws {
        // T12 whole and found 2 mm off, L1 whole and missed, L2 cut to a sliver and missed, L3 cut and found 4 mm off.
        let truth = [20, 21, 22, 23].map { VertebraPoint(levelID: $0, centroidMM: [0, Double($0 - 20) * 30, 0]) }
        let predicted = [VertebraPoint(levelID: 20, centroidMM: [2, 0, 0]), VertebraPoint(levelID: 23, centroidMM: [4, 90, 0])]
        var metric = LocalizationMetric()
        metric.add(predicted: predicted, truth: truth, cutLevels: [22, 23])
        let result = metric.aggregate()
        #expect(result.identifiedCount == 2 && result.truthCount == 4 && result.meanDistanceMM == 3)
        let whole = try #require(result.whole)
        #expect(whole.identifiedCount == 1 && whole.truthCount == 2 && whole.identificationRate == 0.5)
        #expect(whole.meanDistanceMM == 2 && whole.distanceCount == 1)
        // Cut levels change nothing but the whole-vertebra figures; with none cut they equal the overall ones.
        var none = LocalizationMetric()
        none.add(predicted: predicted, truth: truth)
        #expect(none.aggregate().whole?.identificationRate == none.aggregate().identificationRate)
        #expect(none.aggregate().whole?.meanDistanceMM == none.aggregate().meanDistanceMM)
        #expect(none.aggregate().identifiedCount == result.identifiedCount)
    }

    @Test func spacingAwareCentroidsAndEmptyTruth() {
        let p = VertebraPoint(levelID: 1, voxel: [1, 2, 2], spacingMM: [4, 0.5, 0.5])
        #expect(p.centroidMM == [4, 1, 1])
        let result = LocalizationMetric().aggregate()
        #expect(result.identificationRate.isNaN && result.meanDistanceMM.isNaN && result.truthCount == 0)
    }
}

struct ClassificationMetricTests {
    /// Mann–Whitney by pairs: P(score₊ > score₋) + ½·P(tie).
    func pairwiseAUC(_ scores: [Double], _ positive: [Bool]) -> Double {
        let pos = zip(scores, positive).filter(\.1).map(\.0), neg = zip(scores, positive).filter { !$0.1 }.map(\.0)
        let wins = pos.flatMap { p in neg.map { n in p > n ? 1.0 : p == n ? 0.5 : 0 } }.reduce(0, +)
        return wins / Double(pos.count * neg.count)
    }

    @Test func aucWithTiesMatchesMannWhitney() {
        let scores = [0.1, 0.4, 0.35, 0.8, 0.4, 0.4, 0.1]
        let positive = [false, true, false, true, false, true, true]
        #expect(abs(ClassificationMetric.auc(scores: scores, positive: positive) - pairwiseAUC(scores, positive)) < 1e-12)
        #expect(ClassificationMetric.auc(scores: [0.1, 0.4, 0.35, 0.8, 0.4], positive: [false, true, false, true, false]) == 5.5 / 6)
        #expect(ClassificationMetric.auc(scores: [0.2, 0.3], positive: [false, false]).isNaN)
    }

    @Test func balancedAccuracyConfusionAndMacroAUC() throws {
        var metric = ClassificationMetric(classNames: ["healthy", "SpA", "other"])
        try metric.add(probabilities: [[0.9, 0.1, 0], [0.6, 0.4, 0], [0.3, 0.7, 0], [0.2, 0.8, 0]], labels: [0, 0, 0, 1])
        let result = metric.aggregate()
        #expect(result.confusion == [[2, 1, 0], [0, 1, 0], [0, 0, 0]])
        #expect(abs(result.balancedAccuracy - (2.0 / 3 + 1) / 2) < 1e-12)
        // Classes 0 and 1 each separate perfectly; class 2 has no positives (NaN) and is left out of the macro mean.
        #expect(result.perClass[0].auc == 1 && result.perClass[1].auc == 1 && result.perClass[2].auc.isNaN)
        #expect(result.macroAUC == 1 && result.aucCount == 2)
        #expect(result.perClass[2].recall.isNaN)
    }

    @Test func malformedInputIsRejected() {
        var metric = ClassificationMetric(classNames: ["a", "b"])
        #expect(throws: ClassificationMetric.Error.self) { try metric.add(probabilities: [[0.5, 0.5]], labels: [2]) }
        #expect(metric.aggregate().balancedAccuracy.isNaN)
    }
}

struct DiceMetricTests {
    @Test func diceByHandWithKnownMaskAndNaN() {
        // Classes 0-3; voxel 4 is unknown (its disagreement is ignored); class 3 is absent from both → NaN.
        let d = DiceMetric.dice(prediction: [0, 1, 1, 2, 1], target: [0, 1, 2, 2, 2], known: [true, true, true, true, false], classes: 4)
        #expect(d[0] == 2.0 / 3 && d[1] == 2.0 / 3 && d[2].isNaN)
    }

    @Test func aggregateIsNaNAwarePerClassMean() throws {
        var metric = DiceMetric(classNames: ["background", "body", "disc"])
        try metric.add(prediction: longs([1, 1, 0, 0, 0, 0, 0, 0], [2, 1, 2, 2]), target: longs([1, 0, 0, 0, 0, 0, 0, 2], [2, 1, 2, 2]))
        let result = metric.aggregate()
        // Case 0: body 2·1/3, disc NaN. Case 1: body NaN, disc 0.
        #expect(result.perClass[0].dice == 2.0 / 3 && result.perClass[0].count == 1)
        #expect(result.perClass[1].dice == 0 && result.perClass[1].count == 1)
        #expect(result.cases == 2)
    }

    @Test func nanIsWrittenAsNullAndReadBack() throws {
        var metric = DiceMetric(classNames: ["background", "body"])
        metric.add(prediction: [0, 0], target: [0, 0])
        let result = metric.aggregate()
        let json = String(decoding: try JSONEncoder().encode(result), as: UTF8.self)
        #expect(json.contains("\"dice\":null"))
        #expect(try JSONDecoder().decode(DiceResult.self, from: Data(json.utf8)) == result)
    }
}

struct PSNRMetricTests {
    @Test func closedForm() throws {
        var metric = PSNRMetric()
        // Range 3, MSE 0.01 → 10·log10(9 / 0.01).
        try metric.add(prediction: floats([0.1, 1.1, 2.1, 3.1, 5, 5, 5, 5], [2, 1, 1, 2, 2]), target: floats([0, 1, 2, 3, 5, 5, 5, 5], [2, 1, 1, 2, 2]))
        metric.add(prediction: [1, 2], target: [1, 2])
        let result = metric.aggregate()
        #expect(abs(result.meanDB - 10 * log10(900)) < 1e-4)
        #expect(result.count == 1 && result.perfect == 1 && result.samples == 3)
        #expect(PSNRMetric().aggregate().meanDB.isNaN)
    }
}
