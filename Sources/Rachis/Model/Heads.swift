import Torch

/// A per-vertebra head: pooled features (`SpineModel.pool`) → `hidden → ReLU → dropout → output`. The classification
/// head (one SpA class per vertebra) and the spinal-region head (`SpinalRegion`) are two of these.
final class Classifier: Module, @unchecked Sendable {
    let hidden: Linear
    let act: Activation
    let dropout: Dropout
    let output: Linear

    init(_ config: ModelConfig, inputs: Int, outputs: Int) throws {
        let hidden = try Linear(inputs, config.classifierHidden)
        try Torch.noGrad {
            try hidden.weight.tensor.copy_(Init.kaimingNormal(hidden.weight.tensor.shape))
            try hidden.bias?.tensor.fill_(0)
        }
        self.hidden = hidden
        act = Activation(.relu)
        dropout = try Dropout(p: config.classifierDropout)
        output = try Linear(config.classifierHidden, outputs)
    }

    /// `[V, inputs]` → `[V, outputs]` logits.
    func callAsFunction(_ pooled: Tensor) throws -> Tensor {
        try output.traced(dropout.traced(act.traced(hidden.traced(pooled))))
    }
}

/// The classification head's local branch (`ModelConfig.ClassifierFeatures.local`): a 3×3×3 convolution of the
/// image, a leaky ReLU, a 1×1×1 convolution and a leaky ReLU, `featureChannels` wide. No normalisation: a group or
/// instance norm's statistics would make every voxel's feature depend on the whole image. Each output voxel depends
/// on the image within one voxel of it, so features pooled inside a region rest on that region and a one-voxel rim.
final class LocalFeatures: Module, @unchecked Sendable {
    let conv1: Conv3d
    let act1: Activation
    let conv2: Conv3d
    let act2: Activation

    init(_ config: ModelConfig) throws {
        conv1 = try Blocks.conv(config.inChannels, config.featureChannels, kernel: 3, padding: 1)
        act1 = Blocks.activation()
        conv2 = try Blocks.conv(config.featureChannels, config.featureChannels, kernel: 1)
        act2 = Blocks.activation()
    }

    /// `[N, inChannels, D, H, W]` → `[N, featureChannels, D, H, W]`.
    func callAsFunction(_ image: Tensor) throws -> Tensor {
        try act2.traced(conv2.traced(act1.traced(conv1.traced(image))))
    }
}

/// The classes of the spinal-region head. A level is identified by counting: the head says which vertebrae are
/// thoracic, lumbar, ..., and `LevelSequenceDecoder` numbers them from the boundaries in view (the thoracolumbar
/// junction, the sacrum). T13 has a class of its own: a 13th thoracic vertebra looks like T12 except where a cue
/// tells it apart (the phantoms' rudimentary 13th rib), and counting alone cannot place it.
public enum SpinalRegion: Int, CaseIterable, Sendable {
    case cervical, thoracic, thirteenthThoracic, lumbar, sacral

    public static var count: Int { allCases.count }

    /// The region of a level id (nil for an unknown id).
    public init?(levelID id: Int) {
        guard let level = try? VertebraLevel(id: id) else { return nil }
        switch level.region {
        case .cervical: self = .cervical
        case .thoracic: self = id == 28 ? .thirteenthThoracic : .thoracic
        case .lumbar: self = .lumbar
        case .sacral: self = .sacral
        }
    }

    /// The head's class index of a level id (nil for an unknown id).
    public static func index(ofLevelID id: Int) -> Int? { SpinalRegion(levelID: id)?.rawValue }

    /// Per-level probabilities for `LevelSequenceDecoder` (one per `VertebraLevel.anatomicalIDs`) from the head's
    /// probabilities: every level of a region gets that region's probability, so within a region the levels are
    /// told apart by their order alone.
    public static func levelTable(regionProbabilities p: [Double]) -> [Double] {
        VertebraLevel.anatomicalIDs.map { id in index(ofLevelID: id).map { p[$0] } ?? 0 }
    }
}

public enum ModelError: Error, CustomStringConvertible, Equatable {
    /// An input size not divisible by what the downsampling plan needs.
    case indivisibleInput(shape: [Int], divisor: [Int])
    /// An input with the wrong rank or channel count.
    case inputShape(shape: [Int], expected: String)
    /// A classification region whose mask does not fit the features.
    case regionMismatch(index: Int, sample: Int, maskShape: [Int], featureShape: [Int])
    /// The classification head was switched off in the config.
    case headDisabled(String)
    /// A classification head that reads the image (`poolImage`, local features) was not given it.
    case imageRequired

