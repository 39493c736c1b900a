/// Per-vertebra classification metrics, accumulated then aggregated: confusion matrix (argmax decision), balanced
/// accuracy, one-vs-rest ROC AUC per class and macro AUC.
public struct ClassificationMetric: Sendable {
    public let classNames: [String]
    private(set) var probabilities: [[Double]] = []
    private(set) var labels: [Int] = []

    public init(classNames: [String]) { self.classNames = classNames }

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case mismatch(String)
        public var description: String {
            switch self { case let .mismatch(message): "classification metric: \(message)" }
        }
    }

    /// Adds vertebrae: one row of class probabilities (or any scores) and one true class each.
    public mutating func add(probabilities rows: [[Double]], labels newLabels: [Int]) throws(Error) {
        guard rows.count == newLabels.count else {
            throw .mismatch("\(rows.count) probability rows for \(newLabels.count) labels")
        }
        for (row, label) in zip(rows, newLabels) {
            guard row.count == classNames.count else { throw .mismatch("a row has \(row.count) scores for \(classNames.count) classes") }
            guard classNames.indices.contains(label) else { throw .mismatch("label \(label) outside 0..<\(classNames.count)") }
        }
        probabilities += rows
        labels += newLabels
    }

    public func aggregate() -> ClassificationResult {
        let k = classNames.count
        var confusion = Array(repeating: Array(repeating: 0, count: k), count: k)
        for (row, label) in zip(probabilities, labels) {
            let predicted = row.indices.max { row[$0] < row[$1] } ?? 0
            confusion[label][predicted] += 1
        }
        let recalls = (0..<k).map { c -> Double in
            let total = confusion[c].reduce(0, +)
            return total == 0 ? .nan : Double(confusion[c][c]) / Double(total)
        }
        let perClass = (0..<k).map { c in
            let positives = labels.filter { $0 == c }.count
            return ClassificationResult.PerClass(
                name: classNames[c], auc: Self.auc(scores: probabilities.map { $0[c] }, positive: labels.map { $0 == c }),
                recall: recalls[c], positives: positives, negatives: labels.count - positives)
        }
        let macro = nanMean(perClass.map(\.auc))
        return ClassificationResult(count: labels.count, balancedAccuracy: nanMean(recalls).mean, macroAUC: macro.mean,
                                    aucCount: macro.count, perClass: perClass, confusion: confusion)
    }

    /// Rank-based ROC AUC (Mann–Whitney U): `(R₊ − n₊(n₊+1)/2) / (n₊·n₋)` with R₊ the sum of the positives'
    /// ranks, tied scores taking their average rank. NaN without positives or without negatives.
    public static func auc(scores: [Double], positive: [Bool]) -> Double {
        let positives = positive.filter { $0 }.count
        let negatives = positive.count - positives
        guard positives > 0, negatives > 0 else { return .nan }
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var ranks = Array(repeating: 0.0, count: scores.count)
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count, scores[order[end + 1]] == scores[order[start]] { end += 1 }
            for i in start...end { ranks[order[i]] = Double(start + end) / 2 + 1 }
            start = end + 1
        }
        let rankSum = zip(ranks, positive).filter(\.1).reduce(0) { $0 + $1.0 }
        let p = Double(positives)
        return (rankSum - p * (p + 1) / 2) / (p * Double(negatives))
    }

    public mutating func reset() { self = ClassificationMetric(classNames: classNames) }
}

public struct ClassificationResult: Codable, Equatable, Sendable {
    public struct PerClass: Codable, Equatable, Sendable {
        public var name: String
        /// One-vs-rest AUC; NaN when the class has no positives or no negatives.
        @NaNAsNull public var auc: Double
        /// Sensitivity; NaN without positives.
        @NaNAsNull public var recall: Double
        public var positives: Int
        public var negatives: Int
    }

    public var count: Int
    /// Mean recall over classes with at least one example; NaN when there is none.
    @NaNAsNull public var balancedAccuracy: Double
    /// Mean of the defined per-class AUCs; NaN when none is defined.
    @NaNAsNull public var macroAUC: Double
    public var aucCount: Int
    public var perClass: [PerClass]
    /// `confusion[true][predicted]`.
    public var confusion: [[Int]]
}
