import Foundation
import HDF5

/// What every subject of a dataset file shares: the root attributes.
public struct DatasetHeader: Equatable, Sendable {
    public var name: String
    public var classNames: [String]
    public var structureNames: [String]
    public var channelNames: [String]

    public init(name: String, classNames: [String], structureNames: [String] = StructureLabel.allCases.map(\.name),
                channelNames: [String]) {
        self.name = name
        self.classNames = classNames
        self.structureNames = structureNames
        self.channelNames = channelNames
    }
}

/// How a dataset file was made: stored under `/provenance`.
public struct Provenance: Equatable, Sendable {
    public struct SourceFile: Equatable, Sendable {
        public var path: String
        public var sha256: String
        public init(path: String, sha256: String) { (self.path, self.sha256) = (path, sha256) }
    }

    /// The command line that made the file.
    public var command: String
    /// The recipe or manifest, as JSON text.
    public var recipe: String?
    public var sourceFiles: [SourceFile]
    public var toolVersion: String
    public var created: String

    public init(command: String, recipe: String? = nil, sourceFiles: [SourceFile] = [], toolVersion: String = Rachis.version,
                created: String = DatasetFile.timestamp()) {
        (self.command, self.recipe, self.sourceFiles, self.toolVersion, self.created) = (command, recipe, sourceFiles, toolVersion, created)
    }
}

/// A named split of subject ids (a hold-out split, or one fold of k).
public struct Split: Equatable, Sendable {
    public var name: String
    public var train: [String]
    public var val: [String]
    public var test: [String]
    /// How it was made, e.g. "stratified 5-fold, seed 0".
    public var method: String

    public init(name: String, train: [String], val: [String], test: [String] = [], method: String) {
        (self.name, self.train, self.val, self.test, self.method) = (name, train, val, test, method)
    }
}

public enum DatasetError: Error, CustomStringConvertible, Equatable {
    case fileExists(String)
    case fileNotFound(String)
    case notADataset(file: String, reason: String)
    case unsupportedVersion(file: String, found: Int, supported: Int)
    case unknownSubject(file: String, id: String, known: Int)
    case invalidContent(file: String, object: String, message: String)
    case headerMismatch(subject: String, field: String, expected: [String], found: [String])
    case duplicateSubject(String)
    case invalidSubjectID(String)
    case cropOutOfBounds(file: String, subject: String, offset: [Int], size: [Int], shape: [Int])
    /// What `rachis dataset validate` lists, for a command that refuses to read such a file.
    case failsValidation(file: String, problems: [String])

    public var description: String {
        switch self {
        case let .fileExists(path): "\(path) exists: pass --force to overwrite it"
        case let .fileNotFound(path): "\(path) does not exist"
        case let .notADataset(file, reason): "\(file) is not a Rachis dataset: \(reason)"
        case let .unsupportedVersion(file, found, supported):
            "\(file): dataset format version \(found) is not supported (this Rachis reads version \(supported))"
        case let .unknownSubject(file, id, known): "\(file): no subject \"\(id)\" (the file has \(known) subjects)"
        case let .invalidContent(file, object, message): "\(file) \(object): \(message)"
        case let .headerMismatch(subject, field, expected, found):
            "subject \(subject): \(field) \(found) differ from the dataset's \(expected)"
        case let .duplicateSubject(id): "subject \"\(id)\" is written twice"
        case let .invalidSubjectID(id): "subject id \"\(id)\" may only use letters, digits, '.', '_' and '-'"
        case let .cropOutOfBounds(file, subject, offset, size, shape):
            "\(file) subject \(subject): crop at \(offset) of size \(size) does not fit the volume \(shape)"
        case let .failsValidation(file, problems):
            "\(file) fails validation (\(problems.count) problem\(problems.count == 1 ? "" : "s"); rachis dataset validate \(file) lists them all):\n"
                + problems.prefix(5).map { "  \(file) \($0)" }.joined(separator: "\n")
                + (problems.count > 5 ? "\n  ... and \(problems.count - 5) more" : "")
        }
    }
}

