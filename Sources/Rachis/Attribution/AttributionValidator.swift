import Foundation
import Torch

/// One per-vertebra class decision to check.
public struct AttributionDecision: Sendable {
    public var subjectID: String
    public var levelID: Int
    /// The vertebra's region, `[D, H, W]` on the subject's grid: where the classifier pooled its features, and the
    /// mask the attribution is held against.
    public var region: [Bool]
    /// The class whose logit is attributed; nil: the model's decision on `region`.
    public var classIndex: Int?
    /// The reference class, when known.
    public var truth: Int?

    public init(subjectID: String, levelID: Int, region: [Bool], classIndex: Int? = nil, truth: Int? = nil) {
        (self.subjectID, self.levelID, self.region, self.classIndex, self.truth) = (subjectID, levelID, region, classIndex, truth)
    }
}

/// The check of one decision: its class, probability and consistency metrics.
public struct AttributionRow: Codable, Equatable, Sendable {
    public var subjectID: String
    public var level: String
    public var levelID: Int
    public var decision: Int
    public var decisionName: String
    public var probability: Double
    public var truth: Int?
    public var consistency: AttributionConsistency
    /// `massInsidePositive ≥ passThreshold`; nil when undefined (empty region or a zero map).
    public var passed: Bool?
}

/// What `rachis attribution validate` writes as attribution.json (`schemas/attribution.schema.json`).
public struct AttributionSummary: Codable, Equatable, Sendable {
    public static let format = "rachis-attribution"
    public var format = Self.format
    public var schemaVersion = 1
    public var created = DatasetFile.timestamp()
    public var checkpoint: String
    /// The predictions folder (regions "predicted") or the dataset file (regions "reference").
    public var source: String
    public var regions: String
    public var settings: AttributionSettings
    public var marginMM: Double
    public var topK: Int
    public var passThreshold: Double
    public var maxFailingFraction: Double
    public var decisions: Int
    /// Decisions whose metrics are defined.
    public var evaluated: Int
    public var failing: Int
    /// failing / evaluated; null when nothing was evaluated.
    @NaNAsNull public var failingFraction: Double
    /// failingFraction ≤ maxFailingFraction (false when nothing was evaluated).
    public var passed: Bool
    /// Fraction of decisions equal to the reference class, over those with one; null without any.
    @NaNAsNull public var accuracy: Double
    public var means: Means
    public var secondsPerDecision: Double
    public var failingDecisions: [String]
    public var rows: [AttributionRow]

    public struct Means: Codable, Equatable, Sendable {
        @NaNAsNull public var massInsidePositive: Double
        @NaNAsNull public var massInsideAbsolute: Double
        @NaNAsNull public var rankAccuracy: Double
        @NaNAsNull public var pointingGame: Double
        @NaNAsNull public var topKIntersection: Double
        @NaNAsNull public var auc: Double
    }
}

/// Attributes per-vertebra class decisions of a trained model to input voxels and checks that the evidence lies in
/// the vertebra. The whole volume goes through the model at once (z-scored as at inference, padded at the end to
/// the model's divisor).
public final class AttributionValidator {
    public let predictor: Predictor
    public var settings: AttributionSettings
    public var marginMM = 0.0
    public var topK = 100
    public var passThreshold = 0.5

    public init(predictor: Predictor, settings: AttributionSettings) throws {
        try settings.validate()
        guard predictor.config.model.heads.classification else { throw ModelError.headDisabled("classification") }
        (self.predictor, self.settings) = (predictor, settings)
    }

    /// Checks the decisions of one subject (image and regions on `geometry`); returns each row with its relevance
    /// map (`[D, H, W]` on `geometry`, summed over channels). The model runs where it predicts: on the subject
    /// resampled to the training spacing (`Predictor.grid(for:)`), with each region brought there; the consistency
    /// metrics are computed on that grid, and the relevance maps come back onto `geometry`.
    public func check(image raw: [Float], geometry: Geometry, decisions: [AttributionDecision]) throws -> [(row: AttributionRow, relevance: [Float])] {
        let model = predictor.model, config = predictor.config
        let grid = predictor.grid(for: geometry)
        let shape = grid.model.shape, c = config.model.inChannels
        var image = grid.imageToModel(raw, channels: c)
        Intensity.zscore(&image, channels: c)
        let padded = LoaderConfig.roundUp(shape, to: SpineModel.requiredDivisor(config.model))
        let device = predictor.options.device
        let x = try Tensor(image, shape: [1, c] + shape).paddingEnd(from: shape, to: padded).to(device: device)
        // Gradient methods share one forward pass with the graph kept: each decision then costs one backward pass.
        let shared = settings.method == .saliency || settings.method == .gradientTimesInput
        let input = shared ? try x.detached().requiringGrad() : x
        let output = shared ? try Torch.withGrad { try model.decode(levels: model.encode(input)) }
            : try Torch.noGrad { try model.decode(levels: model.encode(x)) }
        let features = output.features
        // The classifier's region of each decision, as inference pools it (`model.classifierRegion`: with `body`,
        // the voxels the segmentation calls body or lesion); the consistency is measured on the whole vertebra.
        let allowed = try output.segmentation.map { try SpineModel.bodyVoxels(structures: $0.detached().argmax(dim: 1)[.at(0)]) }
        let attributor = Attributor(settings: settings)
        return try decisions.map { decision in
            let regionOnModel = grid.maskToModel(decision.region)
            let regionMask = try Tensor(regionOnModel.map { $0 ? Float(1) : 0 }, shape: [1, 1] + shape)
            let mask = try model.classifierRegion(regionMask.paddingEnd(from: shape, to: padded)[.at(0), .at(0)].to(device: device), allowed: allowed)
            let logits = try Torch.withGrad { try model.classify(features: features, image: input, regions: [(0, mask)]) }
            let probabilities = try logits.detached().softmax(dim: 1).to(.float64, device: .cpu).array(Double.self)
            let classIndex = decision.classIndex ?? probabilities.indices.max { probabilities[$0] < probabilities[$1] }!
            var map: Tensor
            if shared {
                let g = try Torch.withGrad {
                    try Torch.gradients(of: logits[.at(0), .at(classIndex)], wrt: [input], retainGraph: true)[0][.at(0)].detached()
                }
                map = try (settings.method == .gradientTimesInput ? g * input.detached()[.at(0)] : g).sum(dims: [0])
            } else {
                let target = try model.decisionTarget(mask: mask, classIndex: classIndex, gradCAMLayer: settings.gradCAMLayer)
                map = try attributor.attribute(target, input: x).sum(dims: [0])
            }
            for axis in 0..<3 where padded[axis] > shape[axis] { map = try map.slice(dim: axis, start: 0, end: shape[axis]) }
            let relevance = try map.to(.float32, device: .cpu).contiguous().array(Float.self)
            let region = AttributionConsistency.grow(regionOnModel, shape: shape, spacingMM: grid.model.spacingMM, marginMM: marginMM)
            let consistency = AttributionConsistency.compute(relevance: relevance, mask: region, topK: topK)
            let name = (try? VertebraLevel(id: decision.levelID))?.name ?? "\(decision.levelID)"
            let row = AttributionRow(
                subjectID: decision.subjectID, level: name, levelID: decision.levelID, decision: classIndex,
                decisionName: predictor.classNames[classIndex], probability: probabilities[classIndex], truth: decision.truth,
                consistency: consistency,
                passed: consistency.massInsidePositive.isNaN ? nil : consistency.massInsidePositive >= passThreshold)
            return (row, grid.mapsToInput(relevance, channels: 1))
        }
    }

