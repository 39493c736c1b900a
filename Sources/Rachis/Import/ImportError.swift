import Foundation

/// Why `rachis dataset import` refused its input. Every case names the file (and where it applies the subject,
/// key or field), so the message says what to fix. Image decoding errors stay `ImageIOError`.
public enum ImportError: LocalizedError, Equatable, CustomStringConvertible {
    /// The manifest, a label mapping or a centroid file cannot be read or parsed.
    case unreadable(file: String, reason: String)
    /// The manifest breaks its schema (an unknown key, a missing or mistyped field): one line per violation.
    case invalidManifest(file: String, problems: [String])
    /// A manifest field is well-formed but its value cannot be used.
    case invalidValue(file: String, field: String, message: String)
    /// Two files of one subject disagree about where the voxels are.
    case geometryMismatch(file: String, reference: String, field: String, found: String, expected: String)
    /// A label file holds a value that is not a VerSe level id (after the label mapping, if any).
    case unknownLevel(file: String, value: Int)
    /// A vertebra label value the label mapping does not map.
    case unmappedLabel(file: String, value: Int, mapping: String)
    /// A structure label value outside 0-5.
    case unknownStructure(file: String, value: Int)
    /// A file holds more than one channel where Rachis expects one.
    case multiChannel(file: String, channels: Int)

    public var errorDescription: String? { description }

    public var description: String {
        switch self {
        case let .unreadable(file, reason): "\(file): cannot read: \(reason)"
        case let .invalidManifest(file, problems):
            "\(file): invalid manifest:\n" + problems.map { "  " + $0 }.joined(separator: "\n")
        case let .invalidValue(file, field, message): "\(file): \(field): \(message)"
        case let .geometryMismatch(file, reference, field, found, expected):
            "\(file): \(field) \(found) differs from \(expected) in \(reference); every channel and label file of a subject must share one voxel grid"
        case let .unknownLevel(file, value):
            "\(file): label value \(value) is not a VerSe level id (1-7 C1-C7, 8-19 T1-T12, 20-25 L1-L6, 26 S, 28 T13); add a labelMapping for other conventions"
        case let .unmappedLabel(file, value, mapping):
            "\(file): label value \(value) is not in the label mapping \(mapping); map it to a level id, or to 0 for background"
        case let .unknownStructure(file, value):
            "\(file): structure value \(value) is not one of 0-\(StructureLabel.allCases.count - 1) (" + StructureLabel.allCases.map { "\($0.rawValue) \($0.name)" }.joined(separator: ", ") + ")"
        case let .multiChannel(file, channels):
            "\(file): holds \(channels) channels; give each channel its own file"
        }
    }
}
