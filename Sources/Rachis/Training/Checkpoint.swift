import Foundation
import HDF5
import Torch

/// A training checkpoint in HDF5 (`schemas/checkpoint.schema.json`): the model's weights under their dotted
/// names, the optimizer's and the loss weighting's state, libtorch's RNG state, the config, and the training state
/// needed to resume exactly. Written atomically (temporary file, then rename): a kill at any moment leaves the
/// previous checkpoint intact.
public struct Checkpoint {
    public static let format = "rachis-checkpoint"
    public static let schemaVersion = 1

    /// Where training stands: the next batch to train is (`epoch`, `nextBatch`).
    public struct State: Codable, Equatable, Sendable {
        public var epoch: Int
        public var nextBatch: Int
        /// Optimizer steps taken so far.
        public var step: Int
        public var bestMetric: String
        public var bestValue: Double?
        public var bestEpoch: Int?
        public init(epoch: Int = 0, nextBatch: Int = 0, step: Int = 0, bestMetric: String, bestValue: Double? = nil, bestEpoch: Int? = nil) {
            (self.epoch, self.nextBatch, self.step, self.bestMetric, self.bestValue, self.bestEpoch) = (epoch, nextBatch, step, bestMetric, bestValue, bestEpoch)
        }
    }

    /// What the model was trained on, so that inference can check its input: stored as the JSON attribute
    /// `dataset` (absent in checkpoints written before it existed).
    public struct TrainingData: Codable, Equatable, Sendable {
        public var name: String
        public var channelNames: [String]
        public var classNames: [String]
        public var structureNames: [String]
        /// Median voxel spacing [D, H, W] of the training subjects.
        public var spacingMM: [Double]
        /// How many labelled training subjects' fields of view start at each level (the most cranial vertebra, one
        /// count per `VertebraLevel.anatomicalIDs`): the decoder's start prior (`LevelSequenceDecoder.startPrior`).
        /// Nil in checkpoints written before it existed.
        public var firstLevelCounts: [Int]?
        /// The same for the most cranial vertebra that the field of view does not cut (`cut_by_field_of_view` 0 in
        /// the vertebra table): the start prior the decoder prefers, applied to its first vertebra that does not touch
        /// the field of view's top or bottom (`LevelSequenceDecoder.priorOnFirstWhole`). Nil in checkpoints written
        /// before it existed.
        public var firstWholeLevelCounts: [Int]?
        public init(name: String, channelNames: [String], classNames: [String], structureNames: [String], spacingMM: [Double],
                    firstLevelCounts: [Int]? = nil, firstWholeLevelCounts: [Int]? = nil) {
            (self.name, self.channelNames, self.classNames, self.structureNames, self.spacingMM, self.firstLevelCounts, self.firstWholeLevelCounts) =
                (name, channelNames, classNames, structureNames, spacingMM, firstLevelCounts, firstWholeLevelCounts)
        }
    }

    /// The seed and libtorch thread count a run was started with: `--resume` takes them, since the same seed and
    /// threads give the same result. Stored as the JSON attribute `run` (absent in checkpoints written before it).
    public struct RunSettings: Codable, Equatable, Sendable {
        public var seed: UInt64
        public var threads: Int
        public init(seed: UInt64, threads: Int) { (self.seed, self.threads) = (seed, threads) }
    }

    public var state: State
    public var dataset: TrainingData?
    public var run: RunSettings?
    /// The training config as JSON text.
    public var config: String
    /// The metrics history as JSON text (one object per logged row).
    public var history: String
    public var model: [String: Tensor]
    public var optimizer: [String: Tensor]
    public var lossWeighting: [String: Tensor]
    public var rngState: Tensor?

    public init(state: State, config: String, history: String, model: [String: Tensor], optimizer: [String: Tensor],
                lossWeighting: [String: Tensor], rngState: Tensor?) {
        (self.state, self.config, self.history, self.model, self.optimizer, self.lossWeighting, self.rngState) =
            (state, config, history, model, optimizer, lossWeighting, rngState)
    }

    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case notACheckpoint(file: String, reason: String)
        case unsupportedVersion(file: String, found: Int, supported: Int)
        case unsupportedTensor(file: String, name: String, dtype: String)
        case nonFinite(file: String, name: String, count: Int, total: Int)