    /// The summary of checked rows.
    public func summary(rows: [AttributionRow], source: String, regions: String, maxFailingFraction: Double, seconds: Double) -> AttributionSummary {
        let evaluated = rows.filter { $0.passed != nil }
        let failing = evaluated.filter { $0.passed == false }
        let fraction = evaluated.isEmpty ? Double.nan : Double(failing.count) / Double(evaluated.count)
        let withTruth = rows.filter { $0.truth != nil }
        func mean(_ key: KeyPath<AttributionConsistency, Double>) -> Double { nanMean(rows.map { $0.consistency[keyPath: key] }).mean }
        return AttributionSummary(
            checkpoint: predictor.checkpointURL.path, source: source, regions: regions, settings: settings, marginMM: marginMM,
            topK: topK, passThreshold: passThreshold, maxFailingFraction: maxFailingFraction, decisions: rows.count,
            evaluated: evaluated.count, failing: failing.count, failingFraction: fraction,
            passed: !evaluated.isEmpty && fraction <= maxFailingFraction,
            accuracy: withTruth.isEmpty ? .nan : Double(withTruth.filter { $0.truth == $0.decision }.count) / Double(withTruth.count),
            means: .init(massInsidePositive: mean(\.massInsidePositive), massInsideAbsolute: mean(\.massInsideAbsolute),
                         rankAccuracy: mean(\.rankAccuracy), pointingGame: mean(\.pointingGame),
                         topKIntersection: mean(\.topKIntersection), auc: mean(\.auc)),
            secondsPerDecision: rows.isEmpty ? 0 : seconds / Double(rows.count),
            failingDecisions: failing.map { "\($0.subjectID) \($0.level)" },
            rows: rows)
    }

    // MARK: Decisions

    /// The decisions of a prediction: each decided vertebra's predicted region and class.
    public static func decisions(_ prediction: SubjectPrediction, volumes: PredictedVolumes) -> [AttributionDecision] {
        prediction.vertebrae.compactMap { v in
            guard let decision = v.decision else { return nil }
            let id = UInt8(clamping: v.levelID)
            return AttributionDecision(subjectID: prediction.subjectID, levelID: v.levelID, region: volumes.vertebrae.map { $0 == id },
                                       classIndex: decision)
        }
    }

    /// The decisions on a dataset subject's reference regions: every vertebra with a class and labelled voxels,
    /// decided by the model on its labelled region (as training classifies).
    public static func referenceDecisions(_ reader: DatasetReader, subject id: String) throws -> [AttributionDecision] {
        let geometry = try reader.geometry(of: id)
        let labels = try reader.volumeCrop(id, "labels/vertebrae", offset: [0, 0, 0], size: geometry.shape)
        let known = try reader.volumeCrop(id, "annotated/vertebrae", offset: [0, 0, 0], size: geometry.shape)
        return try reader.vertebrae(of: id).compactMap { v in
            guard let truth = v.classIndex else { return nil }
            let level = UInt8(clamping: v.level.id)
            let region = zip(labels, known).map { $0 == level && $1 != 0 }
            guard region.contains(true) else { return nil }
            return AttributionDecision(subjectID: id, levelID: v.level.id, region: region, classIndex: nil, truth: truth)
        }
    }

    /// Per-voxel heat for overlays: the maximum over decisions of R⁺ / max R⁺ (each map scaled to [0, 1]).
    public static func heat(_ maps: [[Float]]) -> [Float]? {
        guard let count = maps.first?.count else { return nil }
        var out = [Float](repeating: 0, count: count)
        for map in maps {
            guard let top = map.max(), top > 0 else { continue }
            for i in 0..<count where map[i] > 0 { out[i] = max(out[i], map[i] / top) }
        }
        return out
    }
}
