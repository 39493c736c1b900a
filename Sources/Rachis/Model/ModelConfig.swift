import Foundation

/// The `model:` section of a training config: the shape of the multitask network.
public struct ModelConfig: Codable, Equatable, Sendable, DefaultConstructible {
    public enum Norm: String, Codable, Sendable, CaseIterable { case group, instance, batch }

    /// How the per-vertebra heads summarise the decoder features inside a vertebra's region. A lesion is ~2 % of a
    /// vertebra's voxels: the mean dilutes it, the maximum keeps it (`docs/learning.md`).
    public enum Pooling: String, Codable, Sendable, CaseIterable {
        /// The mask-weighted mean: `F` features.
        case mean
        /// The maximum over the voxels whose mask exceeds ½: `F` features.
        case max
        /// Both, concatenated: `2F` features.
        case meanMax

        /// Pooled features per feature channel.
        public var multiplier: Int { self == .meanMax ? 2 : 1 }
    }

    /// Which voxels of a vertebra the classification head pools (the decoder features and, with `poolImage`, the
    /// image).
    public enum ClassifierRegion: String, Codable, Sendable, CaseIterable {
        /// The whole vertebra: body and posterior elements.
        case vertebra
        /// The vertebral body: the vertebra's voxels labelled vertebral body or lesion (in training from the labels,
        /// where they are known; at inference from the segmentation). SpA's oedema and fat lesions lie in the
        /// bodies, while the posterior elements border the spinal canal, whose fluid is as bright in STIR as an
        /// oedema (docs/learning.md).
        case body
        /// The vertebral body as the segmentation head sees it, in training too (the labelled vertebra's voxels the
        /// segmentation calls body or lesion): training pools the regions inference pools.
        case segmentedBody

        /// Whether the region is restricted to a body.
        public var isBody: Bool { self != .vertebra }
    }

    /// What the classification head pools inside a vertebra beside the image (`poolImage`).
    public enum ClassifierFeatures: String, Codable, Sendable, CaseIterable {
        /// The segmentation decoder's output features (`ModelOutput.features`): every voxel's feature sees most of
        /// the input through the U-Net, so a decision can rest on evidence outside its vertebra.
        case decoder
        /// Features of the classifier's own local branch (`LocalFeatures`): a 3×3×3 convolution of the input image
        /// and a 1×1×1 one, with no normalisation, so that each voxel's feature depends on the image within one
        /// voxel of it. A decision then rests on its region and a one-voxel rim, by construction.
        case local
        /// The local branch over each region's own voxels alone: the image is zero outside the region (its voxels
        /// of weight above 0) before the convolutions, so that a decision rests on the voxels of its region and on
        /// nothing else, by construction (no rim: the one-voxel rim of `local` is disc and soft tissue, and gradient
        /// x input put half of a thoracic decision's evidence there).
        case localInside

        /// Whether the classifier reads its own local branch (`LocalFeatures`) rather than the decoder's features.
        public var readsLocalBranch: Bool { self != .decoder }
    }

    /// Which voxels of a labelled vertebra the spinal-region head pools in training. At inference it pools the
    /// decoded region: the voxels nearest the vertebra's candidate that the segmentation calls vertebral bone.
    public enum RegionTrainingVoxels: String, Codable, Sendable, CaseIterable {
        /// Every voxel of the labelled vertebra.
        case vertebra
        /// The labelled vertebra's voxels the segmentation calls vertebral bone (body, lesion, posterior elements),
        /// as inference pools them; a vertebra with none keeps all of its voxels.
        case segmentedBone
    }

    /// The block each decoder runs at full resolution, after its last upsampling and skip connection: the most
    /// expensive convolutions of the network (the segmentation decoder's two there are 47 % of a forward pass's
    /// FLOPs with base.yaml's widths).
    public enum FullResolutionDecoder: String, Codable, Sendable, CaseIterable {
        /// A residual block, as at every coarser level: two 3×3×3 conv-norm steps and a skip.
        case residual
        /// One 3×3×3 conv-norm-act: half the full-resolution convolutions.
        case single
    }

    /// Which heads are built. A head that is off has no parameters and gives nil in `ModelOutput`.
    public struct Heads: Codable, Equatable, Sendable, DefaultConstructible {
        public var segmentation = true
        public var localization = true
        public var identification = true
        public var classification = true
        public var autoencoder = true
        public init() {}

