import Foundation

/// A JSON document as a Swift value: what schemas validate, and what Rachis writes as machine-readable output.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public enum Error: Swift.Error, CustomStringConvertible {
        case invalidJSON(source: String, message: String)
        case unsupported(source: String, value: String)

        public var description: String {
            switch self {
            case let .invalidJSON(source, message): "\(source): not valid JSON: \(message)"
            case let .unsupported(source, value): "\(source): unsupported JSON value \(value)"
            }
        }
    }

    /// Parses JSON text; `source` names the file (or other origin) in errors.
    public static func parse(_ data: Data, source: String) throws -> JSONValue {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw Error.invalidJSON(source: source, message: (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)")
        }
        return try JSONValue(any: object, source: source)
    }

    /// Converts the output of JSONSerialization or a YAML decoder (dictionaries, arrays, strings, numbers, bools, NSNull).
    public init(any value: Any, source: String) throws {
        switch value {
        case is NSNull: self = .null
        case let v as Bool where Self.isBoolean(value): self = .bool(v)
        case let v as NSNumber: self = .number(v.doubleValue)
        case let v as Int: self = .number(Double(v))
        case let v as Double: self = .number(v)
        case let v as String: self = .string(v)
        case let v as [Any]: self = .array(try v.map { try JSONValue(any: $0, source: source) })
        case let v as [String: Any]: self = .object(try v.mapValues { try JSONValue(any: $0, source: source) })
        default: throw Error.unsupported(source: source, value: "\(value)")
        }
    }

    /// Foundation bridges JSON numbers to NSNumber, which also casts to Bool: only true booleans count.
    private static func isBoolean(_ value: Any) -> Bool {
        type(of: value) == Bool.self || String(describing: type(of: value)) == "__NSCFBoolean"
    }

    public subscript(key: String) -> JSONValue? {
        if case let .object(o) = self { return o[key] }
        return nil
    }

    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case let .number(n): n.rounded() == n && n.isFinite ? "integer" : "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// Indented, key-sorted JSON text.
    public var prettyText: String {
        func render(_ value: JSONValue, _ indent: String) -> String {
            switch value {
            case let .array(items) where !items.isEmpty && items.contains(where: { if case .object = $0 { true } else { false } }):
                return "[\n" + items.map { indent + "  " + render($0, indent + "  ") }.joined(separator: ",\n") + "\n" + indent + "]"
            case let .object(members) where !members.isEmpty:
                return "{\n" + members.keys.sorted().map { indent + "  " + JSONValue.string($0).jsonText + ": " + render(members[$0]!, indent + "  ") }
                    .joined(separator: ",\n") + "\n" + indent + "}"
            default:
                return value.jsonText
            }
        }
        return render(self, "")
    }

    /// Compact, key-sorted JSON text.
    public var jsonText: String {
        switch self {
        case .null: return "null"
        case let .bool(b): return b ? "true" : "false"
        case let .number(n):
            if !n.isFinite { return "null" }
            if n.rounded() == n, Swift.abs(n) < 1e15 { return String(Int64(n)) }
            return "\(n)"
        case let .string(s):
            let data = try? JSONSerialization.data(withJSONObject: s, options: [.fragmentsAllowed])
            return data.map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
        case let .array(a): return "[" + a.map(\.jsonText).joined(separator: ",") + "]"
        case let .object(o): return "{" + o.keys.sorted().map { JSONValue.string($0).jsonText + ":" + o[$0]!.jsonText }.joined(separator: ",") + "}"
        }
    }
}
