/// The `loader` section of a training config: how batches are cut, targeted, augmented and prefetched.
///
/// Intensities are normalised per sample and channel (`zscore`: minus the mean, over the standard deviation, both taken
/// over the crop's voxels inside the subject's field of view; padding stays 0) before intensity augmentation.
public struct LoaderConfig: Codable, Equatable, Sendable, DefaultConstructible {
    public var batchSize = 2
    /// Crop size [D, H, W] in voxels before rounding up to `cropDivisor`. A volume smaller than the crop is padded
    /// (centred): image 0, every label unknown (masks 0).
    public var crop = [24, 96, 64]
    /// Crop sizes are rounded up to a multiple of these (the model's down-sampling needs divisible inputs).
    public var cropDivisor = [1, 8, 8]
    /// The dataset split: training draws from its `train` ids, validation from its `val` ids.
    public var split = "holdout"
    /// Share of the samples of an epoch drawn from subjects annotated only for autoencoding (when the split has any),
    /// at most their share of the split's training subjects: an unlabelled subject is not drawn more often than a
    /// labelled one.
    public var unlabelledFraction = 0.25
    /// Batches prepared ahead of the consumer.
    public var prefetch = 4
    /// Background threads preparing batches.
    public var workers = 1
    /// Mebibytes of whole decoded volumes the loader keeps in memory to cut crops from (least recently used out
    /// first); 0 reads every crop from the file, decompressing its chunks each time.
    public var cacheMB = 2048
    /// Standard deviation of the centroid heatmap's Gaussians, in millimetres.
    public var heatmapSigmaMM = 6.0
    public var normalization = Normalization.zscore
    public var augment = Augmentation()
    /// Resample every subject to one spacing before crops are cut (`DatasetReader.View`), so that a dataset mixing
    /// 1 mm and 4 mm scans trains one model; the checkpoint records the spacing for inference.
    public var resample = true
    /// The spacing [D, H, W] in mm subjects are resampled to; empty: the training subjects' median per axis, with
    /// nnU-Net's rule for strongly anisotropic data (`SpacingRule.targetSpacing`).
    public var spacingMM: [Double] = []
    /// The dataset channels (by `channel_names`) the model is trained on, in this order; empty: all of them.
    public var channels: [String] = []

    public init() {}

    public enum Normalization: String, Codable, Sendable {
        /// Per channel over the crop's field-of-view voxels: (x − mean) / std.
        case zscore
        /// Intensities as stored.
        case none
    }

    /// Seeded augmentation. Spatial changes are the ones that keep anatomy valid for a sagittal spine: a left-right flip
    /// (along D) and a small in-plane rotation in the sagittal H–W plane. Flips along H or W would swap cranial and
    /// caudal or anterior and posterior, so the loader never does them.
    public struct Augmentation: Codable, Equatable, Sendable, DefaultConstructible {
        /// Multiplier range of the normalised intensities.
        public var intensityScale = [0.9, 1.1]
        /// Offset range added to the normalised intensities.
        public var intensityShift = [-0.1, 0.1]
        /// Gamma range, applied to the intensities rescaled to [0, 1] within each channel's range.
        public var gamma = [0.8, 1.25]
        /// Range of the standard deviation of added Gaussian noise.
        public var noiseSigma = [0.0, 0.05]
        /// Range of the Gaussian blur's standard deviation, in voxels along each axis, applied before normalisation
        /// within the field of view: a scan smoother and less noisy than the training set, as a finer scan resampled
        /// to the model's spacing is. Off by default (`probability.blur` 0): on the development set it did not make
        /// the classifier steadier across spacings (docs/resampling.md, "Why balanced accuracy moves").
        public var blurSigma = [0.25, 1.0]
        /// Maximum in-plane rotation angle (uniform in ±rotationDegrees) about the crop centre, in millimetre space.
        public var rotationDegrees = 5.0
        public var flipLeftRight = true
        public var probability = Probability()

        public init() {}
    }

    /// Probability that each augmentation is applied to a sample.
    public struct Probability: Codable, Equatable, Sendable, DefaultConstructible {
        public var intensityScale = 0.5
        public var intensityShift = 0.5
        public var gamma = 0.3
        public var noise = 0.3
        public var blur = 0.0
        public var rotation = 0.5
        public var flip = 0.5

        public init() {}
    }

    /// The dataset channels this config trains on (`channels`, or all of them), checked against the file's names.
    public func channelNames(in header: DatasetHeader, file: String) throws(LoaderError) -> [String] {
        guard !channels.isEmpty else { return header.channelNames }
        for name in channels where !header.channelNames.contains(name) {
            throw .invalidConfig(key: "loader.channels", message: "\(file) has no channel \(name) (its channel_names are \(header.channelNames.joined(separator: ", ")))")
        }
        return channels
    }

