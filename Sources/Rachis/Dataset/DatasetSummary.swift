/// What `rachis dataset inspect` shows: the header, one row per subject, totals and splits.
public struct DatasetSummary: Codable, Sendable {
    public struct SubjectRow: Codable, Sendable {
        public var id: String
        public var shape: [Int]
        public var spacingMM: [Double]
        public var annotation: String
        public var tasks: [String]
        /// Level names cranial to caudal.
        public var levels: [String]
        /// Vertebrae per class name ("unannotated" for vertebrae without a class).
        public var classCounts: [String: Int]
        /// Whether the subject stores its exact truth (`/subjects/<id>/truth`, for evaluation only).
        public var truth: Bool
    }

    public struct SplitRow: Codable, Sendable {
        public var name: String
        public var method: String
        public var train: Int, val: Int, test: Int
    }

    public var file: String
    public var name: String
    public var formatVersion: Int
    public var channels: [String]
    public var classNames: [String]
    public var structureNames: [String]
    public var created: String
    public var command: String
    public var subjects: [SubjectRow]
    /// Vertebrae per class name over all subjects.
    public var classCounts: [String: Int]
    /// Subjects per annotation mode.
    public var annotationCounts: [String: Int]
    /// Subjects with an exact truth group.
    public var truthSubjects: Int
    public var splits: [SplitRow]

    public init(_ reader: DatasetReader) throws {
        let header = reader.header
        let provenance = try reader.provenance()
        file = reader.url.path
        name = header.name
        formatVersion = DatasetFile.formatVersion
        channels = header.channelNames
        classNames = header.classNames
        structureNames = header.structureNames
        created = provenance.created
        command = provenance.command
        subjects = try reader.subjectIDs.map { id in
            let geometry = try reader.geometry(of: id)
            let vertebrae = try reader.vertebrae(of: id)
            var counts: [String: Int] = [:]
            for v in vertebrae {
                let name = v.classIndex.map { header.classNames.indices.contains($0) ? header.classNames[$0] : "class \($0)" } ?? "unannotated"
                counts[name, default: 0] += 1
            }
            return SubjectRow(id: id, shape: geometry.shape, spacingMM: geometry.spacingMM,
                              annotation: try reader.annotationMode(of: id).rawValue, tasks: try reader.tasks(of: id).map(\.rawValue),
                              levels: vertebrae.map(\.level.name), classCounts: counts, truth: try reader.hasTruth(id))
        }
        classCounts = subjects.reduce(into: [:]) { total, row in row.classCounts.forEach { total[$0.key, default: 0] += $0.value } }
        annotationCounts = subjects.reduce(into: [:]) { $0[$1.annotation, default: 0] += 1 }
        truthSubjects = subjects.filter(\.truth).count
        splits = try reader.splits().map { SplitRow(name: $0.name, method: $0.method, train: $0.train.count, val: $0.val.count, test: $0.test.count) }
    }
}
