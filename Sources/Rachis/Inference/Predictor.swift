import Foundation
import Logging
import Torch

/// Runs a trained model on whole volumes and decodes vertebrae, levels and classes.
///
/// A volume is z-scored per channel over all its voxels (as training normalises a crop), then run in one pass when
/// it fits the training crop (padded at the end to the model's divisor) or with a sliding window of the crop's size
/// otherwise: windows overlap by `overlap` of their size, and each output voxel is the Gaussian-weighted mean of the
/// windows that cover it (σ = ⅛ of the window, as nnU-Net), so window borders leave no seams. Softmax
/// probabilities, the heatmap, the reconstruction and the decoder features are blended; vertebrae are decoded from
/// the blended maps (`VertebraDecoder`) and classified from the blended features pooled in each decoded region.
public final class Predictor {
    public struct Options: Sendable {
        public var device: Device = .cpu
        /// Fraction of the window by which neighbouring windows overlap, in [0, 0.9].
        public var overlap = 0.5
        /// Sliding-window size [D, H, W]; nil: the training crop.
        public var window: [Int]? = nil
        /// Below this, a vertebra's level or class is flagged as uncertain.
        public var minimumConfidence = 0.5
        /// Resample each input to the training spacing, run the model there and bring every output back onto the
        /// input's grid (`ModelGrid`). Off (`--no-resample`): the model runs on the input's own voxels, and the
        /// spacing checks below apply.
        public var resample = true
        /// Without resampling: refuse (rather than warn about) a voxel spacing more than this factor from the
        /// training spacing.
        public var maximumSpacingFactor = 2.0
        /// Without resampling: predict even when the spacing is beyond `maximumSpacingFactor` (with a warning).
        public var allowSpacingMismatch = false
        /// Decodes the vertebrae; its `candidates` says whether they come from the heatmap's peaks, the
        /// segmentation's vertebral bodies (when the model has a segmentation head), or both.
        public var decoder = VertebraDecoder()
        /// Keep the heatmap and the vertebra probability in the returned volumes.
        public var keepMaps = false
        /// Test-time mirroring along D (left-right), the flip training augments with (`loader.augment.flipLeftRight`):
        /// every map is the mean of the model's output on the image and, flipped back, on the image flipped, and each
        /// vertebra's class probabilities the mean of the classifier's on both (nnU-Net's mirroring). Twice the
        /// model's work.
        public var mirror = true
        /// The classifier decides only vertebrae whose region holds at least this share of a whole vertebra's
        /// (`SpineModel.largeEnoughToClassify`); nil: the share the model was trained with
        /// (`ModelConfig.minimumClassRegionShare`).
        public var minimumClassRegionShare: Double? = nil
        public init() {}
    }

    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case incompatibleCheckpoint(file: String, reason: String)
        case channelMismatch(source: String, found: Int, expected: Int, names: [String])
        case spacingMismatch(source: String, spacingMM: [Double], trainingMM: [Double], factor: Double)
        case geometryMismatch(first: String, other: String, reason: String)
        case nonFinite(source: String, count: Int)
        case badSpacing(source: String, spacingMM: [Double])
        case channelNotGiven(channel: String, given: [String], expected: [String])
        case unknownChannel(channel: String, file: String, expected: [String])
        case repeatedChannel(channel: String, files: [String])
        case badOption(String)

        public var description: String {
            switch self {
            case let .incompatibleCheckpoint(file, reason): "\(file) cannot be used for inference: \(reason)"
            case let .channelMismatch(source, found, expected, names):
                "\(source) has \(found) channel\(found == 1 ? "" : "s"); the model was trained on \(expected) (\(names.joined(separator: ", "))): give one image per channel, in that order"
            case let .spacingMismatch(source, spacing, training, factor):
                "\(source) has voxel spacing \(Self.format(spacing)) mm, more than \(Self.format([factor]))x from the training spacing \(Self.format(training)) mm, and --no-resample keeps it: drop --no-resample (predict resamples to the training spacing), or pass --allow-spacing-mismatch to predict anyway"
            case let .geometryMismatch(first, other, reason): "\(other) does not lie on the grid of \(first): \(reason)"
            case let .nonFinite(source, count): "\(source) has \(count) NaN or infinite voxels"
            case let .badSpacing(source, spacing):
                "\(source): voxel spacing \(spacing) mm (pixdim / ElementSpacing) must be finite and positive on every axis: fix the file's header"
            case let .channelNotGiven(channel, given, expected):
                "the model needs channel \(channel) (it was trained on \(expected.joined(separator: ", "))), and no image was given for it\(given.isEmpty ? "" : " (given: \(given.joined(separator: ", ")))"): pass --image \(channel)=<file>"
            case let .unknownChannel(channel, file, expected):
                "--image \(channel)=\(file): the model has no channel \(channel); its channels are \(expected.joined(separator: ", "))"
            case let .repeatedChannel(channel, files): "channel \(channel) is given twice (\(files.joined(separator: ", "))): give one image per channel"
            case let .badOption(message): message
            }
        }

