import Foundation

/// A folder of predictions, one subject per set of files:
///
///     <subject>.json                the vertebrae, levels and classes (schemas/prediction.schema.json)
///     <subject>_vertebrae.nii.gz    vertebra regions by VerSe level id, uint8
///     <subject>_structures.nii.gz   structure labels, uint8 (when the model segments)
///     <subject>_heatmap.nii.gz, <subject>_foreground.nii.gz   with --save-maps: the localization heatmap and the
///                                   identification head's vertebra probability, float32 (each when the model has
///                                   the head)
///     <subject>_probabilities.nii.gz  with --save-maps: the segmentation head's softmax, float32, one channel
///                                   (NIfTI dim[4]) per structure class in `StructureLabel` order
///     <subject>_attribution.nii.gz  attribution heat in [0, 1], float32 (after rachis attribution validate)
///     manifest.json                 what was predicted with what (schemas/predictions-manifest.schema.json):
///                                   written before the first subject with `completed: false`, rewritten last
///                                   with `completed: true`; commands that read the folder refuse it otherwise
///
/// The label maps lie on the input's own grid (`SubjectPrediction.geometry`: an image file's array order and affine, a
/// dataset subject's grid), so they overlay the image in any viewer. Every file is written atomically.
public struct PredictionFolder: Sendable {
    public let url: URL
    public init(_ url: URL) { self.url = url }

    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case missing(path: String)
        case invalid(path: String, reason: String)
        case empty(path: String)
        case notEmpty(path: String)
        case notPredictions(path: String, example: String)
        case incomplete(path: String, missing: [String], total: Int)
        case mixed(path: String, extra: [String], checkpoint: String)