        enum CodingKeys: String, CodingKey, CaseIterable {
            case segmentation, localization, identification, classification, autoencoder
        }
    }

    /// Image channels of the input (and of the reconstruction).
    public var inChannels = 2
    /// Structure classes of the auxiliary segmentation: the first `structureClasses` of `StructureLabel` (6 leaves
    /// out ribs, as models trained before the rib class did).
    public var structureClasses = StructureLabel.allCases.count
    /// Per-vertebra classes of the classification head.
    public var classes = 3
    /// Channels of the first (full-resolution) stage.
    public var width = 16
    /// Resolution levels, the first included.
    public var stages = 4
    /// Residual blocks per encoder stage (one entry per stage). The first stage may have none: its features are
    /// then the stem's (one conv-norm-act at full resolution), which saves the most expensive convolutions.
    public var blocksPerStage = [1, 1, 1, 1]
    /// Channel growth from one stage to the next.
    public var channelMultiplier = 2
    public var norm = Norm.group
    /// Groups of group normalisation; must divide every stage's channels and `featureChannels`.
    public var normGroups = 8
    /// Dropout between the two convolutions of each residual block.
    public var dropout = 0.0
    /// Training voxel spacing [D, H, W] in mm: decides which axes each downsampling halves. `[]` (the default):
    /// the spacing the loader gives the training subjects (`DataLoader.trainingSpacing`), which `Trainer` writes into
    /// the config it stores in every checkpoint; a model built from `[]` without data plans as isotropic.
    public var spacingMM: [Double] = []
    public var heads = Heads()
    public var classifierHidden = 64
    public var classifierDropout = 0.2
    /// How the classification and spinal-region heads pool features inside each vertebra.
    public var pooling = Pooling.meanMax
    /// Width F of the segmentation decoder's full-resolution output (`ModelOutput.features`).
    public var featureChannels = 16
    /// The classification head also pools the input image's channels inside each vertebra (as `pooling` pools the
    /// features): the intensity statistics a reader weighs (the brightest STIR voxel of a vertebra is an oedema's),
    /// beside the learned features. Their evidence lies inside the vertebra by construction.
    public var poolImage = false
    /// The classification head also reads a noise gauge of each image channel inside each vertebra
    /// (`SpineModel.noiseGauge`): the mean absolute second difference along W, which white noise sets. A
    /// vertebra's brightest voxel rises with the noise as with a lesion; beside the gauge the head can tell which.
    public var poolImageNoise = false
    /// The voxels the classification head pools: the whole vertebra, or its body.
    public var classifierRegion = ClassifierRegion.vertebra
    /// The spinal-region head also pools the decoder features (by `pooling`) over each vertebra's lateral region:
    /// every left-right slice at the heights and depths the vertebra occupies, where a thoracic vertebra's ribs
    /// join it. Off in configs written before it existed.
    public var regionLateral = false
    /// The voxels of each labelled vertebra the spinal-region head pools in training. Written configs without it
    /// pool the whole vertebra.
    public var regionTrainingVoxels = RegionTrainingVoxels.vertebra
    /// The features the classification head pools: the decoder's, or its own local branch's (`featureChannels`
    /// wide). Written configs without it pool the decoder's.
    public var classifierFeatures = ClassifierFeatures.decoder
    /// The share of the identification heads' gradients (the per-voxel level head's and the spinal-region head's)
    /// that reaches the shared network: 1 trains the encoder and decoder for identification as for every other task,
    /// 0 makes both heads read the shared features without shaping them (`SpineModel.identificationInput`). The
    /// forward pass is the same. Written configs without it pass all of it.
    public var identificationGradient = 1.0
    /// The block both decoders (segmentation and autoencoder) run at full resolution. Written configs without it
    /// run a residual block.
    public var fullResolutionDecoder = FullResolutionDecoder.residual
    /// The classification head decides, and trains on, only a vertebra whose classifier region holds at least this
    /// share of a whole vertebra's: of the median over the vertebrae of the same volume that the field of view (in
    /// training also the crop) does not cut along the spine (`SpineModel.largeEnoughToClassify`). A sliver of a body
    /// at the edge of the field of view shows too little to grade, and its class describes voxels out of view.
    /// 0 decides every vertebra with a voxel of evidence, as written configs without it.
    public var minimumClassRegionShare = 0.0

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case inChannels, structureClasses, classes, width, stages, blocksPerStage, channelMultiplier, norm, normGroups,
             dropout, spacingMM, heads, classifierHidden, classifierDropout, pooling, featureChannels, poolImage, poolImageNoise,
             classifierRegion, regionLateral, regionTrainingVoxels, classifierFeatures, identificationGradient, fullResolutionDecoder,
             minimumClassRegionShare
    }

    /// Width of the pooled per-vertebra decoder features.
    public var pooledFeatures: Int { featureChannels * pooling.multiplier }

    /// Width of the classification head's input: the pooled features, the pooled image channels with `poolImage`,
    /// and one noise gauge per image channel with `poolImageNoise`.
    public var classifierInputs: Int { pooledFeatures + (poolImage ? inChannels * pooling.multiplier : 0) + (poolImageNoise ? inChannels : 0) }

    /// Whether the classification head reads the input image (pooled, its noise gauge, or through the local branch).
    public var classifierReadsImage: Bool { poolImage || poolImageNoise || classifierFeatures.readsLocalBranch }

    /// Width of the spinal-region head's input: the pooled features and the bottleneck's channels averaged over the
    /// vertebra (its context: ribs, the cord's end, the curvature), and with `regionLateral` the features pooled over
    /// its lateral region.
    public var regionFeatures: Int { pooledFeatures * (regionLateral ? 2 : 1) + (stageChannels.last ?? 0) }

    /// Channels of each stage: `width · channelMultiplier^s`.
    public var stageChannels: [Int] {
        (0..<stages).map { s in (0..<s).reduce(width) { c, _ in c * channelMultiplier } }
    }
}

