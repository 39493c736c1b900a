import Foundation
import Synchronization

/// A JSON Schema (draft 2020-12 subset) and a validator for it.
///
/// Supported keywords: `type`, `enum`, `const`, `properties`, `required`, `additionalProperties`,
/// `patternProperties`, `propertyNames`, `minProperties`, `maxProperties`, `items`, `prefixItems`, `minItems`, `maxItems`, `minimum`, `maximum`,
/// `exclusiveMinimum`, `exclusiveMaximum`, `minLength`, `pattern`, `allOf`, `anyOf`, `oneOf`, `not`, `if`/`then`,
/// and local `$ref` (`#/$defs/...`). Annotations (`title`, `description`, `$comment`, ...) are ignored.
/// Every schema Rachis ships keeps to this subset, so any standard validator agrees with this one.
public struct JSONSchema: Sendable {
    public let root: JSONValue
    public let name: String

    public init(_ root: JSONValue, name: String) {
        self.root = root
        self.name = name
    }

    /// Loads a schema file.
    public init(contentsOf url: URL) throws {
        self.init(try JSONValue.parse(try Data(contentsOf: url), source: url.path), name: url.lastPathComponent)
    }

    /// One way a document breaks the schema: where (a JSON pointer) and what.
    public struct Violation: Equatable, Sendable, CustomStringConvertible {
        public var path: String
        public var message: String
        public var description: String { (path.isEmpty ? "(root)" : path) + ": " + message }
    }

    /// Every violation of `document`, in document order; empty when it is valid.
    public func validate(_ document: JSONValue) -> [Violation] {
        var violations: [Violation] = []
        check(document, against: root, path: "", into: &violations)
        return violations
    }

    private func resolve(_ ref: String) -> JSONValue? {
        guard ref.hasPrefix("#") else { return nil }
        var node: JSONValue? = root
        for part in ref.dropFirst().split(separator: "/") where !part.isEmpty {
            let key = part.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            if case let .array(a)? = node, let i = Int(key), a.indices.contains(i) { node = a[i] } else { node = node?[key] }
        }
        return node
    }

