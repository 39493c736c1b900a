/// Dice and HD95 per structure per case over the annotated voxels, then NaN-aware means over cases with their
/// counts (as nnU-Net's summary.json).
///
/// For structure c of one case, R = {target = c} ∩ annotated and P = {prediction = c} ∩ annotated:
/// - Dice = 2·|P ∩ R| / (|P| + |R|) (`DiceMetric.dice`);
/// - HD95 in mm with the grid's anisotropic spacing, by both definitions (`HD95Definition`: MONAI's and medpy's), and
///   `hd95MM` by the one chosen (`hd95`, MONAI's by default);
/// - both empty: Dice and HD95 NaN, counted in `bothEmpty`; exactly one empty: Dice 0, HD95 NaN, counted in
///   `oneEmpty`. NaN values are left out of the means (`nanMean`), and each mean says how many cases it is over.
public struct SegmentationMetric: Sendable {
    /// Name of each label value (index = value); value 0 is background and is not scored.
    public let classNames: [String]
    /// The definition `hd95MM` and the means of it use (both are reported under their own names too).
    public let hd95: HD95Definition
    public private(set) var cases: [SegmentationCase] = []

    public init(classNames: [String] = StructureLabel.allCases.map(\.name), hd95: HD95Definition = .monai) {
        self.classNames = classNames
        self.hd95 = hd95
    }

    /// Scores every foreground structure of one case: `[D, H, W]` labels on a grid of `spacingMM`; voxels where
    /// `known` is false are ignored (nil: all known).
    public static func score<Label: BinaryInteger>(prediction: [Label], target: [Label], known: [Bool]?, shape: [Int], spacingMM: [Double],
                                                   classNames: [String], hd95 definition: HD95Definition = .monai) -> [StructureScore] {
        precondition(prediction.count == target.count && known.map { $0.count == target.count } ?? true && target.count == shape.reduce(1, *))
        let dice = DiceMetric.dice(prediction: prediction, target: target, known: known, classes: classNames.count)
        return (1..<classNames.count).map { c in
            var p = [Bool](repeating: false, count: target.count), r = p
            var (pCount, rCount) = (0, 0)
            for i in target.indices where known?[i] ?? true {
                if Int(prediction[i]) == c { p[i] = true; pCount += 1 }
                if Int(target[i]) == c { r[i] = true; rCount += 1 }
            }
            let hd95 = pCount > 0 && rCount > 0 ? SurfaceDistance.hausdorff95BothMM(prediction: p, reference: r, shape: shape, spacingMM: spacingMM) : (.nan, .nan)
            return StructureScore(name: classNames[c], dice: dice[c - 1], hd95MM: definition == .monai ? hd95.monai : hd95.medpy,
                                  hd95MonaiMM: hd95.monai, hd95MedpyMM: hd95.medpy, referenceVoxels: rCount, predictedVoxels: pCount)
        }
    }

    /// Adds one case.
    public mutating func add<Label: BinaryInteger>(id: String, prediction: [Label], target: [Label], known: [Bool]?, shape: [Int], spacingMM: [Double]) {
        cases.append(SegmentationCase(id: id, structures: Self.score(prediction: prediction, target: target, known: known, shape: shape,
                                                                     spacingMM: spacingMM, classNames: classNames, hd95: hd95)))
    }

    public func aggregate() -> SegmentationResult {
        let perStructure = (1..<classNames.count).map { c in
            let scores = cases.map { $0.structures[c - 1] }
            let dice = nanMean(scores.map(\.dice)), hd95 = nanMean(scores.map(\.hd95MM))
            return SegmentationResult.PerStructure(
                name: classNames[c], meanDice: dice.mean, diceCount: dice.count, meanHD95MM: hd95.mean, hd95Count: hd95.count,
                meanHD95MonaiMM: nanMean(scores.map(\.hd95MonaiMM)).mean, meanHD95MedpyMM: nanMean(scores.map(\.hd95MedpyMM)).mean,
                bothEmpty: scores.filter { $0.emptiness == .both }.count, oneEmpty: scores.filter { $0.emptiness == .one }.count)
        }
        return SegmentationResult(cases: cases.count, hd95Definition: hd95, perStructure: perStructure,
                                  foregroundMeanDice: nanMean(perStructure.map(\.meanDice)).mean,
                                  foregroundMeanHD95MM: nanMean(perStructure.map(\.meanHD95MM)).mean)
    }

    public mutating func reset() { cases = [] }
}

/// Dice and HD95 of one structure in one case.
public struct StructureScore: Codable, Equatable, Sendable {
    public var name: String
    /// NaN when the structure is in neither mask; 0 when in only one.
    @NaNAsNull public var dice: Double
    /// NaN when either mask is empty. By the metric's chosen definition (`SegmentationResult.hd95Definition`).
    @NaNAsNull public var hd95MM: Double
    /// MONAI's definition (`HD95Definition.monai`); NaN when either mask is empty.
    @NaNAsNull public var hd95MonaiMM: Double
    /// medpy's definition (`HD95Definition.medpy`); NaN when either mask is empty.
    @NaNAsNull public var hd95MedpyMM: Double
    /// Annotated voxels of the structure in the ground truth.
    public var referenceVoxels: Int
    /// Annotated voxels of the structure in the prediction.
    public var predictedVoxels: Int

    public enum Emptiness: Sendable { case none, one, both }
    public var emptiness: Emptiness {
        switch (referenceVoxels == 0, predictedVoxels == 0) {
        case (true, true): .both
        case (false, false): .none
        default: .one
        }
    }
}

public struct SegmentationCase: Codable, Equatable, Sendable {
    public var id: String
    /// One per foreground structure, in label order.
    public var structures: [StructureScore]
}

public struct SegmentationResult: Codable, Equatable, Sendable {
    public struct PerStructure: Codable, Equatable, Sendable {
        public var name: String
        /// Mean over the cases where Dice is defined (not both empty); NaN when none.
        @NaNAsNull public var meanDice: Double
        public var diceCount: Int
        /// Mean over the cases where both masks are non-empty; NaN when none.
        @NaNAsNull public var meanHD95MM: Double
        public var hd95Count: Int
        /// Means of each definition over the same cases as `meanHD95MM`.
        @NaNAsNull public var meanHD95MonaiMM: Double
        @NaNAsNull public var meanHD95MedpyMM: Double
        /// Cases with the structure in neither the reference nor the prediction.
        public var bothEmpty: Int
        /// Cases with the structure in exactly one of them.
        public var oneEmpty: Int
    }

    public var cases: Int
    /// The definition of `hd95MM`, `meanHD95MM` and `foregroundMeanHD95MM`.
    public var hd95Definition: HD95Definition
    public var perStructure: [PerStructure]
    /// Mean of the defined per-structure mean Dice values.
    @NaNAsNull public var foregroundMeanDice: Double
    /// Mean of the defined per-structure mean HD95 values.
    @NaNAsNull public var foregroundMeanHD95MM: Double
}
