/// In-memory subject: one MRI with its labels, as stored in one HDF5 group per subject.
///
/// Every volume is C-ordered `[D, H, W]` (the image `[C, D, H, W]`) on `geometry`'s grid; flat arrays
/// map 1:1 onto HDF5 datasets of the same shape. Labels only mean something where the matching
/// annotation mask is 1: a 0 label with a 0 mask is "unknown", not "background".

/// A VerSe vertebra level: 1-7 C1-C7, 8-19 T1-T12, 20-25 L1-L6, 26 sacrum, 28 T13.
public struct VertebraLevel: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public let id: Int

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case unknownID(Int)
        case unknownName(String)

        public var description: String {
            switch self {
            case .unknownID(let id):
                "unknown vertebra level id \(id): VerSe ids are 1-7 (C1-C7), 8-19 (T1-T12), 20-25 (L1-L6), 26 (sacrum), 28 (T13)"
            case .unknownName(let name):
                "unknown vertebra level name '\(name)': use C1-C7, T1-T13, L1-L6 or S"
            }
        }
    }

    /// Every valid id in anatomical order, cranial to caudal (T13 after T12, L6 after L5).
    public static let anatomicalIDs: [Int] = Array(1...19) + [28] + Array(20...26)

    public init(id: Int) throws(Error) {
        guard Self.anatomicalIDs.contains(id) else { throw .unknownID(id) }
        self.id = id
    }

    public init(name: String) throws(Error) {
        let upper = name.uppercased()
        guard let id = Self.anatomicalIDs.first(where: { Self.name(of: $0) == upper }) else {
            throw .unknownName(name)
        }
        self.id = id
    }

    public init(from decoder: Decoder) throws {
        try self.init(id: try decoder.singleValueContainer().decode(Int.self))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(id)
    }

    /// Position in `anatomicalIDs`: 0 for C1, increasing caudally.
    public var anatomicalOrder: Int { Self.anatomicalIDs.firstIndex(of: id)! }

    public var name: String { Self.name(of: id) }
    public var description: String { name }

    public enum Region: String, Sendable { case cervical, thoracic, lumbar, sacral }

    public var region: Region {
        switch id {
        case 1...7: .cervical
        case 8...19, 28: .thoracic
        case 20...25: .lumbar
        default: .sacral
        }
    }

    public static func < (a: Self, b: Self) -> Bool { a.anatomicalOrder < b.anatomicalOrder }

    private static func name(of id: Int) -> String {
        switch id {
        case 1...7: "C\(id)"
        case 8...19: "T\(id - 7)"
        case 20...25: "L\(id - 19)"
        case 26: "S"
        default: "T13"
        }
    }
}

/// Structure label values, one fixed list for every dataset.
public enum StructureLabel: UInt8, CaseIterable, Codable, Sendable {
    case background = 0
    case vertebralBody = 1
    case intervertebralDisc = 2
    /// CSF and spinal cord.
    case spinalCanal = 3
    /// SpA lesion inside a vertebral body (either class).
    case lesion = 4
    /// Pedicles, laminae and spinous process.
    case posteriorElements = 5
    /// A rib beside a thoracic vertebra: bone like the posterior elements, not part of the vertebra's mask (as in
    /// VerSe), and the cue a reader counts thoracic levels by.
    case rib = 6

    public var name: String {
        switch self {
        case .background: "background"
        case .vertebralBody: "vertebral body"
        case .intervertebralDisc: "intervertebral disc"
        case .spinalCanal: "spinal canal"
        case .lesion: "lesion"
        case .posteriorElements: "posterior elements"
        case .rib: "rib"
        }
    }
}

/// What a subject can train or evaluate.
public enum LearningTask: String, CaseIterable, Codable, Sendable, Comparable {
    case localization, identification, classification, segmentation, autoencoding

    public static func < (a: Self, b: Self) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// The tasks a subject annotated in `mode` supports (`AnnotationMode.tasks`).
    public static func supported(by mode: AnnotationMode) -> [LearningTask] { mode.tasks }
}

