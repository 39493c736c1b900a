import Foundation

/// Something a reader of a report should look at twice, attached to one vertebra.
public enum VertebraFlag: String, Codable, CaseIterable, Sendable {
    /// The level's posterior probability under the anatomical-order model is below the threshold.
    case lowIdentificationConfidence
    /// The decided class's probability is below the threshold.
    case lowClassConfidence
    /// No voxel was assigned to the vertebra's region (and so no class decision: `emptyClassRegion`).
    case emptyRegion
    /// The classifier's region of the vertebra is empty (with `model.classifierRegion: segmentedBody`, none of its
    /// voxels is vertebral body or lesion: the field of view cuts the body away, or the segmentation finds none):
    /// there is no evidence where SpA lesions lie to decide its class from, so there is no class decision.
    case emptyClassRegion
    /// Too little of the vertebra is in view to grade: its classifier region holds less than the model's
    /// `minimumClassRegionShare` of a whole vertebra's in the same image (a sliver the field of view cuts), so there
    /// is no class decision.
    case partialClassRegion
    /// The vertebra touches the top or bottom of the field of view: part of it may be missing.
    case cutByFieldOfView
    /// `rachis attribution validate` found most of the decision's evidence outside the vertebra.
    case evidenceOutsideVertebra

    /// One sentence for a reader of a report (the flag's tooltip).
    public var explanation: String {
        switch self {
        case .lowIdentificationConfidence: "the level's probability is below the confidence threshold (--min-confidence)"
        case .lowClassConfidence: "the decided class's probability is below the confidence threshold (--min-confidence)"
        case .emptyRegion: "no voxel was assigned to this vertebra's region"
        case .emptyClassRegion: "no voxel of this vertebra's region is vertebral body or lesion (cut away by the field of view, or not segmented): no class decision"
        case .partialClassRegion: "too little of this vertebra's body is in view to grade (less than the model's minimum share of a whole one, model.minimumClassRegionShare): no class decision"
        case .cutByFieldOfView: "the vertebra touches the top or bottom of the field of view: part of it may be missing"
        case .evidenceOutsideVertebra: "rachis attribution validate found most of the decision's evidence outside the vertebra"
        }
    }
}

/// The attribution check of one vertebra's class decision (`rachis attribution validate`).
public struct VertebraAttribution: Codable, Equatable, Sendable {
    public var method: AttributionMethod
    public var consistency: AttributionConsistency
    /// `massInsidePositive` at or above the pass threshold; nil when the check is undefined (empty region, zero map).
    public var passed: Bool?
    public init(method: AttributionMethod, consistency: AttributionConsistency, passed: Bool?) {
        (self.method, self.consistency, self.passed) = (method, consistency, passed)
    }
}

/// Something unusual about a subject's vertebrae as a whole.
public enum SubjectFlag: String, Codable, CaseIterable, Sendable {
    /// No vertebra was found.
    case noVertebrae
    /// T13 or L6 was decoded (a transitional vertebra; check the count).
    case transitionalVertebra
    /// The decoded sequence skips a level between two detected vertebrae (a missed vertebra, or a wrong level).
    case missingLevel
    /// A region's count differs from the usual (7 cervical, 12 thoracic, 5 lumbar) although the whole region is in view.
    case unusualVertebraCount
}

/// One decoded vertebra of one subject.
public struct VertebraPrediction: Codable, Equatable, Sendable {
    /// VerSe level id (1-7 C1-C7, 8-19 T1-T12, 20-25 L1-L6, 26 S, 28 T13).
    public var levelID: Int
    /// The level's name ("L1").
    public var level: String
    /// Centroid in RAS+ world millimetres.
    public var centroidMM: [Double]
    /// Centroid as a continuous voxel index `[d, h, w]` of `SubjectPrediction.geometry` (the input's own grid).
    public var centroidVoxel: [Double]
    /// The localization heatmap's value at the peak that found the vertebra.
    public var detectionScore: Double
    /// Posterior probability of `level` for this vertebra under the anatomical-order model (forward-backward).
    public var identificationConfidence: Double
    /// Voxels assigned to the vertebra's region.
    public var voxels: Int
    /// The region's volume in millilitres.
    public var volumeML: Double
    /// Softmax class probabilities in the order of `SubjectPrediction.classNames`; nil when the model has no
    /// classification head.
    public var classProbabilities: [Double]?
    /// Index of the decided class (the most probable); nil without classification.
    public var decision: Int?
    public var flags: [VertebraFlag]
    /// Filled in by `rachis attribution validate`.
    public var attribution: VertebraAttribution?

    public init(levelID: Int, centroidMM: [Double], centroidVoxel: [Double], detectionScore: Double,
                identificationConfidence: Double, voxels: Int, volumeML: Double, classProbabilities: [Double]?,
                flags: [VertebraFlag] = []) {
        self.levelID = levelID
        level = (try? VertebraLevel(id: levelID))?.name ?? "\(levelID)"
        (self.centroidMM, self.centroidVoxel, self.detectionScore, self.identificationConfidence) =
            (centroidMM, centroidVoxel, detectionScore, identificationConfidence)
        (self.voxels, self.volumeML, self.classProbabilities, self.flags) = (voxels, volumeML, classProbabilities, flags)
        decision = classProbabilities.flatMap { p in p.indices.max { p[$0] < p[$1] } }
    }