    private static func pointer(_ path: String, _ key: String) -> String {
        path + "/" + key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    private func matches(_ value: JSONValue, _ schema: JSONValue) -> Bool {
        var violations: [Violation] = []
        check(value, against: schema, path: "", into: &violations)
        return violations.isEmpty
    }

    private static func typeMatches(_ value: JSONValue, _ type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object), ("number", .number): true
        case let ("integer", .number(n)): n.isFinite && n.rounded() == n
        default: false
        }
    }

    private func check(_ value: JSONValue, against schema: JSONValue, path: String, into out: inout [Violation]) {
        if case let .bool(allowed) = schema {
            if !allowed { out.append(Violation(path: path, message: "no value is allowed here")) }
            return
        }
        guard case let .object(s) = schema else { return }
        func fail(_ message: String) { out.append(Violation(path: path, message: message)) }

        if case let .string(ref)? = s["$ref"] {
            if let target = resolve(ref) { check(value, against: target, path: path, into: &out) } else { fail("schema reference \(ref) not found") }
        }
        if let type = s["type"] {
            let types: [String] = switch type {
            case let .string(t): [t]
            case let .array(list): list.compactMap { if case let .string(t) = $0 { t } else { nil } }
            default: []
            }
            if !types.contains(where: { Self.typeMatches(value, $0) }) {
                fail("expected \(types.joined(separator: " or ")), found \(value.typeName)")
                return
            }
        }
        if case let .array(options)? = s["enum"], !options.contains(value) {
            fail("\(value.jsonText) is not one of " + options.map(\.jsonText).joined(separator: ", "))
        }
        if let constant = s["const"], constant != value { fail("expected \(constant.jsonText), found \(value.jsonText)") }

        switch value {
        case let .number(n):
            func text(_ x: Double) -> String { JSONValue.number(x).jsonText }
            if case let .number(m)? = s["minimum"], n < m { fail("\(text(n)) is below the minimum \(text(m))") }
            if case let .number(m)? = s["maximum"], n > m { fail("\(text(n)) is above the maximum \(text(m))") }
            if case let .number(m)? = s["exclusiveMinimum"], n <= m { fail("\(text(n)) must be greater than \(text(m))") }
            if case let .number(m)? = s["exclusiveMaximum"], n >= m { fail("\(text(n)) must be less than \(text(m))") }
        case let .string(text):
            if case let .number(m)? = s["minLength"], Double(text.count) < m { fail("string shorter than \(Int(m))") }
            if case let .string(pattern)? = s["pattern"], text.range(of: pattern, options: .regularExpression) == nil {
                fail("\(value.jsonText) does not match the pattern \(pattern)")
            }
        case let .array(items):
            if case let .number(m)? = s["minItems"], Double(items.count) < m { fail("\(items.count) items, at least \(Int(m)) required") }
            if case let .number(m)? = s["maxItems"], Double(items.count) > m { fail("\(items.count) items, at most \(Int(m)) allowed") }
            var start = 0
            if case let .array(prefix)? = s["prefixItems"] {
                for (i, itemSchema) in prefix.enumerated() where i < items.count {
                    check(items[i], against: itemSchema, path: path + "/\(i)", into: &out)
                }
                start = prefix.count
            }
            if let itemSchema = s["items"] {
                for i in items.indices where i >= start { check(items[i], against: itemSchema, path: path + "/\(i)", into: &out) }
            }
        case let .object(members):
            if case let .number(m)? = s["maxProperties"], Double(members.count) > m {
                fail(m == 0 ? "must be empty, found " + members.keys.sorted().joined(separator: ", ") : "\(members.count) keys, at most \(Int(m)) allowed")
            }
            if case let .number(m)? = s["minProperties"], Double(members.count) < m { fail("\(members.count) keys, at least \(Int(m)) required") }
            if case let .array(required)? = s["required"] {
                for case let .string(key) in required where members[key] == nil { fail("missing required key \"\(key)\"") }
            }
            let properties: [String: JSONValue] = if case let .object(p)? = s["properties"] { p } else { [:] }
            let patterns: [String: JSONValue] = if case let .object(p)? = s["patternProperties"] { p } else { [:] }
            for key in members.keys.sorted() {
                let child = Self.pointer(path, key)
                if let nameSchema = s["propertyNames"], !matches(.string(key), nameSchema) {
                    out.append(Violation(path: child, message: "key \"\(key)\" is not an allowed name"))
                }
                var matched = false
                if let p = properties[key] {
                    check(members[key]!, against: p, path: child, into: &out)
                    matched = true
                }
                for (pattern, p) in patterns where key.range(of: pattern, options: .regularExpression) != nil {
                    check(members[key]!, against: p, path: child, into: &out)
                    matched = true
                }
                if !matched, let additional = s["additionalProperties"] {
                    if case .bool(false) = additional {
                        out.append(Violation(path: child, message: "unknown key \"\(key)\""))
                    } else {
                        check(members[key]!, against: additional, path: child, into: &out)
                    }
                }
            }
        default:
            break
        }

        if case let .array(all)? = s["allOf"] { for sub in all { check(value, against: sub, path: path, into: &out) } }
        if case let .array(any)? = s["anyOf"], !any.contains(where: { matches(value, $0) }) { fail("matches none of the allowed forms") }
        if case let .array(one)? = s["oneOf"] {
            let count = one.filter { matches(value, $0) }.count
            if count != 1 { fail(count == 0 ? "matches none of the allowed forms" : "matches \(count) forms, exactly one expected") }
        }
        if let not = s["not"], matches(value, not) { fail("matches a form that is not allowed") }
        if let condition = s["if"], matches(value, condition), let then = s["then"] { check(value, against: then, path: path, into: &out) }
    }
}

extension JSONSchema {
    public enum LookupError: Error, CustomStringConvertible {
        case unknown(String)
        public var description: String {
            switch self {
            case let .unknown(name): "no schema named \(name) is built in (known: \(JSONSchema.embedded.keys.sorted().joined(separator: ", ")))"
            }
        }
    }

    /// A schema of schemas/ that the binary validates against (built in by scripts/embed-schemas.sh), e.g.
    /// "dataset.schema.json"; parsed once per process.
    public static func shipped(_ name: String) throws -> JSONSchema {
        if let schema = parsed.withLock({ $0[name] }) { return schema }
        guard let text = embedded[name] else { throw LookupError.unknown(name) }
        let schema = JSONSchema(try JSONValue.parse(Data(text.utf8), source: name), name: name)
        parsed.withLock { $0[name] = schema }
        return schema
    }

    private static let parsed = Mutex<[String: JSONSchema]>([:])
}