/// The HDF5 layout of a Rachis dataset (`schemas/dataset.schema.json`): names and write/read in one place.
public enum DatasetFile {
    public static let format = "rachis-spine-dataset"
    public static let formatVersion = 1

    public static func timestamp(_ date: Date = Date()) -> String {
        ISO8601DateFormatter().string(from: date)
    }

    static func isValidSubjectID(_ id: String) -> Bool {
        !id.isEmpty && id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
    }

    /// Chunks for a `[..., D, H, W]` volume: whole sagittal stacks of at most 16 slices, 64x64 in-plane tiles.
    static func chunks(_ shape: [Int]) -> [Int] {
        let n = shape.count
        return shape.enumerated().map { axis, size in
            switch n - axis {
            case 3: Swift.max(1, Swift.min(size, 16))
            case 2, 1: Swift.max(1, Swift.min(size, 64))
            default: 1
            }
        }
    }

    static let volumeGzipLevel = 4

    /// Writes a new dataset file atomically: nothing appears at `url` unless every subject was written.
    /// An existing file is replaced only with `overwrite`, and stays untouched when anything fails.
    public static func create(at url: URL, header: DatasetHeader, provenance: Provenance, overwrite: Bool = false,
                              _ body: (DatasetWriter) throws -> Void) throws {
        if FileManager.default.fileExists(atPath: url.path), !overwrite { throw DatasetError.fileExists(url.path) }
        try File.writeAtomically(to: url) { file in
            let writer = try DatasetWriter(file: file, header: header, provenance: provenance)
            try body(writer)
        }
    }