    public var description: String {
        switch self {
        case let .indivisibleInput(shape, divisor):
            "input \(shape): the spatial size [D, H, W] must be divisible by \(divisor) (the product of the downsampling factors); pad the crop"
        case let .inputShape(shape, expected): "input \(shape): expected \(expected)"
        case let .regionMismatch(index, sample, maskShape, featureShape):
            "region \(index) (sample \(sample)): mask \(maskShape) does not fit features \(featureShape); it needs [D, H, W] and a sample in the batch"
        case let .headDisabled(head): "the \(head) head is switched off in the model config"
        case .imageRequired: "the classification head reads the input image (model.poolImage, model.poolImageNoise or model.classifierFeatures: local or localInside): classify needs the image"
        }
    }
}

extension SpineModel {
    /// Added to a region's total weight before dividing, so that an empty region does not give NaN: it pools to
    /// the zero vector, and its logits are the heads' response to zero features.
    public static let regionEpsilon = 1e-6

    /// Pooled per-vertebra features `[V, pooledFeatures]`: `features[sample]` `[F, D, H, W]` summarised inside
    /// `mask` `[D, H, W]` (the labelled region in training, a predicted one at inference) by `config.pooling`:
    /// the mask-weighted mean, the maximum over the voxels whose mask exceeds ½ (0 when there are none), or both.
    public func pool(features: Tensor, regions: [(sample: Int, mask: Tensor)]) throws -> Tensor {
        try Self.pool(features: features, regions: regions, pooling: config.pooling)
    }

    /// `pool(features:regions:)` with a given pooling, for `[N, C, D, H, W]` features of any width C.
    ///
    /// Every region is read through one window of a common size holding its bounding box (the voxels of mask above
    /// 0), all windows gathered from the features at once: the same numbers as pooling over the whole volume, but
    /// the backward pass scatters into the features once per call, where a full-size gradient for every region
    /// (about 25 a step in the demo's training) took about a tenth of the step (`rachis bench run --trace`).
    static func pool(features: Tensor, regions: [(sample: Int, mask: Tensor)], pooling: ModelConfig.Pooling) throws -> Tensor {
        let shape = features.shape
        for (index, region) in regions.enumerated() { try Self.checkRegion(region, index: index, in: shape) }
        let channels = shape.count == 5 ? shape[1] : 0
        if regions.isEmpty { return try Tensor.zeros([0, channels * pooling.multiplier], dtype: features.dtype, device: features.device) }
        let grid = Array(shape[2...])
        let windows = try Self.windows(regions.map { try Self.boundingBox($0.mask) }, grid: grid)
        let window = windows.size.reduce(1, *)
        var index: [Int64] = []
        index.reserveCapacity(regions.count * window)
        let masks = try regions.indices.map { i -> Tensor in
            let ranges = windows.ranges[i]
            let base = regions[i].sample * grid.reduce(1, *)
            for d in ranges[0] {
                for h in ranges[1] {
                    let row = base + (d * grid[1] + h) * grid[2]
                    for w in ranges[2] { index.append(Int64(row + w)) }
                }
            }
            return try regions[i].mask[Self.index(ranges[0]), Self.index(ranges[1]), Self.index(ranges[2])].reshape([-1])
        }
        // Read in the features' own layout, so that neither makes a copy of the whole volume (in training, with two
        // samples in the default layout, one copy): voxels as rows [N·D·H·W, C] in the channels-last layout, voxels
        // as columns [C, N·D·H·W] otherwise (inference's single volume).
        let positions = try Tensor(index, shape: [index.count]).to(device: features.device)
        let values = features.isChannelsLast3d
            ? try features.permute([0, 2, 3, 4, 1]).reshape([-1, channels]).indexSelect(dim: 0, index: positions)
                .reshape([regions.count, window, channels])
            : try features.transpose(0, 1).reshape([channels, -1]).indexSelect(dim: 1, index: positions)
                .reshape([channels, regions.count, window]).permute([1, 2, 0])
        let weights = try Tensor.stack(masks).to(features.dtype).unsqueeze(dim: 2)
        var parts: [Tensor] = []
        if pooling != .max { parts.append(try (values * weights).sum(dims: [1]) / (weights.sum(dims: [1]) + Self.regionEpsilon)) }
        if pooling != .mean {
            let inside = try weights.gt(0.5).to(values.dtype)
            // Outside voxels are pushed far below any feature; an empty region (max of `inside` 0) pools to 0.
            parts.append(try (values + (inside - 1) * 1e4).max(dims: [1]) * inside.max(dims: [1]))
        }
        return parts.count == 1 ? parts[0] : try Tensor.cat(parts, dim: 1)
    }