        public var description: String {
            switch self {
            case let .notACheckpoint(file, reason): "\(file) is not a Rachis checkpoint: \(reason)"
            case let .unsupportedVersion(file, found, supported):
                "\(file): checkpoint schema version \(found) is not supported (this Rachis reads version \(supported)); retrain or use the Rachis version that wrote it"
            case let .unsupportedTensor(file, name, dtype): "\(file) \(name): tensors of type \(dtype) cannot be stored"
            case let .nonFinite(file, name, count, total):
                "\(file) \(name): \(count) of \(total) values are NaN or infinite; the checkpoint cannot be used (resume from or predict with an earlier one)"
            }
        }
    }

    public func write(to url: URL) throws {
        try File.writeAtomically(to: url) { file in
            try file.setAttribute("format", Self.format)
            try file.setAttribute("schema_version", Int64(Self.schemaVersion))
            try file.setAttribute("created", DatasetFile.timestamp())
            try file.setAttribute("rachis_version", Rachis.version)
            try file.setAttribute("libtorch_version", Torch.version)
            try file.setAttribute("config", config)
            try file.setAttribute("history", history)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try file.setAttribute("state", String(decoding: try encoder.encode(state), as: UTF8.self))
            if let dataset { try file.setAttribute("dataset", String(decoding: try encoder.encode(dataset), as: UTF8.self)) }
            if let run { try file.setAttribute("run", String(decoding: try encoder.encode(run), as: UTF8.self)) }
            for (group, tensors) in [("model", model), ("optimizer", optimizer), ("loss_weighting", lossWeighting)] {
                let g = try file.createGroup(group)
                for name in tensors.keys.sorted() { try Self.write(tensors[name]!, named: name, into: g, file: url.path) }
            }
            if let rngState { try Self.write(rngState, named: "rng_state", into: file, file: url.path) }
        }
    }

    public static func read(from url: URL) throws -> Checkpoint {
        let file: File
        do { file = try File.open(url, mode: .readOnly) } catch let error as HDF5Error {
            throw Error.notACheckpoint(file: url.path, reason: error.kind == .fileNotFound ? "the file does not exist" : "HDF5 cannot open it")
        }
        guard file.hasAttribute("format"), try file.readAttribute("format", as: String.self) == format else {
            throw Error.notACheckpoint(file: url.path, reason: "the root attribute format is not \"\(format)\"")
        }
        let version = Int(try file.readAttribute("schema_version", as: Int64.self))
        guard version == schemaVersion else { throw Error.unsupportedVersion(file: url.path, found: version, supported: schemaVersion) }
        let state = try JSONDecoder().decode(State.self, from: Data(try file.readAttribute("state", as: String.self).utf8))
        func tensors(_ group: String) throws -> [String: Tensor] {
            guard file.exists(group) else { return [:] }
            let g = try file.openGroup(group)
            var result: [String: Tensor] = [:]
            for child in try g.children() where child.kind == .dataset {
                result[child.name] = try readTensor(try g.openDataset(child.name), file: url.path)
            }
            return result
        }
        var dataset: TrainingData?
        if file.hasAttribute("dataset") {
            do {
                dataset = try JSONDecoder().decode(TrainingData.self, from: Data(try file.readAttribute("dataset", as: String.self).utf8))
            } catch {
                throw Error.notACheckpoint(file: url.path, reason: "the attribute dataset is not valid: \(error)")
            }
        }
        let run = try runSettings(file, path: url.path)
        var checkpoint = Checkpoint(
            state: state, config: try file.readAttribute("config", as: String.self),
            history: try file.readAttribute("history", as: String.self),
            model: try tensors("model"), optimizer: try tensors("optimizer"), lossWeighting: try tensors("loss_weighting"),
            rngState: file.exists("rng_state") ? try readTensor(try file.openDataset("rng_state"), file: url.path) : nil)
        checkpoint.dataset = dataset
        checkpoint.run = run
        return checkpoint
    }

    /// Only the stored seed and thread count (nil when the checkpoint predates them), without reading the tensors.
    public static func runSettings(at url: URL) throws -> RunSettings? {
        let file: File
        do { file = try File.open(url, mode: .readOnly) } catch let error as HDF5Error {
            throw Error.notACheckpoint(file: url.path, reason: error.kind == .fileNotFound ? "the file does not exist" : "HDF5 cannot open it")
        }
        return try runSettings(file, path: url.path)
    }

    static func runSettings(_ file: File, path: String) throws -> RunSettings? {
        guard file.hasAttribute("run") else { return nil }
        do {
            return try JSONDecoder().decode(RunSettings.self, from: Data(try file.readAttribute("run", as: String.self).utf8))
        } catch {
            throw Error.notACheckpoint(file: path, reason: "the attribute run is not valid: \(error)")
        }
    }

    static func write(_ tensor: Tensor, named name: String, into group: Container, file: String) throws {
        let t = try tensor.detached().to(device: .cpu)
        let shape = t.shape
        let dataset: HDF5.Dataset
        switch t.dtype {
        case .float32: dataset = try group.createDataset(name, values: try t.array(Float.self), shape: shape)
        case .float64: dataset = try group.createDataset(name, values: try t.array(Double.self), shape: shape)
        case .int64: dataset = try group.createDataset(name, values: try t.array(Int64.self), shape: shape)
        case .int32: dataset = try group.createDataset(name, values: try t.array(Int32.self), shape: shape)
        case .uint8: dataset = try group.createDataset(name, values: try t.array(UInt8.self), shape: shape)
        case .bool: dataset = try group.createDataset(name, values: try t.to(.uint8).array(UInt8.self), shape: shape)
        default: throw Error.unsupportedTensor(file: file, name: name, dtype: "\(t.dtype)")
        }
        try dataset.setAttribute("dtype", "\(t.dtype)")
    }

    /// Refuses NaN or infinite values: a model with them predicts nothing (or garbage) without failing.
    static func finite<T: BinaryFloatingPoint>(_ values: [T], _ dataset: HDF5.Dataset, file: String) throws -> [T] {
        let bad = values.reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
        guard bad == 0 else { throw Error.nonFinite(file: file, name: dataset.path, count: bad, total: values.count) }
        return values
    }

    static func readTensor(_ dataset: HDF5.Dataset, file: String) throws -> Tensor {
        let shape = try dataset.shape
        let dtype = dataset.hasAttribute("dtype") ? try dataset.readAttribute("dtype", as: String.self) : "\(try dataset.elementType)"
        switch dtype {
        case "float32": return try Tensor(try finite(try dataset.read(as: Float.self).values, dataset, file: file), shape: shape)
        case "float64": return try Tensor(try finite(try dataset.read(as: Double.self).values, dataset, file: file), shape: shape)
        case "int64": return try Tensor(try dataset.read(as: Int64.self).values, shape: shape)
        case "int32": return try Tensor(try dataset.read(as: Int32.self).values, shape: shape)
        case "uint8": return try Tensor(try dataset.read(as: UInt8.self).values, shape: shape)
        case "bool": return try Tensor(try dataset.read(as: UInt8.self).values, shape: shape).to(.bool)
        default: throw Error.unsupportedTensor(file: file, name: dataset.path, dtype: dtype)
        }
    }
}
