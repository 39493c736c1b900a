import Foundation
import Logging
import Torch

/// Confidence relabeling of partial structure labels, in the spirit of INERRANT (Petit, Thome and Soler, "Iterative
/// Confidence Relabeling with Deep ConvNets for Organ Segmentation with Partial Labels", 2021): a trained model
/// predicts every subject whose structure labels leave voxels unlabelled, and its confident predictions on those
/// voxels become pseudo-labels in a new dataset file.
///
/// Confidence comes from Monte Carlo dropout (Gal and Ghahramani 2016): T forward passes with the residual blocks'
/// dropout active (normalisation in evaluation mode), p̄ = (1/T) Σ_t p_t the mean softmax, k = argmax p̄ the
/// consensus class, and
///
///     confidence(v) = p̄_k(v) = (1/T) Σ_t p_t,k(v)
///
/// the probability mass the passes agree on for the consensus class: high only where the model is both sure and
/// stable under dropout. MC dropout needs no extra head (the model is the one `rachis train` makes, and a
/// confidence head would have to be trained against its own errors, which partial labels give only on the labelled
/// voxels); with T = 1 it is the plain softmax confidence.
///
/// A voxel gets pseudo-label k when it is unlabelled in the ground truth and confidence ≥ `threshold`. Ground truth
/// is `annotated/structures` minus earlier pseudo-labels: a file that already holds pseudo-labels is relabelled from
/// its ground truth (earlier pseudo-labels are dropped and decided again), so rounds with a falling threshold form a
/// curriculum (train → relabel at τ₁ → train → relabel at τ₂ < τ₁ → ...). Ground-truth voxels, the vertebra
/// labels, the table, raters and splits are copied unchanged. The input file is only read; the output is written
/// atomically and must be another file.
public struct Relabeler {
    public struct Options: Sendable {
        /// Confidence a prediction must reach to become a pseudo-label, in (0, 1].
        public var threshold = 0.9
        /// MC-dropout passes (1: the softmax confidence of one deterministic pass).
        public var samples = 8
        public var seed: UInt64 = 0
        public var device: Device = .cpu
        public var overwrite = false
        /// Run the model at the training spacing (each subject resampled there, its probabilities brought back);
        /// false: on the subject's own voxels.
        public var resample = true
        public init() {}
    }

    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case badOption(String)
        case sameFile(String)
        case mismatch(checkpoint: String, dataset: String, reason: String)