/// One row of the per-vertebra table.
public struct VertebraRecord: Equatable, Codable, Sendable {
    public var level: VertebraLevel
    /// Centroid of the vertebra's voxels (body and posterior elements) in RAS+ world millimetres;
    /// nil when the subject has no voxel labels.
    public var centroidMM: [Double]?
    /// Index into the subject's `classNames`; nil when the class is not annotated.
    public var classIndex: Int?
    /// One class per rater (empty unless the subject has raters).
    public var raterClasses: [Int]
    public var annotation: AnnotationMode
    /// The vertebra touches the top or bottom edge of the field of view.
    public var cutByFieldOfView: Bool

    public init(level: VertebraLevel, centroidMM: [Double]?, classIndex: Int?, raterClasses: [Int] = [],
                annotation: AnnotationMode, cutByFieldOfView: Bool) {
        self.level = level
        self.centroidMM = centroidMM
        self.classIndex = classIndex
        self.raterClasses = raterClasses
        self.annotation = annotation
        self.cutByFieldOfView = cutByFieldOfView
    }
}

/// One rater's voxel labels, `[D, H, W]` each.
public struct RaterLabels: Equatable, Sendable {
    public var vertebraLabels: [UInt8]
    public var structureLabels: [UInt8]

    public init(vertebraLabels: [UInt8], structureLabels: [UInt8]) {
        self.vertebraLabels = vertebraLabels
        self.structureLabels = structureLabels
    }
}

/// Structure labels that a model gave to voxels the annotators left unlabelled (`Relabeler`): `structures` is 1
/// where `structureLabels` holds such a pseudo-label (and `structureAnnotated` is 1 there too).
public struct PseudoLabels: Equatable, Sendable {
    /// `[D, H, W]` 0/1.
    public var structures: [UInt8]
    /// The confidence threshold the pseudo-labels passed.
    public var threshold: Double
    /// MC-dropout passes the confidence was estimated from.
    public var samples: Int
    /// The checkpoint that predicted them.
    public var checkpoint: String

    public init(structures: [UInt8], threshold: Double, samples: Int, checkpoint: String) {
        (self.structures, self.threshold, self.samples, self.checkpoint) = (structures, threshold, samples, checkpoint)
    }
}

/// A structure annotated by numbers instead of a mask (`AnnotationMode.descriptors`), as `ShapeDescriptors` defines
/// them; nil for a descriptor the annotator did not give.
public struct StructureDescriptorAnnotation: Equatable, Sendable {
    /// `StructureLabel` raw value (1...5).
    public var structure: Int
    public var sizeMM3: Double?
    /// RAS+ world millimetres.
    public var centroidMM: [Double]?
    /// Mean distance of the structure's voxels to its centroid, mm.
    public var meanDistanceMM: Double?
    /// Surface (total variation of the mask with forward differences, `ShapeDescriptors`), mm².
    public var surfaceMM2: Double?

    public init(structure: Int, sizeMM3: Double?, centroidMM: [Double]?, meanDistanceMM: Double?, surfaceMM2: Double?) {
        (self.structure, self.sizeMM3, self.centroidMM, self.meanDistanceMM, self.surfaceMM2) = (structure, sizeMM3, centroidMM, meanDistanceMM, surfaceMM2)
    }
}

public struct Subject: Equatable, Sendable {
    public var id: String
    public var geometry: Geometry
    /// Channel names, in image order (e.g. `["T1", "STIR"]`).
    public var channelNames: [String]
    /// `[C, D, H, W]` float32.
    public var image: [Float]
    /// VerSe level id per voxel, 0 where no vertebra (or not labelled: see `vertebraAnnotated`).
    public var vertebraLabels: [UInt8]
    /// `StructureLabel` raw value per voxel.
    public var structureLabels: [UInt8]
    /// 1 where `vertebraLabels` is a label (background included), 0 where unknown.
    public var vertebraAnnotated: [UInt8]
    /// 1 where `structureLabels` is a label (background included), 0 where unknown.
    public var structureAnnotated: [UInt8]
    /// Per-rater labels (empty unless `annotationMode == .raters`).
    public var raters: [RaterLabels]
    /// Pseudo-labels among the structure labels (`rachis relabel`), nil when there are none.
    public var pseudoLabels: PseudoLabels? = nil
    /// Per-structure shape descriptors (descriptor-only annotation); empty otherwise.
    public var structureDescriptors: [StructureDescriptorAnnotation] = []
    /// Cranial to caudal.
    public var vertebrae: [VertebraRecord]
    public var classNames: [String]
    public var annotationMode: AnnotationMode
    /// Sorted; `.autoencoding` always included.
    public var tasks: [LearningTask]