public enum ModelConfigError: Error, CustomStringConvertible, Equatable {
    /// A value out of its range.
    case invalid(key: String, value: String, requirement: String)

    public var description: String {
        switch self {
        case let .invalid(key, value, requirement): "model.\(key) = \(value): \(requirement)"
        }
    }
}

extension ModelConfig {
    /// Checks every value's range; the error names the key.
    public func validate() throws {
        func require(_ ok: Bool, _ key: CodingKeys, _ value: Any, _ requirement: String) throws {
            if !ok { throw ModelConfigError.invalid(key: key.stringValue, value: "\(value)", requirement: requirement) }
        }
        try require(inChannels >= 1, .inChannels, inChannels, "must be at least 1")
        try require(structureClasses >= 2, .structureClasses, structureClasses, "must be at least 2")
        try require(classes >= 2, .classes, classes, "must be at least 2")
        try require(width >= 1, .width, width, "must be at least 1")
        try require((2...6).contains(stages), .stages, stages, "must be in 2...6")
        try require(blocksPerStage.count == stages, .blocksPerStage, blocksPerStage, "needs one entry per stage (\(stages))")
        try require(blocksPerStage.first.map { $0 >= 0 } ?? true && blocksPerStage.dropFirst().allSatisfy { $0 >= 1 },
                    .blocksPerStage, blocksPerStage, "every stage after the first needs at least 1 block")
        try require(channelMultiplier >= 1, .channelMultiplier, channelMultiplier, "must be at least 1")
        try require(featureChannels >= 1, .featureChannels, featureChannels, "must be at least 1")
        try require(normGroups >= 1, .normGroups, normGroups, "must be at least 1")
        if norm == .group {
            let channels = stageChannels + [featureChannels]
            try require(channels.allSatisfy { $0 % normGroups == 0 }, .normGroups, normGroups,
                        "must divide every stage's channels \(stageChannels) and featureChannels \(featureChannels)")
        }
        try require((0..<1).contains(dropout), .dropout, dropout, "must be in [0, 1)")
        try require(spacingMM.isEmpty || (spacingMM.count == 3 && spacingMM.allSatisfy { $0 > 0 && $0.isFinite }), .spacingMM, spacingMM,
                    "needs [] (the training data's spacing) or three positive spacings [D, H, W]")
        try require(classifierHidden >= 1, .classifierHidden, classifierHidden, "must be at least 1")
        try require((0..<1).contains(classifierDropout), .classifierDropout, classifierDropout, "must be in [0, 1)")
        try require((0...1).contains(identificationGradient), .identificationGradient, identificationGradient, "must be in [0, 1]")
        try require((0..<1).contains(minimumClassRegionShare), .minimumClassRegionShare, minimumClassRegionShare, "must be in [0, 1)")
    }
}
