import Foundation

/// What a report shows of an evaluation file (`rachis evaluate`, format "rachis-evaluation"), read generically as
/// JSON so that the report keeps working while that format grows: its top-level scalars (what was evaluated, when)
/// and its `aggregate` metrics flattened to dotted names. Missing keys are left out.
public struct EvaluationSummary: Equatable, Sendable {
    public static let format = "rachis-evaluation"

    public struct Row: Equatable, Sendable {
        public var name: String
        public var value: String
    }

    public var path: String
    /// Top-level strings, numbers and booleans (format, created, checkpoint, …).
    public var details: [Row]
    /// The `aggregate` object, flattened: nested objects as `a.b`, array items as `a[0]`, short numeric arrays inline.
    public var aggregate: [Row]

    /// At most this many aggregate rows are shown.
    public static let maximumRows = 400

    public static func read(_ url: URL) throws -> EvaluationSummary {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ReportError.evaluation(path: url.path, reason: "the file does not exist or cannot be read")
        }
        let value: JSONValue
        do { value = try JSONValue.parse(data, source: url.path) } catch {
            throw ReportError.evaluation(path: url.path, reason: "\(error)")
        }
        return try EvaluationSummary(value, path: url.path)
    }

    public init(_ value: JSONValue, path: String) throws {
        guard case let .object(members) = value else {
            throw ReportError.evaluation(path: path, reason: "expected a JSON object, found \(value.typeName)")
        }
        if let format = members["format"], format != .string(Self.format) {
            throw ReportError.evaluation(path: path, reason: "format is \(format.jsonText), expected \"\(Self.format)\"")
        }
        self.path = path
        details = members.keys.sorted().compactMap { key in
            switch members[key]! {
            case .string, .number, .bool: Row(name: key, value: Self.text(members[key]!))
            default: nil
            }
        }
        var rows: [Row] = []
        if let aggregate = members["aggregate"] { Self.flatten(aggregate, name: "", into: &rows) }
        aggregate = Array(rows.prefix(Self.maximumRows))
    }

    static func flatten(_ value: JSONValue, name: String, into rows: inout [Row]) {
        guard rows.count <= maximumRows else { return }
        switch value {
        case let .object(members):
            if members.isEmpty { rows.append(Row(name: name, value: "{}")) }
            for key in members.keys.sorted() { flatten(members[key]!, name: name.isEmpty ? key : "\(name).\(key)", into: &rows) }
        case let .array(items):
            let scalar = items.allSatisfy { if case .object = $0 { false } else if case .array = $0 { false } else { true } }
            if scalar && items.count <= 16 {
                rows.append(Row(name: name, value: "[" + items.map(text).joined(separator: ", ") + "]"))
            } else {
                for (i, item) in items.enumerated() { flatten(item, name: "\(name)[\(i)]", into: &rows) }
            }
        default:
            rows.append(Row(name: name.isEmpty ? "aggregate" : name, value: text(value)))
        }
    }

    /// A scalar as text: integers plainly, other numbers with 4 significant digits, null as "–".
    static func text(_ value: JSONValue) -> String {
        switch value {
        case .null: "–"
        case let .bool(b): b ? "true" : "false"
        case let .number(n): n.rounded() == n && Swift.abs(n) < 1e15 ? String(Int64(n)) : String(format: "%.4g", n)
        case let .string(s): s
        default: value.jsonText
        }
    }
}