    public init(id: String, geometry: Geometry, channelNames: [String], image: [Float],
                vertebraLabels: [UInt8], structureLabels: [UInt8],
                vertebraAnnotated: [UInt8], structureAnnotated: [UInt8], raters: [RaterLabels] = [],
                vertebrae: [VertebraRecord], classNames: [String], annotationMode: AnnotationMode) {
        self.id = id
        self.geometry = geometry
        self.channelNames = channelNames
        self.image = image
        self.vertebraLabels = vertebraLabels
        self.structureLabels = structureLabels
        self.vertebraAnnotated = vertebraAnnotated
        self.structureAnnotated = structureAnnotated
        self.raters = raters
        self.vertebrae = vertebrae
        self.classNames = classNames
        self.annotationMode = annotationMode
        self.tasks = annotationMode.tasks
    }

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case sizeMismatch(subject: String, field: String, expected: Int, found: Int)
        case invalidLabel(subject: String, field: String, value: Int)
        case classOutOfRange(subject: String, level: String, classIndex: Int, classCount: Int)

        public var description: String {
            switch self {
            case let .sizeMismatch(subject, field, expected, found):
                "subject \(subject): \(field) has \(found) values, expected \(expected) from the geometry"
            case let .invalidLabel(subject, field, value):
                "subject \(subject): \(field) holds \(value), which is not a valid label"
            case let .classOutOfRange(subject, level, classIndex, classCount):
                "subject \(subject): vertebra \(level) has class \(classIndex) but only \(classCount) class names"
            }
        }
    }

    /// Index of voxel `[d, h, w]` in a `[D, H, W]` array.
    @inlinable public func voxelIndex(_ d: Int, _ h: Int, _ w: Int) -> Int {
        (d * geometry.shape[1] + h) * geometry.shape[2] + w
    }

    /// The `[D, H, W]` values of channel `c`.
    public func channel(_ c: Int) -> ArraySlice<Float> {
        let n = geometry.voxelCount
        return image[(c * n)..<((c + 1) * n)]
    }

    /// Checks sizes against the geometry, label values and class indices.
    public func validate() throws(Error) {
        let n = geometry.voxelCount
        let sizes: [(String, Int, Int)] = [
            ("image", channelNames.count * n, image.count), ("vertebraLabels", n, vertebraLabels.count),
            ("structureLabels", n, structureLabels.count), ("vertebraAnnotated", n, vertebraAnnotated.count),
            ("structureAnnotated", n, structureAnnotated.count),
        ] + raters.enumerated().flatMap { r, labels in
            [("raters[\(r)].vertebraLabels", n, labels.vertebraLabels.count),
             ("raters[\(r)].structureLabels", n, labels.structureLabels.count)]
        }
        var checked: [(String, Int, Int)] = sizes
        if let pseudoLabels { checked.append(("pseudoLabels.structures", n, pseudoLabels.structures.count)) }
        for (field, expected, found) in checked where expected != found {
            throw .sizeMismatch(subject: id, field: field, expected: expected, found: found)
        }
        let validLevels = Set(VertebraLevel.anatomicalIDs.map(UInt8.init)).union([0])
        let validStructures = Set(StructureLabel.allCases.map(\.rawValue))
        for (field, values, valid) in [("vertebraLabels", vertebraLabels, validLevels),
                                       ("structureLabels", structureLabels, validStructures)] {
            if let bad = Set(values).subtracting(valid).first {
                throw .invalidLabel(subject: id, field: field, value: Int(bad))
            }
        }
        for record in vertebrae {
            for c in [record.classIndex].compactMap({ $0 }) + record.raterClasses where !classNames.indices.contains(c) {
                throw .classOutOfRange(subject: id, level: record.level.name, classIndex: c, classCount: classNames.count)
            }
        }
    }
}