    /// Throws `regionMismatch` unless `region` fits a `[N, C, D, H, W]` tensor of `shape`: a sample in the batch and a
    /// `[D, H, W]` mask.
    static func checkRegion(_ region: (sample: Int, mask: Tensor), index: Int, in shape: [Int]) throws {
        guard shape.count == 5, (0..<shape[0]).contains(region.sample), region.mask.shape == Array(shape[2...]) else {
            throw ModelError.regionMismatch(index: index, sample: region.sample, maskShape: region.mask.shape, featureShape: shape)
        }
    }

    /// One class decision per vertebra: the features pooled in each region (`pool`), with `config.poolImage` the
    /// input `image` `[N, inChannels, D, H, W]` (normalised, on the features' grid) pooled the same way beside them,
    /// then the classifier MLP. Returns `[V, classes]` logits in the order of `regions`.
    /// With `config.classifierFeatures` `.local` the pooled features are the local branch's of `image`, with
    /// `.localInside` the local branch's of `image` inside each region alone (`poolInside`), and `features` only
    /// gives the grid.
    public func classify(features: Tensor, image: Tensor? = nil, regions: [(sample: Int, mask: Tensor)]) throws -> Tensor {
        guard classifier != nil else { throw ModelError.headDisabled("classification") }
        if regions.isEmpty { return try Tensor.zeros([0, config.classes], dtype: features.dtype, device: features.device) }
        let image = try classifierImage(image, grid: features)?.to(features.dtype)
        guard let localFeatures, let image else { return try classify(pooledFrom: features, image: image, regions: regions) }
        if config.classifierFeatures == .localInside {
            return try classify(pooled: poolInside(localFeatures, image: image, regions: regions), image: image, regions: regions)
        }
        return try classify(pooledFrom: localFeatures(image), image: image, regions: regions)
    }

    /// The classifier MLP over `source` (the decoder's or the local branch's features, `[N, F, D, H, W]`) pooled in
    /// each region, with `config.poolImage` the image pooled beside them: the one place both paths of
    /// `classify(features:image:regions:)` and a Grad-CAM target on the local branch meet.
    func classify(pooledFrom source: Tensor, image: Tensor?, regions: [(sample: Int, mask: Tensor)]) throws -> Tensor {
        try classify(pooled: pool(features: source, regions: regions), image: image, regions: regions)
    }

    /// The classifier MLP over per-region features `pooled` `[V, pooledFeatures]`, with `config.poolImage` the image
    /// pooled in each region beside them, and with `config.poolImageNoise` its noise gauge (`noiseGauge`) after those.
    func classify(pooled: Tensor, image: Tensor?, regions: [(sample: Int, mask: Tensor)]) throws -> Tensor {
        guard let classifier else { throw ModelError.headDisabled("classification") }
        var parts = [pooled]
        if let image = try image?.to(pooled.dtype) {
            if config.poolImage { parts.append(try pool(features: image, regions: regions)) }
            if config.poolImageNoise { parts.append(try Self.noiseGauge(image, regions: regions)) }
        }
        return try classifier(parts.count == 1 ? pooled : Tensor.cat(parts, dim: 1))
    }