        public var description: String {
            switch self {
            case let .badOption(message): message
            case let .sameFile(path): "--out names the input file \(path): relabel writes a new dataset file and never changes its input"
            case let .mismatch(checkpoint, dataset, reason): "\(checkpoint) does not fit \(dataset): \(reason)"
            }
        }
    }

    /// What one subject got.
    public struct SubjectSummary: Codable, Equatable, Sendable {
        public var id: String
        /// Voxels without a ground-truth structure label.
        public var unlabelledVoxels: Int
        public var pseudoLabelledVoxels: Int
        /// Pseudo-labelled voxels per structure class.
        public var perStructure: [Int]
    }

    public let predictor: Predictor
    public let options: Options
    let logger: Logger

    public init(checkpoint: URL, options: Options = Options(), logger: Logger = Logger(label: "rachis.relabel")) throws {
        guard options.threshold > 0, options.threshold <= 1 else { throw Error.badOption("--threshold must be in (0, 1], found \(options.threshold)") }
        guard options.samples >= 1 else { throw Error.badOption("--samples must be at least 1, found \(options.samples)") }
        var predictorOptions = Predictor.Options()
        predictorOptions.device = options.device
        predictorOptions.resample = options.resample
        predictor = try Predictor(checkpoint: checkpoint, options: predictorOptions, logger: logger)
        guard predictor.config.model.heads.segmentation else {
            throw Error.mismatch(checkpoint: checkpoint.path, dataset: "relabeling", reason: "its model has no segmentation head (model.heads.segmentation is false)")
        }
        if options.samples > 1, predictor.config.model.dropout == 0 {
            throw Error.badOption("\(checkpoint.path) was trained with model.dropout = 0, so MC-dropout passes would all agree: train with --set model.dropout=0.1 (or more), or pass --samples 1 for the softmax confidence of one pass")
        }
        self.options = options
        self.logger = logger
    }

    /// Reads `input`, writes `output` with pseudo-labels, returns a summary per subject (in file order).
    public func relabel(input: URL, output: URL, command: String) throws -> [SubjectSummary] {
        let inputPath = input.standardizedFileURL.resolvingSymlinksInPath().path
        guard inputPath != output.standardizedFileURL.resolvingSymlinksInPath().path else { throw Error.sameFile(input.path) }
        let reader = try DatasetReader(url: input)
        try reader.requireValid()
        let checkpoint = predictor.checkpointURL.path
        guard reader.header.channelNames.count == predictor.config.model.inChannels else {
            throw Error.mismatch(checkpoint: checkpoint, dataset: input.path, reason: "the dataset has \(reader.header.channelNames.count) channels (\(reader.header.channelNames.joined(separator: ", "))), the model \(predictor.config.model.inChannels) (\(predictor.channelNames.joined(separator: ", ")))")
        }
        guard reader.header.structureNames.count == predictor.config.model.structureClasses else {
            throw Error.mismatch(checkpoint: checkpoint, dataset: input.path, reason: "the dataset names \(reader.header.structureNames.count) structures, the model segments \(predictor.config.model.structureClasses)")
        }
        if FileManager.default.fileExists(atPath: output.path), !options.overwrite { throw DatasetError.fileExists(output.path) }
        let provenance = try reader.provenance()
        var summaries: [SubjectSummary] = []
        try DatasetFile.create(at: output, header: reader.header,
                               provenance: Provenance(command: command, recipe: provenance.recipe, sourceFiles: provenance.sourceFiles),
                               overwrite: options.overwrite) { writer in
            for id in reader.subjectIDs {
                var subject = try reader.subject(id)
                if let summary = try relabel(&subject) { summaries.append(summary) }
                try writer.add(subject)
            }
            for split in try reader.splits() { try writer.add(split) }
        }
        return summaries
    }

    /// Pseudo-labels one subject in place; nil when it has no unlabelled structure voxel to relabel (or no true
    /// structure masks: boxes, class-only and unlabelled subjects are copied as they are).
    func relabel(_ subject: inout Subject) throws -> SubjectSummary? {
        guard subject.hasVoxelLabels, LearningTask.supported(by: subject.annotationMode).contains(.segmentation) else { return nil }
        let n = subject.geometry.voxelCount
        let earlier = subject.pseudoLabels?.structures ?? [UInt8](repeating: 0, count: n)
        // Ground truth: annotated and not an earlier pseudo-label.
        let truth = (0..<n).map { subject.structureAnnotated[$0] != 0 && earlier[$0] == 0 }
        for i in 0..<n where earlier[i] != 0 {
            subject.structureAnnotated[i] = 0
            subject.structureLabels[i] = 0
        }
        subject.pseudoLabels = nil
        let unlabelled = truth.filter { !$0 }.count
        guard unlabelled > 0 else { return nil }
        let (labels, confidence) = try predict(subject)
        var pseudo = [UInt8](repeating: 0, count: n)
        var perStructure = [Int](repeating: 0, count: predictor.config.model.structureClasses)
        for i in 0..<n where !truth[i] && confidence[i] >= Float(options.threshold) {
            pseudo[i] = 1
            subject.structureLabels[i] = labels[i]
            subject.structureAnnotated[i] = 1
            perStructure[Int(labels[i])] += 1
        }
        let count = pseudo.reduce(0) { $0 + Int($1) }
        subject.pseudoLabels = PseudoLabels(structures: pseudo, threshold: options.threshold, samples: options.samples,
                                            checkpoint: predictor.checkpointURL.path)
        logger.info("relabelled", metadata: ["subject": "\(subject.id)", "unlabelled": "\(unlabelled)", "pseudo": "\(count)"])
        return SubjectSummary(id: subject.id, unlabelledVoxels: unlabelled, pseudoLabelledVoxels: count, perStructure: perStructure)
    }

    /// The consensus class and its MC-dropout confidence per voxel.
    func predict(_ subject: Subject) throws -> (labels: [UInt8], confidence: [Float]) {
        let model = predictor.model, n = subject.geometry.voxelCount, s = predictor.config.model.structureClasses
        model.eval()
        if options.samples > 1 {
            for (_, module) in model.namedModules() where module is Dropout { module.train() }
        }
        defer { model.eval() }
        Torch.manualSeed(options.seed)
        // The passes run on the model grid (the subject resampled to the training spacing); their mean comes back
        // onto the subject's grid, where the labels are.
        let grid = predictor.grid(for: subject.geometry)
        let image = grid.imageToModel(subject.image, channels: predictor.config.model.inChannels)
        var modelSum = [Float](repeating: 0, count: s * grid.model.voxelCount)
        for _ in 0..<options.samples {
            let maps = try predictor.maps(image: image, geometry: grid.model, source: subject.id)
            guard let p = maps.structures else { throw Error.badOption("the model gave no segmentation") }
            for j in modelSum.indices { modelSum[j] += p[j] }
        }
        let sum = grid.mapsToInput(modelSum, channels: s)
        let scale = 1 / Float(options.samples)
        var labels = [UInt8](repeating: 0, count: n), confidence = [Float](repeating: 0, count: n)
        for i in 0..<n {
            var best = 0
            for c in 1..<s where sum[c * n + i] > sum[best * n + i] { best = c }
            labels[i] = UInt8(best)
            confidence[i] = sum[best * n + i] * scale
        }
        return (labels, confidence)
    }
}
