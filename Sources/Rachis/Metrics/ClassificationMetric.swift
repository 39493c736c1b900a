/// Per-vertebra classification metrics, accumulated then aggregated: confusion matrix (argmax decision), balanced
/// accuracy, one-vs-rest ROC AUC per class and macro AUC, per-class sensitivity, specificity, precision and F1, and the
/// expected calibration error of the decided class.
///
/// With the confusion matrix `C[true][predicted]` over N vertebrae and, for class c, TP = C[c][c], FN = Σ_j C[c][j] − TP,
/// FP = Σ_i C[i][c] − TP, TN = N − TP − FN − FP:
///
/// - sensitivity (recall) = TP / (TP + FN), NaN without positives;
/// - specificity = TN / (TN + FP), NaN without negatives;
/// - precision = TP / (TP + FP), NaN when the class is never decided;
/// - F1 = 2·TP / (2·TP + FP + FN) (the harmonic mean of precision and sensitivity where both are defined), NaN when
///   the class is neither present nor decided;
/// - balanced accuracy = the mean sensitivity over classes with positives;
/// - ECE: the decided class is the argmax and its confidence the maximum probability; vertebrae fall into
///   `calibrationBinCount` (10) equal-width bins of confidence, bin b = [b/10, (b+1)/10) (the last bin includes 1), and
///   ECE = Σ_b n_b/N · |acc_b − conf_b| with acc_b the fraction of bin b decided correctly and conf_b its mean
///   confidence (Guo et al. 2017). NaN without vertebrae.
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
        let n = labels.count
        let perClass = (0..<k).map { c in
            let tp = confusion[c][c]
            let fn = confusion[c].reduce(0, +) - tp
            let fp = (0..<k).reduce(0) { $0 + confusion[$1][c] } - tp
            let tn = n - tp - fn - fp
            return ClassificationResult.PerClass(
                name: classNames[c], auc: Self.auc(scores: probabilities.map { $0[c] }, positive: labels.map { $0 == c }),
                recall: recalls[c], specificity: Self.ratio(tn, tn + fp), precision: Self.ratio(tp, tp + fp),
                f1: Self.ratio(2 * tp, 2 * tp + fp + fn), positives: tp + fn, negatives: n - tp - fn)
        }
        let macro = nanMean(perClass.map(\.auc))
        let bins = Self.calibrationBins(probabilities: probabilities, labels: labels)
        return ClassificationResult(count: n, balancedAccuracy: nanMean(recalls).mean, macroAUC: macro.mean,
                                    aucCount: macro.count, macroF1: nanMean(perClass.map(\.f1)).mean,
                                    expectedCalibrationError: Self.expectedCalibrationError(bins),
                                    calibrationBins: bins, perClass: perClass, confusion: confusion)
    }

    /// `numerator / denominator`, NaN when the denominator is 0.
    static func ratio(_ numerator: Int, _ denominator: Int) -> Double {
        denominator == 0 ? .nan : Double(numerator) / Double(denominator)
    }

    /// Equal-width confidence bins on [0, 1].
    public static let calibrationBinCount = 10

    /// The reliability diagram: for each confidence bin, how many vertebrae fell in it, their mean confidence (the
    /// maximum probability) and the fraction whose decided class (the argmax) is the true one.
    public static func calibrationBins(probabilities rows: [[Double]], labels: [Int]) -> [ClassificationResult.CalibrationBin] {
        let k = calibrationBinCount
        var count = Array(repeating: 0, count: k), correct = Array(repeating: 0, count: k)
        var confidence = Array(repeating: 0.0, count: k)
        for (row, label) in zip(rows, labels) {
            guard let decided = row.indices.max(by: { row[$0] < row[$1] }) else { continue }
            let p = row[decided]
            let b = Swift.min(Swift.max(Int((p * Double(k)).rounded(.down)), 0), k - 1)
            count[b] += 1
            confidence[b] += p
            if decided == label { correct[b] += 1 }
        }
        return (0..<k).map { b in
            ClassificationResult.CalibrationBin(
                lower: Double(b) / Double(k), upper: Double(b + 1) / Double(k), count: count[b],
                meanConfidence: count[b] == 0 ? .nan : confidence[b] / Double(count[b]), accuracy: ratio(correct[b], count[b]))
        }
    }

    /// ECE = Σ_b n_b/N · |acc_b − conf_b| over the non-empty bins; NaN when every bin is empty.
    public static func expectedCalibrationError(_ bins: [ClassificationResult.CalibrationBin]) -> Double {
        let total = bins.reduce(0) { $0 + $1.count }
        guard total > 0 else { return .nan }
        return bins.filter { $0.count > 0 }.reduce(0.0) {
            $0 + Double($1.count) / Double(total) * abs($1.accuracy - $1.meanConfidence)
        }
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
        /// Sensitivity, TP / (TP + FN); NaN without positives.
        @NaNAsNull public var recall: Double
        /// TN / (TN + FP); NaN without negatives.
        @NaNAsNull public var specificity: Double
        /// TP / (TP + FP); NaN when the class is never decided.
        @NaNAsNull public var precision: Double
        /// 2·TP / (2·TP + FP + FN); NaN when the class is neither present nor decided.
        @NaNAsNull public var f1: Double
        public var positives: Int
        public var negatives: Int

        /// The same as `recall`.
        public var sensitivity: Double { recall }
    }

    /// One confidence bin of the reliability diagram, [lower, upper).
    public struct CalibrationBin: Codable, Equatable, Sendable {
        public var lower: Double
        public var upper: Double
        public var count: Int
        /// Mean maximum probability of the vertebrae in the bin; NaN when empty.
        @NaNAsNull public var meanConfidence: Double
        /// Fraction decided correctly; NaN when empty.
        @NaNAsNull public var accuracy: Double
    }

    public var count: Int
    /// Mean recall over classes with at least one example; NaN when there is none.
    @NaNAsNull public var balancedAccuracy: Double
    /// Mean of the defined per-class AUCs; NaN when none is defined.
    @NaNAsNull public var macroAUC: Double
    public var aucCount: Int
    /// Mean of the defined per-class F1 values.
    @NaNAsNull public var macroF1: Double
    /// Expected calibration error of the decided class over `calibrationBins`; NaN without vertebrae.
    @NaNAsNull public var expectedCalibrationError: Double
    public var calibrationBins: [CalibrationBin]
    public var perClass: [PerClass]
    /// `confusion[true][predicted]`.
    public var confusion: [[Int]]
}