        public var description: String {
            switch self {
            case let .notEmpty(path): "\(path) already holds predictions: pass --force to replace them (the folder's contents are removed first), or choose another --out"
            case let .notPredictions(path, example):
                "\(path) holds files that rachis predict did not write (\(example)): choose an empty or new --out folder; --force only clears predictions folders"
            case let .incomplete(path, missing, total):
                "\(path) is incomplete: \(missing.count) of the \(total) subjects in its manifest.json are missing (\(PredictionFolder.list(missing))); the predict that wrote it did not finish: rerun it with --force"
            case let .mixed(path, extra, checkpoint):
                "\(path) mixes predictions: \(PredictionFolder.list(extra)) \(extra.count == 1 ? "is" : "are") not in its manifest.json (predicted with \(checkpoint)): rerun predict with --force into this folder, or use a fresh one"
            case let .missing(path): "\(path) does not exist; run rachis predict first"
            case let .invalid(path, reason): "\(path) is not a valid Rachis prediction: \(reason)"
            case let .empty(path): "\(path) holds no predictions (<subject>.json files)"
            }
        }
    }

    static func list(_ ids: [String]) -> String { ids.prefix(8).joined(separator: ", ") + (ids.count > 8 ? ", ... (\(ids.count - 8) more)" : "") }

    public func json(_ id: String) -> URL { url.appendingPathComponent("\(id).json") }
    public func vertebrae(_ id: String) -> URL { url.appendingPathComponent("\(id)_vertebrae.nii.gz") }
    public func structures(_ id: String) -> URL { url.appendingPathComponent("\(id)_structures.nii.gz") }
    public func probabilities(_ id: String) -> URL { url.appendingPathComponent("\(id)_probabilities.nii.gz") }
    /// The attribution heat map `rachis attribution validate` writes (max over the subject's decisions of R⁺ / max R⁺).
    public func attribution(_ id: String) -> URL { url.appendingPathComponent("\(id)_attribution.nii.gz") }

    public func write(_ prediction: SubjectPrediction, volumes: PredictedVolumes) throws {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let id = prediction.subjectID
        let geometry = prediction.geometry
        try ImageIO.write(ImageVolume(geometry: geometry, voxels: volumes.vertebrae.map(Float.init), voxelType: .uint8), to: vertebrae(id))
        if let s = volumes.structures {
            try ImageIO.write(ImageVolume(geometry: geometry, voxels: s.map(Float.init), voxelType: .uint8), to: structures(id))
        }
        let maps = [(volumes.heatmap, url.appendingPathComponent("\(id)_heatmap.nii.gz")),
                    (volumes.foreground, url.appendingPathComponent("\(id)_foreground.nii.gz")),
                    (volumes.structureProbabilities, probabilities(id))]
        for case let (map?, file) in maps {
            try ImageIO.write(ImageVolume(geometry: geometry, channels: map.count / geometry.voxelCount, voxels: map), to: file)
        }
        try AtomicFile.write(try Self.encode(prediction), to: json(id))
    }

    /// After an attribution check: the updated JSON and the heat map (the label maps are unchanged).
    public func writeAttribution(_ prediction: SubjectPrediction, heat: [Float]?) throws {
        if let heat { try ImageIO.write(ImageVolume(geometry: prediction.geometry, voxels: heat), to: attribution(prediction.subjectID)) }
        try AtomicFile.write(try Self.encode(prediction), to: json(prediction.subjectID))
    }

    /// The subjects in the folder, sorted: every `<id>.json` with an `<id>_vertebrae.nii.gz` beside it (so other JSON
    /// files written into the folder, such as evaluation.json, are not mistaken for predictions).
    public func subjectIDs() throws -> [String] {
        let ids = try writtenIDs()
        guard !ids.isEmpty else { throw Error.empty(path: url.path) }
        return ids
    }

    func writtenIDs() throws -> [String] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder), isFolder.boolValue else {
            throw Error.missing(path: url.path)
        }
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: url.path))
        return names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }
            .map { String($0.dropLast(5)) }
            .filter { names.contains("\($0)_vertebrae.nii.gz") }
            .sorted()
    }

    // MARK: Manifest

    /// What a predictions folder holds and what made it, written by `rachis predict`.
    public struct Manifest: Codable, Equatable, Sendable {
        public var format = "rachis-predictions"
        public var formatVersion = 1
        public var created = DatasetFile.timestamp()
        public var rachisVersion = Rachis.version
        public var checkpoint: String
        public var checkpointSHA256: String
        /// The dataset file, for subjects of a dataset; nil for image files.
        public var dataset: String?
        public var split: String?
        public var part: String?
        public var images: [String]?
        public var subjects: [String]
        /// False until every subject is written.
        public var completed = false
        public init(checkpoint: String, checkpointSHA256: String, subjects: [String]) {
            (self.checkpoint, self.checkpointSHA256, self.subjects) = (checkpoint, checkpointSHA256, subjects)
        }
    }

    public var manifestURL: URL { url.appendingPathComponent("manifest.json") }

    public func writeManifest(_ manifest: Manifest) throws {
        try AtomicFile.write(try manifest.prettyJSON(), to: manifestURL)
    }

    /// The manifest, nil when the folder has none (written by hand or by a Rachis before manifests).
    public func readManifest() throws -> Manifest? {
        guard let data = FileManager.default.contents(atPath: manifestURL.path) else { return nil }
        let value = try JSONValue.parse(data, source: manifestURL.path)
        if let first = try JSONSchema.shipped("predictions-manifest.schema.json").validate(value).first {
            throw Error.invalid(path: manifestURL.path, reason: "\(first)")
        }
        do {
            return try JSONDecoder().decode(Manifest.self, from: data)
        } catch {
            throw Error.invalid(path: manifestURL.path, reason: "\(error)")
        }
    }

    /// Refuses a folder that a predict did not finish (its manifest is not completed, or subjects it lists are
    /// missing) or that mixes in subjects its manifest does not list. Returns the manifest; nil when the folder has
    /// none, so that its completeness cannot be checked.
    @discardableResult
    public func requireComplete() throws -> Manifest? {
        let written = try writtenIDs()
        guard let manifest = try readManifest() else {
            if written.isEmpty { throw Error.empty(path: url.path) }
            return nil
        }
        let missing = manifest.subjects.filter { !written.contains($0) }
        if !manifest.completed || !missing.isEmpty {
            throw Error.incomplete(path: url.path, missing: missing.isEmpty ? manifest.subjects : missing, total: manifest.subjects.count)
        }
        let extra = written.filter { !manifest.subjects.contains($0) }
        if !extra.isEmpty { throw Error.mixed(path: url.path, extra: extra, checkpoint: manifest.checkpoint) }
        return manifest
    }

    /// Makes the folder ready for a new predict: created when missing; an existing one with predictions (or
    /// leftovers of a predict) is refused unless `force`, and then emptied. A folder holding anything else is never
    /// emptied. The lock file (`OutputLock`) is kept.
    public func prepare(force: Bool) throws {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let names = try FileManager.default.contentsOfDirectory(atPath: url.path).filter { $0 != OutputLock.folderLockName }
        guard !names.isEmpty else { return }
        guard force else { throw Error.notEmpty(path: url.path) }
        let ours = Set(try writtenIDs())
        func predicted(_ name: String) -> Bool {
            if ["manifest.json", "evaluation.json", "attribution"].contains(name) || TemporaryFiles.isTemporary(name) { return true }
            let base = name.hasSuffix(".json") ? String(name.dropLast(5)) : name.hasSuffix(".nii.gz") ? String(name.dropLast(7)) : nil
            guard let base else { return false }
            return ours.contains(base) || ours.contains { base.hasPrefix($0 + "_") }
        }
        if let foreign = names.sorted().first(where: { !predicted($0) }) { throw Error.notPredictions(path: url.path, example: foreign) }
        for name in names { try FileManager.default.removeItem(at: url.appendingPathComponent(name)) }
    }

    /// Reads and schema-checks `<subject>.json`.
    public func read(_ id: String) throws -> SubjectPrediction {
        let file = json(id)
        guard let data = FileManager.default.contents(atPath: file.path) else { throw Error.missing(path: file.path) }
        let value = try JSONValue.parse(data, source: file.path)
        let violations = try JSONSchema.shipped("prediction.schema.json").validate(value)
        if let first = violations.first { throw Error.invalid(path: file.path, reason: "\(first)") }
        do {
            return try JSONDecoder().decode(SubjectPrediction.self, from: data)
        } catch {
            throw Error.invalid(path: file.path, reason: "\(error)")
        }
    }

    /// Reads the label maps (and the attribution heat map, when there is one), checking them against the JSON's
    /// geometry.
    public func readVolumes(_ prediction: SubjectPrediction) throws -> PredictedVolumes {
        let id = prediction.subjectID
        func read(_ file: URL) throws -> ImageVolume {
            // As written: on the prediction's grid (the input's own array order), not reoriented.
            let volume = try ImageIO.read(file, reorient: false)
            guard volume.geometry.shape == prediction.geometry.shape, volume.channels == 1 else {
                throw Error.invalid(path: file.path, reason: "shape \(volume.geometry.shape) x \(volume.channels) channels, expected \(prediction.geometry.shape) as in \(json(id).lastPathComponent)")
            }
            return volume
        }
        func labels(_ file: URL) throws -> [UInt8] { try read(file).intLabels(path: file.path).map { UInt8(clamping: $0) } }
        func exists(_ file: URL) -> Bool { FileManager.default.fileExists(atPath: file.path) }
        var volumes = PredictedVolumes(vertebrae: try labels(vertebrae(id)), structures: exists(structures(id)) ? try labels(structures(id)) : nil)
        if exists(attribution(id)) { volumes.attribution = try read(attribution(id)).voxels }
        return volumes
    }

    static func encode(_ prediction: SubjectPrediction) throws -> Data {
        try prediction.prettyJSON()
    }
}
