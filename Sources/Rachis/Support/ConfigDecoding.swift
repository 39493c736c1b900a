import Foundation
import Yams

/// Decoding of configuration sections: a section's missing keys take the struct's defaults, present keys override
/// them. (The whole file is checked against its JSON Schema first, which rejects unknown keys by name.)
public enum ConfigDecoding {
    public enum Error: Swift.Error, CustomStringConvertible {
        case invalid(source: String, message: String)
        public var description: String {
            switch self {
            case let .invalid(source, message): "\(source): \(message)"
            }
        }
    }

    /// Decodes `T` from `value`, filling missing keys (at any depth) from `T()`.
    public static func decode<T: Codable & DefaultConstructible>(_ type: T.Type, from value: JSONValue, source: String) throws -> T {
        let defaults = try JSONValue.parse(try JSONEncoder().encode(T()), source: "defaults")
        let merged = merge(defaults, value)
        do {
            return try JSONDecoder().decode(T.self, from: Data(merged.jsonText.utf8))
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.dataCorrupted(context) {
            throw Error.invalid(source: source, message: "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)")
        } catch {
            throw Error.invalid(source: source, message: "\(error)")
        }
    }

    /// Keys of `value` that `reference` (the encoded defaults) does not have, as dotted paths; nested objects are
    /// compared key by key, values that are not objects in `reference` are taken as they are.
    public static func unknownKeys(in value: JSONValue, comparedTo reference: JSONValue, path: String = "") -> [String] {
        guard case let .object(given) = value, case let .object(known) = reference else { return [] }
        return given.keys.sorted().flatMap { key -> [String] in
            let child = path.isEmpty ? key : path + "." + key
            guard let expected = known[key] else { return [child] }
            return unknownKeys(in: given[key]!, comparedTo: expected, path: child)
        }
    }

    /// The defaults of `T` as JSON.
    public static func defaults<T: Codable & DefaultConstructible>(_ type: T.Type) throws -> JSONValue {
        try JSONValue.parse(try JSONEncoder().encode(T()), source: "defaults")
    }

    /// Deep merge: objects merge key by key, anything else in `override` replaces `base`.
    public static func merge(_ base: JSONValue, _ override: JSONValue) -> JSONValue {
        guard case var .object(b) = base, case let .object(o) = override else { return override }
        for (key, value) in o { b[key] = b[key].map { merge($0, value) } ?? value }
        return .object(b)
    }

    /// YAML text as a JSON value (an empty document is an empty mapping).
    static func yaml(_ text: String, source: String) throws -> JSONValue {
        guard let object = try Yams.load(yaml: text) else { return .object([:]) }
        return try JSONValue(any: object, source: source)
    }

    /// Parses a YAML or JSON file (by extension: .json is JSON, anything else YAML) into a JSON value.
    public static func load(_ url: URL) throws -> JSONValue {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw Error.invalid(source: url.path, message: "cannot read the file (\(error.localizedDescription))") }
        if url.pathExtension.lowercased() == "json" { return try JSONValue.parse(data, source: url.path) }
        do {
            return try yaml(String(decoding: data, as: UTF8.self), source: url.path)
        } catch let error as JSONValue.Error {
            throw error
        } catch {
            throw Error.invalid(source: url.path, message: "not valid YAML: \(error)")
        }
    }
}

/// A configuration section with a default for every field.
public protocol DefaultConstructible {
    init()
}