    /// The probability of the decided class.
    public var decisionConfidence: Double? {
        guard let decision, let classProbabilities else { return nil }
        return classProbabilities[decision]
    }
}

/// What inference found in one subject: the vertebrae in cranio-caudal order with their levels and classes.
/// Written as `<subject>.json` in a predictions folder (`schemas/prediction.schema.json`), next to the predicted
/// label maps.
public struct SubjectPrediction: Codable, Equatable, Sendable {
    public static let format = "rachis-prediction"
    public static let schemaVersion = 1

    /// Where the image came from.
    public struct Source: Codable, Equatable, Sendable {
        /// "dataset" (a subject of an HDF5 dataset) or "files" (NIfTI/MetaImage files, one per channel or one
        /// with all channels).
        public var kind: String
        /// The dataset file, or the image files in channel order.
        public var paths: [String]
        /// The subject's id inside the dataset; nil for files.
        public var subject: String?
        public init(kind: String, paths: [String], subject: String?) { (self.kind, self.paths, self.subject) = (kind, paths, subject) }
    }

    public var format = Self.format
    public var schemaVersion = Self.schemaVersion
    public var subjectID: String
    public var source: Source
    /// The checkpoint file that made the prediction.
    public var checkpoint: String
    public var created: String
    public var rachisVersion: String
    /// The grid of the predicted label maps: the input's own grid (an image file's array order and affine, or the
    /// dataset subject's grid), whatever grid the model ran on.
    public var geometry: Geometry
    public var channelNames: [String]
    public var classNames: [String]
    /// Cranial to caudal.
    public var vertebrae: [VertebraPrediction]
    public var flags: [SubjectFlag]
    /// Autoencoder reconstruction PSNR against the normalised input (dB); nil without an autoencoder head.
    @NaNAsNullOptional public var reconstructionPSNR: Double?
    /// Messages for the reader: a spacing far from the training spacing, a sliding window, and so on.
    public var warnings: [String]

    public init(subjectID: String, source: Source, checkpoint: String, geometry: Geometry, channelNames: [String],
                classNames: [String], vertebrae: [VertebraPrediction], flags: [SubjectFlag], reconstructionPSNR: Double?,
                warnings: [String]) {
        (self.subjectID, self.source, self.checkpoint, self.geometry) = (subjectID, source, checkpoint, geometry)
        (self.channelNames, self.classNames, self.vertebrae, self.flags) = (channelNames, classNames, vertebrae, flags)
        (self.reconstructionPSNR, self.warnings) = (reconstructionPSNR, warnings)
        created = DatasetFile.timestamp()
        rachisVersion = Rachis.version
    }
}

/// The label maps inference predicts for one subject, `[D, H, W]` on `SubjectPrediction.geometry`.
public struct PredictedVolumes: Equatable, Sendable {
    /// Vertebra regions by VerSe level id (0 background).
    public var vertebrae: [UInt8]
    /// Structure labels (`StructureLabel` values); nil without a segmentation head.
    public var structures: [UInt8]?
    /// The localization heatmap and the identification head's vertebra probability (1 − P(background)), kept only
    /// when asked for (`rachis predict --save-maps`), for looking at what the decoder saw.
    public var heatmap: [Float]? = nil
    public var foreground: [Float]? = nil
    /// The segmentation head's softmax, `[S, D, H, W]` in `StructureLabel` order, kept only when asked for
    /// (`--save-maps`): what the structure labels are the argmax of.
    public var structureProbabilities: [Float]? = nil
    /// The attribution heat map of `rachis attribution validate`, when it has run.
    public var attribution: [Float]? = nil
    public init(vertebrae: [UInt8], structures: [UInt8]?) { (self.vertebrae, self.structures) = (vertebrae, structures) }
}

extension SubjectPrediction {
    /// The prediction described on the canonical grid of its geometry (the same voxels in PIR array order, permuted
    /// and flipped, not resampled): the grid the report draws sagittal slices from. Centroid voxel indices follow.
    public func onCanonicalGrid() -> SubjectPrediction {
        let (permutation, flips) = geometry.orientationTransform()
        guard permutation != [0, 1, 2] || flips.contains(true) else { return self }
        var moved = self
        moved.geometry = geometry.permuted(permutation, flips: flips)
        for i in moved.vertebrae.indices { moved.vertebrae[i].centroidVoxel = moved.geometry.index(worldMM: vertebrae[i].centroidMM) }
        return moved
    }
}

extension PredictedVolumes {
    /// The volumes (on `geometry`) on its canonical grid, as `SubjectPrediction.onCanonicalGrid`.
    public func onCanonicalGrid(from geometry: Geometry) -> PredictedVolumes {
        let (permutation, flips) = geometry.orientationTransform()
        guard permutation != [0, 1, 2] || flips.contains(true) else { return self }
        func move(_ values: [Float]) -> [Float] {
            ImageVolume(geometry: geometry, channels: values.count / geometry.voxelCount, voxels: values).permuted(permutation, flips: flips).voxels
        }
        func labels(_ values: [UInt8]) -> [UInt8] { move(values.map(Float.init)).map { UInt8($0) } }
        var moved = PredictedVolumes(vertebrae: labels(vertebrae), structures: structures.map(labels))
        (moved.heatmap, moved.foreground) = (heatmap.map(move), foreground.map(move))
        (moved.structureProbabilities, moved.attribution) = (structureProbabilities.map(move), attribution.map(move))
        return moved
    }
}
