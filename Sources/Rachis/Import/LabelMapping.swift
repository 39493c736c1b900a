import Foundation

/// Maps a source convention's vertebra label values to VerSe level ids. The file is a YAML or JSON map from
/// source value to level id or level name (`20`, `"L1"`); a value mapped to 0, and 0 itself, is background;
/// a non-zero value the map does not name is an error.
public struct LabelMapping: Equatable, Sendable {
    /// Source value to VerSe level id (0: background).
    public var levels: [Int: Int]
    /// The mapping file, named in errors.
    public var file: String

    public init(levels: [Int: Int], file: String) {
        (self.levels, self.file) = (levels, file)
    }

    public static func load(contentsOf url: URL) throws -> LabelMapping {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw FileManager.default.fileExists(atPath: url.path)
                ? ImportError.unreadable(file: url.path, reason: error.localizedDescription) : ImageIOError.missingFile(path: url.path)
        }
        guard case let .object(table) = try ImportManifest.yamlDocument(String(decoding: data, as: UTF8.self), file: url.path) else {
            throw ImportError.unreadable(file: url.path, reason: "expected a map from source label value to VerSe level id or name")
        }
        var levels: [Int: Int] = [:]
        for (key, value) in table {
            guard let source = Int(key) else {
                throw ImportError.invalidValue(file: url.path, field: key, message: "a source label value must be an integer")
            }
            let level: Int?
            switch value {
            case let .number(n) where Int(exactly: n).map({ $0 == 0 || VertebraLevel.anatomicalIDs.contains($0) }) == true: level = Int(n)
            case let .string(name): level = try? VertebraLevel(name: name).id
            default: level = nil
            }
            guard let level else {
                throw ImportError.invalidValue(file: url.path, field: key, message: "\(value.jsonText) is neither a VerSe level id (or 0 for background) nor a level name (C1-C7, T1-T13, L1-L6, S)")
            }
            levels[source] = level
        }
        return LabelMapping(levels: levels, file: url.path)
    }

    /// VerSe level ids of `labels` read from `file`: mapped when a mapping is given, else checked as VerSe ids.
    public static func levels(_ labels: [Int32], file: String, mapping: LabelMapping?) throws -> [UInt8] {
        var table = [Int32: UInt8]()
        var out = [UInt8](repeating: 0, count: labels.count)
        for (i, value) in labels.enumerated() where value != 0 {
            if let level = table[value] { out[i] = level; continue }
            let level: Int
            if let mapping {
                guard let mapped = mapping.levels[Int(value)] else { throw ImportError.unmappedLabel(file: file, value: Int(value), mapping: mapping.file) }
                level = mapped
            } else {
                guard VertebraLevel.anatomicalIDs.contains(Int(value)) else { throw ImportError.unknownLevel(file: file, value: Int(value)) }
                level = Int(value)
            }
            table[value] = UInt8(level)
            out[i] = UInt8(level)
        }
        return out
    }
}