    /// Each channel's noise gauge of `image` `[N, C, D, H, W]` in each region: the mean absolute second difference
    /// along W, `|x[w+1] − 2·x[w] + x[w−1]|`, over the region's voxels (mask above ½) whose two W-neighbours lie in
    /// it too; `[V, C]`, 0 for a region with no such voxel. On a signal linear along W it is the noise alone: white
    /// noise of standard deviation σ gives sqrt(6)·σ·sqrt(2/π) ≈ 1.95·σ. A vertebra's brightest voxel rises with the
    /// noise as with a lesion, so a scan resampled from a finer (cleaner, or noisier) grid moves the decisions that
    /// read it; beside this gauge the head can weigh the one against the other (docs/resampling.md).
    static func noiseGauge(_ image: Tensor, regions: [(sample: Int, mask: Tensor)]) throws -> Tensor {
        let shape = image.shape
        guard shape.count == 5, shape[4] >= 3 else {
            return try Tensor.zeros([regions.count, shape.count == 5 ? shape[1] : 0], dtype: image.dtype, device: image.device)
        }
        let width = shape[4] - 2
        func shifted(_ t: Tensor, _ start: Int) throws -> Tensor { try t.slice(dim: t.rank - 1, start: start, end: start + width) }
        let curvature = try (shifted(image, 2) - shifted(image, 1) * 2 + shifted(image, 0)).abs()
        let interior = try regions.enumerated().map { index, region in
            try Self.checkRegion(region, index: index, in: shape)
            let inside = try region.mask.gt(0.5).to(image.dtype)
            return (sample: region.sample, mask: try shifted(inside, 0) * shifted(inside, 1) * shifted(inside, 2))
        }
        return try Self.pool(features: curvature, regions: interior, pooling: .mean)
    }

    /// `branch` over each region's own voxels of `image` `[N, C, D, H, W]` (every voxel of weight 0 in the region's
    /// mask set to 0), pooled in the region (`pool`): `[V, F · multiplier]`, the zero vector for an empty region. The
    /// branch runs once, on a batch of windows of one size, each holding its region's bounding box: with the image
    /// zero outside the region, the convolutions' zero padding at a window's faces gives what they give on the whole
    /// volume.
    func poolInside(_ branch: LocalFeatures, image: Tensor, regions: [(sample: Int, mask: Tensor)]) throws -> Tensor {
        let shape = image.shape
        let supports = try regions.enumerated().map { index, region in
            try Self.checkRegion(region, index: index, in: shape)
            return try region.mask.gt(0).to(image.dtype)
        }
        let windows = try Self.windows(supports.map(Self.boundingBox), grid: Array(shape[2...]))
        let cut = try regions.indices.map { i in
            let (region, support) = (regions[i], supports[i])
            let ranges = windows.ranges[i].map(Self.index)
            let window = try image[.at(region.sample), .all, ranges[0], ranges[1], ranges[2]] * support[ranges[0], ranges[1], ranges[2]]
            return (window: window, mask: try region.mask[ranges[0], ranges[1], ranges[2]])
        }
        return try Self.pool(features: branch(Tensor.stack(cut.map(\.window))), regions: cut.enumerated().map { ($0.offset, $0.element.mask) },
                             pooling: config.pooling)
    }

    /// One window size for all `boxes` (the largest extent per axis, at least 1) and each box's window of that size
    /// on `grid` (`[D, H, W]`), starting at the box and moved back where it would leave the grid. An empty region
    /// (nil box) gets the window at the origin, which holds no voxel of it, so it pools to zeros.
    static func windows(_ boxes: [[Range<Int>]?], grid: [Int]) -> (size: [Int], ranges: [[Range<Int>]]) {
        let size = (0..<3).map { axis in max(1, boxes.compactMap { $0?[axis].count }.max() ?? 0) }
        let ranges = boxes.map { box in
            (0..<3).map { axis in
                let start = min(box?[axis].lowerBound ?? 0, grid[axis] - size[axis])
                return start..<(start + size[axis])
            }
        }
        return (size, ranges)
    }

    /// `range` as a tensor index.
    static func index(_ range: Range<Int>) -> TensorIndex { .range(range.lowerBound, range.upperBound) }

    /// The smallest box (`[D, H, W]` ranges) holding every voxel of `support` `[D, H, W]` above 0; nil when none is.
    static func boundingBox(_ support: Tensor) throws -> [Range<Int>]? {
        let inside = try support.gt(0).to(.float32)
        var box: [Range<Int>] = []
        for dim in 0..<3 {
            let profile = try inside.sum(dims: (0..<3).filter { $0 != dim }).contiguous().array(Float.self)
            guard let first = profile.firstIndex(where: { $0 > 0 }), let last = profile.lastIndex(where: { $0 > 0 }) else { return nil }
            box.append(first..<(last + 1))
        }
        return box
    }

