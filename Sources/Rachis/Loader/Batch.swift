import Torch

/// One vertebra of one sample in a batch: what the classification and localization losses need.
public struct VertebraTarget: Sendable {
    /// Which sample of the batch.
    public var sample: Int
    public var levelID: Int
    /// The class index, or nil when the class is not annotated.
    public var classIndex: Int?
    /// Per-class probabilities from several raters (sums to 1), when raters are present.
    public var softClass: [Double]?
    /// Centroid as a continuous voxel index [d, h, w] in the crop, or nil when not annotated.
    public var centroidVoxel: [Double]?
    /// Whether the vertebra's voxels are labelled in `vertebraLabels` (its region can be taken from the labels).
    public var hasRegion: Bool
    /// The vertebra touches the crop's or the field of view's first or last row along the spine (H), or its box
    /// reaches beyond the crop: part of it may be missing, as `VertebraFlag.cutByFieldOfView` says at inference.
    public var isCut: Bool

    public init(sample: Int, levelID: Int, classIndex: Int?, softClass: [Double]? = nil, centroidVoxel: [Double]?,
                hasRegion: Bool, isCut: Bool) {
        (self.sample, self.levelID, self.classIndex, self.softClass, self.centroidVoxel, self.hasRegion, self.isCut) =
            (sample, levelID, classIndex, softClass, centroidVoxel, hasRegion, isCut)
    }
}

/// A training or validation batch: tensors shaped `[N, ...]`, every label paired with a mask of where it is known.
///
/// Volumes are crops `[D, H, W]` of the subjects' canonical (PIR) arrays. Masks are float32 0/1; a loss averages
/// only over voxels (and samples) whose mask is 1, so a subject annotated for nothing but its image trains only the
/// autoencoder.
public struct Batch: @unchecked Sendable {
    public var subjectIDs: [String]
    /// Crop origin [d, h, w] in each subject's volume (negative where the crop pads before the volume).
    public var cropOffsets: [[Int]]
    /// Voxel spacing in mm [D, H, W] of each sample.
    public var spacingMM: [[Double]]
    /// `[N, C, D, H, W]` float32, normalised intensities.
    public var image: Tensor
    /// `[N, D, H, W]` int64: `LevelIndex` class of each voxel (0 background).
    public var levels: Tensor
    /// `[N, D, H, W]` float32: 1 where `levels` is known.
    public var levelsKnown: Tensor
    /// `[N, D, H, W]` int64: `StructureLabel` raw value of each voxel.
    public var structures: Tensor
    /// `[N, D, H, W]` float32: 1 where `structures` is known.
    public var structuresKnown: Tensor
    /// `[N, 1, D, H, W]` float32: target heatmap, a Gaussian at each annotated centroid.
    public var heatmap: Tensor
    /// `[N]` float32 per task: 1 when the sample is annotated for it.
    public var taskMask: [LearningTask: Tensor]
    public var vertebrae: [VertebraTarget]
    /// `[N, 1, D, H, W]` float32: 1 inside the subject's field of view, 0 in crop padding; nil means everywhere.
    public var fieldOfView: Tensor? = nil
    /// Shape-descriptor bounds per sample and structure class (`LooseTargets.descriptors`); nil when no sample has any.
    public var descriptorBounds: DescriptorBounds? = nil
    /// `[N, D, H, W]` int64: box ids (vertebra level ids) of the samples annotated with boxes, 0 outside every box and
    /// in the other samples; nil when no sample is annotated with boxes (or boxes are not asked for).
    public var boxes: Tensor? = nil
    /// `[N]` float32: 1 for the samples annotated with boxes.
    public var boxSamples: Tensor? = nil
    /// Boxes the crop or the field of view cuts.
    public var cutBoxes: Set<BoxLoss.BoxKey> = []
    /// `[N, S, D, H, W]` float32: soft structure targets (the raters' STAPLE posterior) of the samples in
    /// `softSamples`, 0 elsewhere; nil when no sample has them.
    public var softStructures: Tensor? = nil
    /// `[N]` float32: 1 for the samples with soft structure targets.
    public var softSamples: Tensor? = nil

    public var count: Int { subjectIDs.count }

    public init(subjectIDs: [String], cropOffsets: [[Int]], spacingMM: [[Double]], image: Tensor, levels: Tensor,
                levelsKnown: Tensor, structures: Tensor, structuresKnown: Tensor, heatmap: Tensor,
                taskMask: [LearningTask: Tensor], vertebrae: [VertebraTarget]) {
        self.subjectIDs = subjectIDs
        self.cropOffsets = cropOffsets
        self.spacingMM = spacingMM
        self.image = image
        self.levels = levels
        self.levelsKnown = levelsKnown
        self.structures = structures
        self.structuresKnown = structuresKnown
        self.heatmap = heatmap
        self.taskMask = taskMask
        self.vertebrae = vertebrae
    }
}

extension Batch {
    /// The batch with every tensor on `device`, the image in channels-last-3d layout when `channelsLast` (what the
    /// model's weights use then). The vertebra table, descriptor bounds and cut boxes are not tensors and stay as
    /// they are.
    public func to(device: Device, channelsLast: Bool = false) throws -> Batch {
        var moved = self
        moved.image = try image.to(device: device)
        if channelsLast { moved.image = try moved.image.channelsLast3d() }
        moved.levels = try levels.to(device: device)
        moved.levelsKnown = try levelsKnown.to(device: device)
        moved.structures = try structures.to(device: device)
        moved.structuresKnown = try structuresKnown.to(device: device)
        moved.heatmap = try heatmap.to(device: device)
        moved.taskMask = try taskMask.mapValues { try $0.to(device: device) }
        moved.fieldOfView = try fieldOfView?.to(device: device)
        moved.boxes = try boxes?.to(device: device)
        moved.boxSamples = try boxSamples?.to(device: device)
        moved.softStructures = try softStructures?.to(device: device)
        moved.softSamples = try softSamples?.to(device: device)
        return moved
    }

    /// `[D, H, W]` float 0/1: the voxels of `vertebra`'s sample labelled with its level (its region as annotated).
    func labelledRegion(of vertebra: VertebraTarget) throws -> Tensor {
        try levels[.at(vertebra.sample)].eq(Double(LevelIndex.index(ofLevelID: vertebra.levelID))).to(.float32)
    }
}
