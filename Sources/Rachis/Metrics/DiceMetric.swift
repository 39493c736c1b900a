import Torch

/// Dice per structure class over annotated voxels, per case, then a NaN-aware mean over cases (MONAI's
/// `DiceMetric` with `ignore_empty`): a class empty in both prediction and target of a case is NaN for that case,
/// not 1, and the result says how many cases each mean is over.
public struct DiceMetric: Sendable {
    /// Name of each label value (index = value); value 0 is background and is not scored.
    public let classNames: [String]
    private(set) var perCase: [[Double]] = []

    public init(classNames: [String] = StructureLabel.allCases.map(\.name)) { self.classNames = classNames }

    /// Dice of each foreground class for one case, 2·|P ∩ T| / (|P| + |T|) over the voxels with `known` true; NaN
    /// when the class is in neither, 0 when it is in only one.
    public static func dice<Label: BinaryInteger>(prediction: [Label], target: [Label], known: [Bool]? = nil, classes: Int) -> [Double] {
        var intersection = Array(repeating: 0, count: classes)
        var predicted = Array(repeating: 0, count: classes)
        var actual = Array(repeating: 0, count: classes)
        for i in prediction.indices where known?[i] ?? true {
            let (p, t) = (Int(prediction[i]), Int(target[i]))
            if (0..<classes).contains(p) { predicted[p] += 1 }
            if (0..<classes).contains(t) { actual[t] += 1 }
            if p == t, (0..<classes).contains(p) { intersection[p] += 1 }
        }
        return (1..<classes).map { c in
            predicted[c] + actual[c] == 0 ? .nan : 2 * Double(intersection[c]) / Double(predicted[c] + actual[c])
        }
    }

    /// Adds one case.
    public mutating func add(prediction: [Int], target: [Int], known: [Bool]? = nil) {
        perCase.append(Self.dice(prediction: prediction, target: target, known: known, classes: classNames.count))
    }

    /// Adds one case's scores (as `dice` computes them).
    mutating func add(scores: [Double]) { perCase.append(scores) }

    /// Adds every case of `[N, D, H, W]` int64 label tensors, with an optional float 0/1 `known` mask.
    public mutating func add(prediction: Tensor, target: Tensor, known: Tensor? = nil) throws {
        for scores in try Self.scores(prediction: prediction, target: target, known: known, classes: classNames.count) { add(scores: scores) }
    }

    /// `dice` of every case of `[N, D, H, W]` int64 label tensors, with an optional float 0/1 `known` mask.
    static func scores(prediction: Tensor, target: Tensor, known: Tensor?, classes: Int) throws -> [[Double]] {
        let n = prediction.shape.first ?? 0
        let p = try prediction.to(.int64).array(Int64.self).map(Int.init)
        let t = try target.to(.int64).array(Int64.self).map(Int.init)
        let k = try known.map { try $0.gt(0).array(Bool.self) }
        guard p.count == t.count, k.map({ $0.count == p.count }) ?? true, n > 0 else {
            throw LossError.shapeMismatch(loss: "dice metric", tensor: "target or known mask", expected: prediction.shape, found: target.shape)
        }
        let size = p.count / n
        return (0..<n).map { i in
            let range = (i * size)..<((i + 1) * size)
            return dice(prediction: Array(p[range]), target: Array(t[range]), known: k.map { Array($0[range]) }, classes: classes)
        }
    }

    public func aggregate() -> DiceResult {
        let perClass = (1..<classNames.count).map { c in
            let (mean, count) = nanMean(perCase.map { $0[c - 1] })
            return DiceResult.PerClass(name: classNames[c], dice: mean, count: count)
        }
        return DiceResult(cases: perCase.count, perClass: perClass, foregroundMean: nanMean(perClass.map(\.dice)).mean)
    }

    public mutating func reset() { perCase = [] }
}

public struct DiceResult: Codable, Equatable, Sendable {
    public struct PerClass: Codable, Equatable, Sendable {
        public var name: String
        /// Mean over the cases where the class was in the prediction or the target; NaN when in none.
        @NaNAsNull public var dice: Double
        public var count: Int
    }

    public var cases: Int
    public var perClass: [PerClass]
    /// Mean of the defined per-class Dice values.
    @NaNAsNull public var foregroundMean: Double
}