    /// `crop` rounded up to a multiple of `cropDivisor`.
    public var cropSize: [Int] { Self.roundUp(crop, to: cropDivisor) }

    static func roundUp(_ size: [Int], to divisor: [Int]) -> [Int] {
        zip(size, divisor).map { ($0 + $1 - 1) / $1 * $1 }
    }

    /// Checks every key; the error names the first one out of range.
    public func validate() throws(LoaderError) {
        func check(_ ok: Bool, _ key: String, _ message: String) throws(LoaderError) {
            if !ok { throw .invalidConfig(key: "loader." + key, message: message) }
        }
        func range(_ values: [Double], _ key: String, lowest: Double, positive: Bool = false) throws(LoaderError) {
            try check(values.count == 2 && values[0] <= values[1] && values.allSatisfy(\.isFinite), "augment." + key,
                      "expected [low, high] with low <= high, found \(values)")
            try check(positive ? values[0] > lowest : values[0] >= lowest, "augment." + key,
                      "values must be \(positive ? ">" : ">=") \(lowest), found \(values)")
        }
        try check(batchSize >= 1, "batchSize", "must be at least 1, found \(batchSize)")
        try check(crop.count == 3 && crop.allSatisfy { $0 >= 1 }, "crop", "expected 3 positive sizes [D, H, W], found \(crop)")
        try check(cropDivisor.count == 3 && cropDivisor.allSatisfy { $0 >= 1 }, "cropDivisor", "expected 3 positive divisors [D, H, W], found \(cropDivisor)")
        try check(!split.isEmpty, "split", "must name a split of the dataset")
        try check(unlabelledFraction >= 0 && unlabelledFraction < 1, "unlabelledFraction", "must be in [0, 1), found \(unlabelledFraction)")
        try check(prefetch >= 1, "prefetch", "must be at least 1, found \(prefetch)")
        try check(workers >= 1, "workers", "must be at least 1, found \(workers)")
        try check(cacheMB >= 0 && cacheMB <= 1 << 30, "cacheMB", "must be 0 (off) to 2^30 MiB, found \(cacheMB)")
        try check(heatmapSigmaMM > 0 && heatmapSigmaMM.isFinite, "heatmapSigmaMM", "must be positive, found \(heatmapSigmaMM)")
        try check(spacingMM.isEmpty || (spacingMM.count == 3 && spacingMM.allSatisfy { $0 > 0 && $0.isFinite }), "spacingMM",
                  "expected [] (the dataset's median) or 3 positive finite spacings [D, H, W] in mm, found \(spacingMM)")
        try check(Set(channels).count == channels.count, "channels", "names a channel twice: \(channels)")
        try range(augment.intensityScale, "intensityScale", lowest: 0, positive: true)
        try range(augment.intensityShift, "intensityShift", lowest: -.infinity)
        try range(augment.gamma, "gamma", lowest: 0, positive: true)
        try range(augment.noiseSigma, "noiseSigma", lowest: 0)
        try range(augment.blurSigma, "blurSigma", lowest: 0)
        try check(augment.blurSigma[1] <= 4, "augment.blurSigma", "must be at most 4 voxels, found \(augment.blurSigma)")
        try check(augment.rotationDegrees >= 0 && augment.rotationDegrees <= 45, "augment.rotationDegrees",
                  "must be in [0, 45] (a small in-plane rotation), found \(augment.rotationDegrees)")
        let p = augment.probability
        for (key, value) in [("intensityScale", p.intensityScale), ("intensityShift", p.intensityShift), ("gamma", p.gamma),
                             ("noise", p.noise), ("blur", p.blur), ("rotation", p.rotation), ("flip", p.flip)] {
            try check(value >= 0 && value <= 1, "augment.probability." + key, "must be in [0, 1], found \(value)")
        }
    }
}

public enum LoaderError: Swift.Error, Equatable, CustomStringConvertible {
    case invalidConfig(key: String, message: String)
    case unknownSplit(file: String, split: String, available: [String])
    case emptySplit(file: String, split: String, part: String)
    case batchOutOfRange(epoch: Int, index: Int, batchesPerEpoch: Int)
    case sampleFailed(subject: String, message: String)

    public var description: String {
        switch self {
        case let .invalidConfig(key, message): "\(key): \(message)"
        case let .unknownSplit(file, split, available):
            "\(file) has no split \"\(split)\" (it has \(available.isEmpty ? "none" : available.joined(separator: ", "))): set loader.split, or add one with `rachis dataset split`"
        case let .emptySplit(file, split, part): "\(file): split \"\(split)\" has no \(part) subjects"
        case let .batchOutOfRange(epoch, index, count): "epoch \(epoch) has batches 0..<\(count), batch \(index) was asked for"
        case let .sampleFailed(subject, message): "subject \(subject): cannot prepare a sample: \(message)"
        }
    }
}