        static func format(_ values: [Double]) -> String { values.map { String(format: "%.3g", $0) }.joined(separator: " x ") }
    }

    public let checkpointURL: URL
    public let config: TrainingConfig
    public let model: SpineModel
    public let options: Options
    public let channelNames: [String]
    public let classNames: [String]
    public let trainingSpacingMM: [Double]
    let logger: Logger

    public init(checkpoint url: URL, options: Options = Options(), logger: Logger = Logger(label: "rachis.predict")) throws {
        checkpointURL = url
        self.logger = logger
        guard (0...0.9).contains(options.overlap) else { throw Error.badOption("--overlap must be in [0, 0.9], found \(options.overlap)") }
        let checkpoint = try Checkpoint.read(from: url)
        do {
            config = try TrainingConfig.decode(try JSONValue.parse(Data(checkpoint.config.utf8), source: url.path), source: "\(url.path) attribute config")
        } catch {
            throw Error.incompatibleCheckpoint(file: url.path, reason: "its config does not fit this Rachis (\(error))")
        }
        let model = try SpineModel(config.model)
        do {
            try model.load(checkpoint.model)
        } catch {
            throw Error.incompatibleCheckpoint(file: url.path, reason: "its weights do not fit the model its config describes (\(error))")
        }
        try model.move(to: options.device)
        if config.train.channelsLast { try model.channelsLast3d() }
        model.eval()
        self.model = model
        let data = checkpoint.dataset
        // Where the training subjects' fields of view start: the decoder's prior on the level of the first vertebra
        // the field of view does not cut (in older checkpoints, of the first vertebra).
        var options = options
        if options.decoder.sequence.startPrior == nil {
            if let whole = LevelSequenceDecoder.startPrior(counts: data?.firstWholeLevelCounts) {
                options.decoder.sequence.startPrior = whole
                options.decoder.sequence.priorOnFirstWhole = true
            } else {
                options.decoder.sequence.startPrior = LevelSequenceDecoder.startPrior(counts: data?.firstLevelCounts)
            }
        }
        self.options = options
        channelNames = data?.channelNames ?? (0..<config.model.inChannels).map { "channel \($0)" }
        classNames = data?.classNames ?? (0..<config.model.classes).map { "class \($0)" }
        trainingSpacingMM = data?.spacingMM ?? config.model.spacingMM
        guard !config.model.spacingMM.isEmpty else {
            throw Error.incompatibleCheckpoint(file: url.path, reason: "it records no training spacing in its config (model.spacingMM is [], which rachis train resolves)")
        }
        guard channelNames.count == config.model.inChannels, classNames.count == config.model.classes else {
            throw Error.incompatibleCheckpoint(file: url.path, reason: "its dataset names \(channelNames.count) channels and \(classNames.count) classes, its model \(config.model.inChannels) and \(config.model.classes)")
        }
    }

    // MARK: Inputs

    /// One subject's image from a dataset file.
    public func input(dataset reader: DatasetReader, subject id: String) throws -> (image: [Float], geometry: Geometry, source: SubjectPrediction.Source) {
        if reader.subjectIDs.contains(id) { try reader.requireValid(subjects: [id]) }
        let geometry = try reader.geometry(of: id)
        let source = SubjectPrediction.Source(kind: "dataset", paths: [reader.url.path], subject: id)
        // The model's channels by name (a model trained on some of the dataset's channels), else all in order.
        let names = reader.header.channelNames
        if channelNames.allSatisfy(names.contains), names != channelNames {
            let all = try reader.imageCrop(id, offset: [0, 0, 0], size: geometry.shape), n = geometry.voxelCount
            let image = channelNames.flatMap { name in all[(names.firstIndex(of: name)! * n)..<((names.firstIndex(of: name)! + 1) * n)] }
            return (image, geometry, source)
        }
        guard names.count == config.model.inChannels else {
            throw Error.channelMismatch(source: "\(reader.url.path) subject \(id)", found: names.count, expected: config.model.inChannels, names: channelNames)
        }
        let image = try reader.imageCrop(id, offset: [0, 0, 0], size: geometry.shape)
        return (image, geometry, source)
    }

    /// An image from NIfTI or MetaImage files: one file per channel in the model's channel order, or one file with
    /// every channel. The image stays on the first file's own grid (array order and affine); the files must share it.
    public func input(files: [URL]) throws -> (image: [Float], geometry: Geometry, source: SubjectPrediction.Source) {
        try input(images: files.map { ImageArgument(channel: nil, url: $0) })
    }

    /// An image from NIfTI or MetaImage files, each named by the channel it holds (`T1=a.nii.gz`) or, when none is
    /// named, in the model's channel order. Named files are put in the model's channel order; a channel the model
    /// needs and no file gives, a name the model does not know, and a channel given twice are refused by name. The
    /// image stays on the first file's own grid; the files must share it.
    public func input(images: [ImageArgument]) throws -> (image: [Float], geometry: Geometry, source: SubjectPrediction.Source) {
        guard !images.isEmpty else { throw Error.badOption("give at least one image file") }
        var ordered = images
        let named = images.filter { $0.channel != nil }
        if !named.isEmpty {
            guard named.count == images.count else {
                throw Error.badOption("name the channel of every --image (CHANNEL=FILE, the model's channels are \(channelNames.joined(separator: ", "))) or of none")
            }
            for image in images where !channelNames.contains(image.channel!) {
                throw Error.unknownChannel(channel: image.channel!, file: image.url.path, expected: channelNames)
            }
            ordered = try channelNames.map { name in
                let given = images.filter { $0.channel == name }
                guard given.count <= 1 else { throw Error.repeatedChannel(channel: name, files: given.map(\.url.path)) }
                guard let image = given.first else {
                    throw Error.channelNotGiven(channel: name, given: images.compactMap(\.channel), expected: channelNames)
                }
                return image
            }
        }
        let files = ordered.map(\.url)
        let first = files[0]
        var volumes: [ImageVolume] = []
        for file in files {
            let volume = try ImageIO.read(file, reorient: false)
            guard volume.geometry.spacingMM.allSatisfy({ $0.isFinite && $0 > 0 }) else {
                throw Error.badSpacing(source: file.path, spacingMM: volume.geometry.spacingMM)
            }
            if let reference = volumes.first { try Self.checkSameGrid(reference.geometry, volume.geometry, first: first.path, other: file.path) }
            if !named.isEmpty, volume.channels != 1 {
                throw Error.channelMismatch(source: file.path, found: volume.channels, expected: 1, names: [ordered[volumes.count].channel!])
            }
            volumes.append(volume)
        }
        let channels = volumes.reduce(0) { $0 + $1.channels }
        let description = files.count == 1 ? first.path : files.map(\.lastPathComponent).joined(separator: " + ")
        guard channels == config.model.inChannels else {
            throw Error.channelMismatch(source: description, found: channels, expected: config.model.inChannels, names: channelNames)
        }
        return (volumes.flatMap(\.voxels), volumes[0].geometry, SubjectPrediction.Source(kind: "files", paths: files.map(\.path), subject: nil))
    }

    /// The image a prediction was made from, read again from its source.
    public func input(source: SubjectPrediction.Source) throws -> (image: [Float], geometry: Geometry, source: SubjectPrediction.Source) {
        if source.kind == "dataset", let subject = source.subject, let path = source.paths.first {
            return try input(dataset: try DatasetReader(url: URL(fileURLWithPath: path)), subject: subject)
        }
        return try input(files: source.paths.map { URL(fileURLWithPath: $0) })
    }

    static func checkSameGrid(_ a: Geometry, _ b: Geometry, first: String, other: String) throws {
        guard a.shape == b.shape else { throw Error.geometryMismatch(first: first, other: other, reason: "shape \(b.shape) against \(a.shape)") }
        guard zip(a.spacingMM, b.spacingMM).allSatisfy({ abs($0 - $1) <= 1e-3 * max(abs($0), 1) }) else {
            throw Error.geometryMismatch(first: first, other: other, reason: "spacing \(b.spacingMM) mm against \(a.spacingMM) mm")
        }
        guard zip(a.originMM, b.originMM).allSatisfy({ abs($0 - $1) <= 0.01 }) else {
            throw Error.geometryMismatch(first: first, other: other, reason: "origin \(b.originMM) mm against \(a.originMM) mm")
        }
        guard zip(a.direction.joined(), b.direction.joined()).allSatisfy({ abs($0 - $1) <= 1e-3 }) else {
            throw Error.geometryMismatch(first: first, other: other, reason: "direction cosines differ")
        }
    }

    /// Warnings (and, beyond `maximumSpacingFactor`, an error) for a spacing unlike the training spacing.
    func checkSpacing(_ spacing: [Double], source: String) throws -> [String] {
        let ratios = zip(spacing, trainingSpacingMM).map { $0 / $1 }
        let worst = ratios.map { max($0, 1 / $0) }.max() ?? 1
        if worst > options.maximumSpacingFactor, !options.allowSpacingMismatch {
            throw Error.spacingMismatch(source: source, spacingMM: spacing, trainingMM: trainingSpacingMM, factor: options.maximumSpacingFactor)
        }
        guard worst > 1.25 else { return [] }
        return ["voxel spacing \(Error.format(spacing)) mm differs from the training spacing \(Error.format(trainingSpacingMM)) mm by up to \(String(format: "%.2f", worst))x: results may be unreliable"]
    }

    // MARK: Prediction

    /// Whole-volume model outputs on the volume's grid.
    public struct Maps {
        /// `[S, D, H, W]` structure probabilities.
        public var structures: [Float]?
        /// `[D, H, W]`.
        public var heatmap: [Float]?
        /// `[LevelIndex.count, D, H, W]` level probabilities.
        public var levels: [Float]?
        /// `[C, D, H, W]`.
        public var reconstruction: [Float]?
        /// `[1, F, D, H, W]`.
        public var features: Tensor
        /// `[1, B, D, H, W]` the bottleneck brought to full resolution (`SpineModel.context`), for the spinal-region
        /// head; nil without it.
        public var context: Tensor?
        /// The normalised input, `[C, D, H, W]`.
        public var input: [Float]
        public var windows: Int
    }

    /// Runs the model over a volume (raw intensities `[C, D, H, W]`) and blends the windows (`SlidingWindow`).
    public func maps(image raw: [Float], geometry: Geometry, source: String) throws -> Maps {
        let shape = geometry.shape, n = geometry.voxelCount, c = config.model.inChannels
        guard raw.count == c * n else { throw Error.channelMismatch(source: source, found: raw.count / max(n, 1), expected: c, names: channelNames) }
        let nonFinite = raw.reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
        guard nonFinite == 0 else { throw Error.nonFinite(source: source, count: nonFinite) }
        var image = raw
        Intensity.zscore(&image, channels: c)
        let divisor = SpineModel.requiredDivisor(config.model)
        let requested = LoaderConfig.roundUp(options.window ?? config.loader.cropSize, to: divisor)
        let sliding = SlidingWindow(shape: shape, requested: requested, divisor: divisor, overlap: options.overlap)
        let (model, config) = (self.model, self.config)
        return try Torch.noGrad {
            let input = try Tensor(image, shape: [1, c] + shape).to(device: options.device)
            func outputs(_ crop: Tensor) throws -> [SlidingWindow.Output: Tensor] {
                let output = try model(config.train.channelsLast ? try crop.channelsLast3d() : crop)
                var parts: [SlidingWindow.Output: Tensor] = [.features: output.features]
                if config.model.heads.identification { parts[.context] = try model.fullResolutionContext(output) }
                if let s = output.segmentation { parts[.structures] = try s.softmax(dim: 1) }
                if let hm = output.heatmap { parts[.heatmap] = hm }
                if let l = output.levels { parts[.levels] = try l.softmax(dim: 1) }
                if let r = output.reconstruction { parts[.reconstruction] = r }
                return parts
            }
            let mirror = options.mirror
            var blended = try sliding.blend(input) { crop in
                var parts = try outputs(crop)
                guard mirror else { return parts }
                for (output, value) in try outputs(crop.flip([2])) {
                    parts[output] = try parts[output]!.apply(.add, value.flip([2])).apply(.mul, 0.5)
                }
                return parts
            }
            // Maps the decoder reads become arrays one at a time, each tensor released once copied.
            func values(_ output: SlidingWindow.Output) throws -> [Float]? {
                defer { blended[output] = nil }
                return try blended[output].map { try $0.to(.float32, device: .cpu).contiguous().array(Float.self) }
            }
            return Maps(structures: try values(.structures), heatmap: try values(.heatmap), levels: try values(.levels),
                        reconstruction: try values(.reconstruction), features: blended[.features]!, context: blended[.context],
                        input: image, windows: sliding.count)
        }
    }

    /// The most probable structure of each voxel, from `[S, voxels]` probabilities.
    static func argmax(_ probabilities: [Float], voxels n: Int) -> [UInt8] {
        let k = probabilities.count / n
        return (0..<n).map { i in
            var best = 0
            for c in 1..<k where probabilities[c * n + i] > probabilities[best * n + i] { best = c }
            return UInt8(best)
        }
    }

    /// Voxels labelled vertebral body or lesion (lesions lie in bodies).
    static func bodyMask(_ structures: [UInt8]) -> [Bool] {
        mask(structures, of: [.vertebralBody, .lesion])
    }

    /// Voxels labelled vertebral bone: body, lesion or posterior elements (what a labelled vertebra region holds).
    static func boneMask(_ structures: [UInt8]) -> [Bool] {
        mask(structures, of: [.vertebralBody, .lesion, .posteriorElements])
    }

    /// The voxels `structures` calls rib (none from a model that segments no ribs).
    static func ribMask(_ structures: [UInt8]) -> [Bool] {
        mask(structures, of: [.rib])
    }

    /// Voxels labelled with one of `labels`.
    static func mask(_ structures: [UInt8], of labels: Set<StructureLabel>) -> [Bool] {
        let values = Set(labels.map(\.rawValue))
        return structures.map { values.contains($0) }
    }

    /// The grids an input on `geometry` goes through: resampled to the training spacing unless `--no-resample`.
    public func grid(for geometry: Geometry) -> ModelGrid {
        ModelGrid(input: geometry, targetSpacingMM: options.resample ? trainingSpacingMM : nil)
    }

    /// A vertebra's class decision, or why it has none.
    public enum ClassDecision: Equatable, Sendable {
        /// The classifier's softmax.
        case probabilities([Double])
        /// No evidence to decide from: an empty region or, for a body classifier region, one without a body or
        /// lesion voxel (the classifier would fall back to the whole vertebra: `VertebraFlag.emptyClassRegion`).
        case emptyRegion
        /// Too little of the vertebra in view: evidence short of `model.minimumClassRegionShare` of a whole
        /// vertebra's (`VertebraFlag.partialClassRegion`).
        case partialRegion

        public var probabilities: [Double]? { if case let .probabilities(p) = self { p } else { nil } }

        /// The flag a vertebra without a decision carries.
        public var flag: VertebraFlag? {
            switch self {
            case .probabilities: nil
            case .emptyRegion: .emptyClassRegion
            case .partialRegion: .partialClassRegion
            }
        }
    }

    /// The class decision of each vertebra `levelIDs[i]` of `labelMap` (`[D, H, W]` on the model grid, as `maps`;
    /// `cut[i]`: the field of view cuts it): the classifier over the vertebra's region
    /// (`SpineModel.classifierRegion`, within the voxels `structures` calls body or lesion), with `options.mirror`
    /// the mean of its softmax on the image and on the image mirrored with its regions; none for a vertebra with no
    /// evidence or too little of it (`SpineModel.largeEnoughToClassify` with `options.minimumClassRegionShare`).
    public func classDecisions(maps: Maps, shape: [Int], labelMap: [UInt8], levelIDs: [Int], cut: [Bool]? = nil,
                               structures: [UInt8]?) throws -> [ClassDecision] {
        guard !levelIDs.isEmpty else { return [] }
        return try Torch.noGrad {
            let map = try Tensor(labelMap.map(Int64.init), shape: shape).to(device: options.device)
            let allowed = try structures.map { try SpineModel.bodyVoxels(structures: Tensor($0.map(Int64.init), shape: shape)).to(device: options.device) }
            let vertebrae = try levelIDs.map { try map.eq(Double($0)).to(.float32) }
            // The evidence: a region's voxels, with a body classifier region its body voxels alone (a region without
            // any would fall back to the whole vertebra, as in training); only vertebrae with enough are classified.
            let voxels = try vertebrae.indices.map { i in
                let evidence = config.model.classifierRegion.isBody ? try allowed.map { try vertebrae[i] * $0 } ?? vertebrae[i] : vertebrae[i]
                return try evidence.sum().item()
            }
            let large = SpineModel.largeEnoughToClassify(voxels: voxels, cut: cut ?? voxels.map { _ in false },
                                                         minimumShare: options.minimumClassRegionShare ?? config.model.minimumClassRegionShare)
            var result: [ClassDecision] = voxels.indices.map { voxels[$0] > 0 && !large[$0] ? .partialRegion : .emptyRegion }
            let decided = voxels.indices.filter { voxels[$0] > 0 && large[$0] }
            guard !decided.isEmpty else { return result }
            let regions = try decided.map { (sample: 0, mask: try model.classifierRegion(vertebrae[$0], allowed: allowed)) }
            let input = try Tensor(maps.input, shape: [1, config.model.inChannels] + shape).to(device: options.device)
            var softmax = try model.classify(features: maps.features, image: input, regions: regions).softmax(dim: 1)
            if options.mirror {
                let mirroredRegions = try regions.map { (sample: $0.sample, mask: try $0.mask.flip([0])) }
                let mirrored = try model.classify(features: maps.features.flip([2]), image: input.flip([2]), regions: mirroredRegions)
                softmax = try softmax.apply(.add, mirrored.softmax(dim: 1)).apply(.mul, 0.5)
            }
            let p = try softmax.to(.float64, device: .cpu).array(Double.self), k = config.model.classes
            for (row, i) in decided.enumerated() { result[i] = .probabilities(Array(p[(row * k)..<((row + 1) * k)])) }
            return result
        }
    }

    /// Predicts one subject from its image on its own grid (`[C, D, H, W]` on `geometry`): the image is brought to
    /// the model grid (`grid(for:)`), vertebrae are decoded and classified there, and the label maps, the maps
    /// and the centroids' voxel indices come back on `geometry`.
    public func predict(id: String, image: [Float], geometry: Geometry, source: SubjectPrediction.Source) throws -> (SubjectPrediction, PredictedVolumes) {
        let description = source.subject.map { "\(source.paths[0]) subject \($0)" } ?? source.paths.joined(separator: " + ")
        guard geometry.spacingMM.allSatisfy({ $0.isFinite && $0 > 0 }) else { throw Error.badSpacing(source: description, spacingMM: geometry.spacingMM) }
        let c = config.model.inChannels
        guard image.count == c * geometry.voxelCount else {
            throw Error.channelMismatch(source: description, found: image.count / max(geometry.voxelCount, 1), expected: c, names: channelNames)
        }
        let nonFinite = image.reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
        guard nonFinite == 0 else { throw Error.nonFinite(source: description, count: nonFinite) }
        let grid = grid(for: geometry)
        var warnings = options.resample ? [] : try checkSpacing(grid.canonical.spacingMM, source: description)
        if grid.resamples {
            warnings.append("resampled from \(Error.format(grid.canonical.spacingMM)) mm (\(grid.canonical.shape.map(String.init).joined(separator: "x"))) to \(Error.format(grid.model.spacingMM)) mm (\(grid.model.shape.map(String.init).joined(separator: "x"))) for the model; outputs are on the input's grid")
        }
        let modelGeometry = grid.model
        let maps = try maps(image: grid.imageToModel(image, channels: c), geometry: modelGeometry, source: description)
        if maps.windows > 1 { warnings.append("predicted with a sliding window: \(maps.windows) windows") }
        let n = modelGeometry.voxelCount
        let structures = maps.structures.map { Self.argmax($0, voxels: n) }
        var decoded = VertebraDecoder.Result(vertebrae: [], labelMap: [UInt8](repeating: 0, count: n), flags: [.noVertebrae])
        if let levels = maps.levels {
            decoded = try options.decoder.decode(heatmap: maps.heatmap, levelProbabilities: levels, geometry: modelGeometry,
                                                 structures: structures) { owner, count in
                guard let context = maps.context else { return nil }
                return try self.model.levelTables(features: maps.features, context: context, owner: owner, count: count)
            }
        } else {
            warnings.append("the model has no identification head: no vertebrae decoded")
        }
        var decisions: [ClassDecision]? = nil
        if config.model.heads.classification, !decoded.vertebrae.isEmpty {
            decisions = try classDecisions(maps: maps, shape: modelGeometry.shape, labelMap: decoded.labelMap,
                                           levelIDs: decoded.vertebrae.map(\.levelID), cut: decoded.vertebrae.map(\.touchesFieldOfViewEdge),
                                           structures: structures)
        }
        let probabilities = decoded.vertebrae.indices.map { decisions?[$0].probabilities }
        // Back onto the input's grid: the label maps, and each region's voxels counted there.
        let labelMap = grid.labelsToInput(decoded.labelMap)
        var regionVoxels = [Int](repeating: 0, count: 256)
        for l in labelMap { regionVoxels[Int(l)] += 1 }
        let voxelML = geometry.spacingMM.reduce(1, *) / 1000
        let vertebrae = decoded.vertebrae.enumerated().map { i, v in
            var flags: [VertebraFlag] = []
            if v.identificationConfidence < options.minimumConfidence { flags.append(.lowIdentificationConfidence) }
            if let p = probabilities[i], (p.max() ?? 0) < options.minimumConfidence { flags.append(.lowClassConfidence) }
            if v.voxels == 0 { flags.append(.emptyRegion) }
            if let flag = decisions?[i].flag { flags.append(flag) }
            if v.touchesFieldOfViewEdge { flags.append(.cutByFieldOfView) }
            let voxels = grid.resamples ? regionVoxels[min(max(v.levelID, 0), 255)] : v.voxels
            return VertebraPrediction(levelID: v.levelID, centroidMM: v.centroidMM, centroidVoxel: geometry.index(worldMM: v.centroidMM),
                                      detectionScore: v.detectionScore, identificationConfidence: v.identificationConfidence,
                                      voxels: voxels, volumeML: Double(voxels) * voxelML, classProbabilities: probabilities[i], flags: flags)
        }
        let psnr = maps.reconstruction.map { PSNRMetric.psnr(prediction: $0, target: maps.input) }
        let prediction = SubjectPrediction(
            subjectID: id, source: source, checkpoint: checkpointURL.path, geometry: geometry, channelNames: channelNames,
            classNames: classNames, vertebrae: vertebrae, flags: decoded.flags, reconstructionPSNR: psnr, warnings: warnings)
        for warning in warnings where !warning.hasPrefix("predicted with") && !warning.hasPrefix("resampled from") { logger.warning("\(id): \(warning)") }
        let s = config.model.structureClasses
        // Structure labels: the argmax of the probabilities brought back (as nnU-Net exports), not of the model grid.
        let structureProbabilities = maps.structures.map { grid.mapsToInput($0, channels: s) }
        var volumes = PredictedVolumes(vertebrae: labelMap, structures: structureProbabilities.map { Self.argmax($0, voxels: geometry.voxelCount) })
        if options.keepMaps {
            volumes.heatmap = maps.heatmap.map { grid.mapsToInput($0, channels: 1) }
            volumes.foreground = maps.levels.map { levels in grid.mapsToInput((0..<n).map { 1 - levels[$0] }, channels: 1) }
            volumes.structureProbabilities = structureProbabilities
        }
        return (prediction, volumes)
    }
}