    /// The image the classification head reads (`ModelConfig.classifierReadsImage`), checked against the grid of
    /// `grid` (`[N, F, D, H, W]`); nil when the head reads none.
    func classifierImage(_ image: Tensor?, grid: Tensor) throws -> Tensor? {
        guard config.classifierReadsImage else { return nil }
        guard let image else { throw ModelError.imageRequired }
        guard image.rank == 5, image.shape[1] == config.inChannels, Array(image.shape[2...]) == Array(grid.shape[2...]) else {
            throw ModelError.inputShape(shape: image.shape, expected: "the image [N, \(config.inChannels), \(grid.shape[2...].map(String.init).joined(separator: ", "))] on the features' grid")
        }
        return image
    }

    /// The voxels of a vertebra's region `region` `[D, H, W]` that the classification head pools
    /// (`config.classifierRegion`): the region itself, or with `.body` the region times `allowed` (`bodyVoxels`:
    /// the body and lesion voxels). A region that keeps no voxel above ½ this way (no segmented body, e.g. a
    /// sliver the field of view cuts) keeps all of its own; so does every region when `allowed` is nil.
    public func classifierRegion(_ region: Tensor, allowed: Tensor?) throws -> Tensor {
        guard config.classifierRegion.isBody else { return region }
        return try Self.restrict(region, to: allowed)
    }

    /// Which of one volume's vertebrae hold enough of themselves in view for a class decision
    /// (`ModelConfig.minimumClassRegionShare`): those whose evidence `voxels[i]` (their classifier region's voxel
    /// count) is at least `minimumShare` times the median over the vertebrae with evidence that `cut` does not mark.
    /// All of them when the share is 0 or no vertebra is whole (nothing to compare with). Training and inference
    /// both select with this.
    public static func largeEnoughToClassify(voxels: [Double], cut: [Bool], minimumShare: Double) -> [Bool] {
        let whole = zip(voxels, cut).filter { !$0.1 && $0.0 > 0 }.map(\.0).sorted()
        guard minimumShare > 0, !whole.isEmpty else { return voxels.map { _ in true } }
        let m = whole.count
        let median = m % 2 == 1 ? whole[m / 2] : (whole[m / 2 - 1] + whole[m / 2]) / 2
        return voxels.map { $0 >= minimumShare * median }
    }

    /// `region` times `allowed` (0/1 on the same grid), or `region` itself when that keeps no voxel above ½ or
    /// `allowed` is nil.
    static func restrict(_ region: Tensor, to allowed: Tensor?) throws -> Tensor {
        guard let allowed else { return region }
        let restricted = try region * allowed.to(region.dtype)
        return try restricted.gt(0.5).any().item() != 0 ? restricted : region
    }

    /// The voxels of a labelled vertebra's region `region` `[D, H, W]` the spinal-region head pools in training
    /// (`config.regionTrainingVoxels`): the region, or with `.segmentedBone` the region times `bone`
    /// (`boneVoxels` of the segmentation), keeping the whole region when that leaves no voxel.
    public func regionTrainingRegion(_ region: Tensor, bone: Tensor?) throws -> Tensor {
        config.regionTrainingVoxels == .segmentedBone ? try Self.restrict(region, to: bone) : region
    }

    /// `[..., D, H, W]` float32 0/1: the voxels a `.body` classifier region keeps: those `structures` (int, the
    /// `StructureLabel` raw values) labels vertebral body or lesion, and, given `known` (float 0/1, the same
    /// shape), every voxel whose structure is not known.
    public static func bodyVoxels(structures: Tensor, known: Tensor? = nil) throws -> Tensor {
        let body = try structures.eq(Double(StructureLabel.vertebralBody.rawValue)).to(.float32)
            + structures.eq(Double(StructureLabel.lesion.rawValue)).to(.float32)
        guard let known else { return body }
        let k = try known.to(.float32)
        return try body * k + (1 - k)
    }

    /// `[..., D, H, W]` float32 0/1: the voxels `structures` (int, the `StructureLabel` raw values) labels vertebral
    /// bone: body, lesion or posterior elements (what a vertebra's region holds).
    public static func boneVoxels(structures: Tensor) throws -> Tensor {
        try bodyVoxels(structures: structures) + structures.eq(Double(StructureLabel.posteriorElements.rawValue)).to(.float32)
    }