    /// Changes an existing file atomically: works on a copy in the same folder and renames it over the original
    /// only when `body` succeeds.
    public static func update(at url: URL, _ body: (File) throws -> Void) throws {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw DatasetError.fileNotFound(url.path)
        }
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        try FileManager.default.copyItem(at: url, to: temporary)
        do {
            do {
                let file = try File.open(temporary, mode: .readWrite)
                try body(file)
                try file.close()
            }
            guard rename(temporary.path, url.path) == 0 else {
                throw DatasetError.invalidContent(file: url.path, object: "/", message: "cannot replace the file: \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    /// Adds (or replaces) splits in an existing dataset file, atomically. Every id must name a subject of the file.
    public static func addSplits(_ splits: [Split], to url: URL) throws {
        let known = Set(try DatasetReader(url: url).subjectIDs)
        for split in splits {
            for id in split.train + split.val + split.test where !known.contains(id) {
                throw DatasetError.unknownSubject(file: url.path, id: id, known: known.count)
            }
        }
        try update(at: url) { file in
            for split in splits { try writeSplit(split, into: file) }
        }
    }

    static func writeSplit(_ split: Split, into file: File) throws {
        let path = "splits/" + split.name
        if file.exists(path) { try file.remove(path) }
        let group = try file.createGroup(path)
        try group.setAttribute("method", split.method)
        try group.createDataset("train", strings: split.train)
        try group.createDataset("val", strings: split.val)
        if !split.test.isEmpty { try group.createDataset("test", strings: split.test) }
    }
}

/// Adds subjects to a dataset file being created by `DatasetFile.create`.
public final class DatasetWriter {
    let file: File
    public let header: DatasetHeader
    private var written: Set<String> = []

    init(file: File, header: DatasetHeader, provenance: Provenance) throws {
        self.file = file
        self.header = header
        try file.setAttribute("format", DatasetFile.format)
        try file.setAttribute("format_version", Int64(DatasetFile.formatVersion))
        try file.setAttribute("name", header.name)
        try file.setAttribute("created", provenance.created)
        try file.setAttribute("level_scheme", "VerSe")
        try file.setAttribute("world_coordinates", "RAS")
        try file.setAttribute("orientation", "PIR")
        try file.setAttribute("class_names", header.classNames)
        try file.setAttribute("structure_names", header.structureNames)
        try file.setAttribute("channel_names", header.channelNames)
        _ = try file.createGroup("subjects")
        let p = try file.createGroup("provenance")
        try p.setAttribute("tool", "rachis")
        try p.setAttribute("tool_version", provenance.toolVersion)
        try p.setAttribute("command", provenance.command)
        try p.setAttribute("created", provenance.created)
        if let recipe = provenance.recipe { try p.setAttribute("recipe", recipe) }
        if !provenance.sourceFiles.isEmpty {
            try p.createDataset("source_files", strings: provenance.sourceFiles.map(\.path))
            try p.createDataset("source_sha256", strings: provenance.sourceFiles.map(\.sha256))
        }
    }

    /// Writes one subject, and its exact truth under `truth/` when given (`SubjectTruth`). Its channels and class
    /// names must be the dataset's.
    public func add(_ subject: Subject, truth: SubjectTruth? = nil) throws {
        guard DatasetFile.isValidSubjectID(subject.id) else { throw DatasetError.invalidSubjectID(subject.id) }
        guard !written.contains(subject.id) else { throw DatasetError.duplicateSubject(subject.id) }
        guard subject.channelNames == header.channelNames else {
            throw DatasetError.headerMismatch(subject: subject.id, field: "channel names", expected: header.channelNames, found: subject.channelNames)
        }
        guard subject.classNames == header.classNames else {
            throw DatasetError.headerMismatch(subject: subject.id, field: "class names", expected: header.classNames, found: subject.classNames)
        }
        try subject.validate()
        let g = try file.createGroup("subjects/" + subject.id)
        let geometry = subject.geometry
        try g.setAttribute("annotation_mode", subject.annotationMode.rawValue)
        try g.setAttribute("tasks", subject.tasks.map(\.rawValue))
        try g.setAttribute("spacing_mm", geometry.spacingMM)
        try g.setAttribute("origin_mm", geometry.originMM)
        try g.setAttribute("direction", geometry.direction.flatMap { $0 }, shape: [3, 3])
        let volume = geometry.shape
        let imageShape = [subject.channelNames.count] + volume
        try g.createDataset("image", values: subject.image, shape: imageShape,
                            options: DatasetOptions(chunks: DatasetFile.chunks(imageShape), gzipLevel: DatasetFile.volumeGzipLevel))
        let options = DatasetOptions(chunks: DatasetFile.chunks(volume), gzipLevel: DatasetFile.volumeGzipLevel)
        if subject.hasVoxelLabels {
            try g.createDataset("labels/vertebrae", values: subject.vertebraLabels, shape: volume, options: options)
            try g.createDataset("labels/structures", values: subject.structureLabels, shape: volume, options: options)
            try g.createDataset("annotated/vertebrae", values: subject.vertebraAnnotated, shape: volume, options: options)
            try g.createDataset("annotated/structures", values: subject.structureAnnotated, shape: volume, options: options)
        }
        if let pseudo = subject.pseudoLabels {
            try g.createDataset("pseudo/structures", values: pseudo.structures, shape: volume, options: options)
            let group = try g.openGroup("pseudo")
            try group.setAttribute("threshold", pseudo.threshold)
            try group.setAttribute("samples", Int64(pseudo.samples))
            try group.setAttribute("checkpoint", pseudo.checkpoint)
        }
        if !subject.structureDescriptors.isEmpty {
            let rows = subject.structureDescriptors, k = rows.count
            try g.createDataset("descriptors/structure", values: rows.map { Int32($0.structure) }, shape: [k])
            try g.createDataset("descriptors/size_mm3", values: rows.map { $0.sizeMM3 ?? .nan }, shape: [k])
            try g.createDataset("descriptors/centroid_mm", values: rows.flatMap { $0.centroidMM ?? [.nan, .nan, .nan] }, shape: [k, 3])
            try g.createDataset("descriptors/mean_distance_mm", values: rows.map { $0.meanDistanceMM ?? .nan }, shape: [k])
            try g.createDataset("descriptors/surface_mm2", values: rows.map { $0.surfaceMM2 ?? .nan }, shape: [k])
        }
        for (r, rater) in subject.raters.enumerated() {
            try g.createDataset("raters/\(r)/vertebrae", values: rater.vertebraLabels, shape: volume, options: options)
            try g.createDataset("raters/\(r)/structures", values: rater.structureLabels, shape: volume, options: options)
        }
        let rows = subject.vertebrae
        let table = try g.createGroup("vertebrae")
        try table.createDataset("level_id", values: rows.map { Int32($0.level.id) }, shape: [rows.count])
        try table.createDataset("centroid_mm", values: rows.flatMap { $0.centroidMM ?? [.nan, .nan, .nan] }, shape: [rows.count, 3])
        try table.createDataset("class", values: rows.map { Int32($0.classIndex ?? -1) }, shape: [rows.count])
        try table.createDataset("annotation", strings: rows.map(\.annotation.rawValue))
        try table.createDataset("cut_by_field_of_view", values: rows.map { UInt8($0.cutByFieldOfView ? 1 : 0) }, shape: [rows.count])
        let raterCount = rows.map(\.raterClasses.count).max() ?? 0
        if raterCount > 0 {
            let classes = rows.flatMap { row in (0..<raterCount).map { Int32(row.raterClasses.indices.contains($0) ? row.raterClasses[$0] : -1) } }
            try table.createDataset("rater_classes", values: classes, shape: [rows.count, raterCount])
        }
        if let truth { try write(truth, of: subject, into: g, options: options) }
        written.insert(subject.id)
    }

    private func write(_ truth: SubjectTruth, of subject: Subject, into g: Group, options: DatasetOptions) throws {
        let n = subject.geometry.voxelCount
        for (field, count) in [("truth.vertebraLabels", truth.vertebraLabels.count), ("truth.structureLabels", truth.structureLabels.count)] where count != n {
            throw Subject.Error.sizeMismatch(subject: subject.id, field: field, expected: n, found: count)
        }
        for v in truth.vertebrae where !header.classNames.indices.contains(v.classIndex) {
            throw Subject.Error.classOutOfRange(subject: subject.id, level: v.level.name, classIndex: v.classIndex, classCount: header.classNames.count)
        }
        let volume = subject.geometry.shape, rows = truth.vertebrae, base = SubjectTruth.group
        try g.createDataset(base + "/labels/vertebrae", values: truth.vertebraLabels, shape: volume, options: options)
        try g.createDataset(base + "/labels/structures", values: truth.structureLabels, shape: volume, options: options)
        try g.openGroup(base).setAttribute("source", truth.source)
        try g.createDataset(base + "/vertebrae/level_id", values: rows.map { Int32($0.level.id) }, shape: [rows.count])
        try g.createDataset(base + "/vertebrae/centroid_mm", values: rows.flatMap(\.centroidMM), shape: [rows.count, 3])
        try g.createDataset(base + "/vertebrae/class", values: rows.map { Int32($0.classIndex) }, shape: [rows.count])
    }

    /// Writes a split; every id must name a subject already written.
    public func add(_ split: Split) throws {
        for id in split.train + split.val + split.test where !written.contains(id) {
            throw DatasetError.unknownSubject(file: file.url.path, id: id, known: written.count)
        }
        try DatasetFile.writeSplit(split, into: file)
    }
}

extension Subject {
    /// Whether the subject carries any voxel labels (labels and annotation masks are stored).
    public var hasVoxelLabels: Bool { annotationMode.hasVoxelLabels }
}
