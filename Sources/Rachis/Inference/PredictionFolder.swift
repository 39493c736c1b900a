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
///
/// The label maps lie on the subject's canonical grid (`SubjectPrediction.geometry`) with its world geometry, so they
/// overlay the image in any viewer. Every file is written atomically.
public struct PredictionFolder: Sendable {
    public let url: URL
    public init(_ url: URL) { self.url = url }

    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case missing(path: String)
        case invalid(path: String, reason: String)
        case empty(path: String)

        public var description: String {
            switch self {
            case let .missing(path): "\(path) does not exist; run rachis predict first"
            case let .invalid(path, reason): "\(path) is not a valid Rachis prediction: \(reason)"
            case let .empty(path): "\(path) holds no predictions (<subject>.json files)"
            }
        }
    }

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
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder), isFolder.boolValue else {
            throw Error.missing(path: url.path)
        }
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: url.path))
        let ids = names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }
            .map { String($0.dropLast(5)) }
            .filter { names.contains("\($0)_vertebrae.nii.gz") }
            .sorted()
        guard !ids.isEmpty else { throw Error.empty(path: url.path) }
        return ids
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
            let volume = try ImageIO.read(file)
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