    /// The spinal-region head's context: the encoder's bottleneck `[N, B, d, h, w]`. `classifyRegions` averages it
    /// over each vertebra at its own resolution (the vertebra's mask averaged over each bottleneck cell), which costs
    /// nothing beside the full-resolution pooling.
    public func context(_ output: ModelOutput) throws -> Tensor {
        guard let bottleneck = output.bottleneck else { throw ModelError.inputShape(shape: [], expected: "a model output with its bottleneck") }
        return bottleneck
    }

    /// The context on the features' grid, each voxel taking the bottleneck cell it lies in (nearest-neighbour
    /// upsampling): what sliding-window inference blends across windows. Averaged over a region it equals the
    /// bottleneck averaged with the region's mask averaged over each cell, so both grids give `classifyRegions`
    /// the same input.
    public func fullResolutionContext(_ output: ModelOutput) throws -> Tensor {
        let shape = output.features.shape
        return try context(output).upsampleNearest(size: Triple(shape[2], shape[3], shape[4]))
    }

    /// The spinal region of each vertebra: `[V, SpinalRegion.count]` logits in the order of `regions`, from the
    /// pooled `features` and the mask-weighted mean of `context` (`context(_:)` or `fullResolutionContext(_:)`; on a
    /// coarser grid than the masks, whose sizes it divides, each mask is averaged over the context's cells first).
    public func classifyRegions(features: Tensor, context: Tensor, regions: [(sample: Int, mask: Tensor)]) throws -> Tensor {
        guard let spinalRegions else { throw ModelError.headDisabled("identification") }
        if regions.isEmpty { return try Tensor.zeros([0, SpinalRegion.count], dtype: features.dtype, device: features.device) }
        let grid = Array(context.shape.dropFirst(2))
        let coarse = try regions.enumerated().map { index, region in
            let shape = region.mask.shape
            guard shape == grid else {
                guard shape.count == 3, grid.count == 3, zip(shape, grid).allSatisfy({ $1 > 0 && $0 % $1 == 0 }) else {
                    throw ModelError.regionMismatch(index: index, sample: region.sample, maskShape: shape, featureShape: context.shape)
                }
                let factor = Triple(shape[0] / grid[0], shape[1] / grid[1], shape[2] / grid[2])
                return (sample: region.sample, mask: try region.mask.unsqueeze(dim: 0).unsqueeze(dim: 0).avgPool3d(kernel: factor, stride: factor)[.at(0), .at(0)])
            }
            return region
        }
        let pooledContext = try SpineModel.pool(features: context, regions: coarse, pooling: .mean)
        var inputs = [try pool(features: features, regions: regions), pooledContext]
        if config.regionLateral { inputs.append(try pool(features: features, regions: regions.map { (sample: $0.sample, mask: try Self.lateralRegion($0.mask)) })) }
        // Pooling is linear in its input's gradient, so scaling the pooled vector scales what reaches the features
        // and the context, without touching a full-size tensor.
        return try spinalRegions(identificationInput(Tensor.cat(inputs, dim: 1)))
    }

    /// A vertebra's lateral region `[D, H, W]` from its mask: every slice along D (left-right) at the heights and
    /// depths (H, W) where the mask is in any slice, so beside the vertebra too: where ribs join a thoracic vertebra
    /// and the psoas lies beside a lumbar one (`ModelConfig.regionLateral`).
    static func lateralRegion(_ mask: Tensor) throws -> Tensor {
        try mask.max(dims: [0], keepDims: true).expand(mask.shape)
    }

    /// Level probabilities of vertebrae for `LevelSequenceDecoder` from the spinal-region head: `owner` gives each
    /// voxel of `features[0]`'s grid its vertebra (0..<count, or -1). Nil when the model has no region head.
    public func levelTables(features: Tensor, context: Tensor, owner: [Int], count: Int) throws -> [[Double]]? {
        guard spinalRegions != nil, count > 0 else { return nil }
        return try Torch.noGrad {
            let map = try Tensor(owner.map(Int64.init), shape: Array(features.shape[2...])).to(device: features.device)
            let regions = try (0..<count).map { (sample: 0, mask: try map.eq(Double($0)).to(features.dtype)) }
            let p = try classifyRegions(features: features, context: context, regions: regions).softmax(dim: 1).to(.float64, device: .cpu).array(Double.self)
            let k = SpinalRegion.count
            return (0..<count).map { SpinalRegion.levelTable(regionProbabilities: Array(p[($0 * k)..<(($0 + 1) * k)])) }
        }
    }
}
