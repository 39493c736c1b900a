import Foundation

/// What a report shows of an evaluation file (`rachis evaluate`, format "rachis-evaluation"):
///
/// - the parts a reader looks for first, decoded with the `Evaluation` types of `Metrics/` one part at a time
///   (`aggregate.localization`, `.classification`, `.segmentation`, `.reconstructionPSNR`, each subject), so that a
///   part that is absent, or written by another version and no longer decodable, leaves that part out (listed in
///   `unreadable`) and not the whole report;
/// - everything else generically: the top-level scalars (what was evaluated, when), the `aggregate` object flattened
///   to dotted names (every value, for the full table), and the strings each aggregate part carries (rule names,
///   definitions), shown next to its figures.
public struct EvaluationSummary: Equatable, Sendable {
    public static let format = Evaluation.format

    public struct Row: Equatable, Sendable {
        public var name: String
        public var value: String
    }

    public var path: String
    /// Top-level strings, numbers and booleans (format, created, dataset, …).
    public var details: [Row]
    /// The `aggregate` object, flattened: nested objects as `a.b`, array items as `a[0]`, short numeric arrays inline.
    /// Every value: a page that shows fewer says so.
    public var aggregate: [Row]
    /// The dataset's class names (the order of the confusion matrix); empty when absent.
    public var classNames: [String]
    public var subjectCount: Int?
    public var localization: LocalizationResult?
    public var classification: Evaluation.ClassificationSummary?
    public var segmentation: SegmentationResult?
    public var reconstructionPSNR: Evaluation.PSNRSummary?
    /// The subjects that could be read, in file order.
    public var subjects: [SubjectEvaluation]
    /// String members of `aggregate` and of each of its parts (`localization`, …), by part ("" for `aggregate`
    /// itself): the rules and definitions the evaluation names.
    public var rules: [String: [Row]]
    /// Parts present in the file that could not be read as this version's `Evaluation` types, and why.
    public var unreadable: [Row]

    /// The evaluation of subject `id` (a prediction's subject id), if the file has it.
    public func subject(_ id: String) -> SubjectEvaluation? { subjects.first { $0.subjectID == id } }

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
        aggregate = rows

        var unreadable: [Row] = []
        func part<T: Decodable>(_ type: T.Type, _ value: JSONValue?, _ name: String) -> T? {
            guard let value, value != .null else { return nil }
            do { return try JSONDecoder().decode(T.self, from: Data(value.jsonText.utf8)) } catch {
                unreadable.append(Row(name: name, value: Self.reason(error)))
                return nil
            }
        }
        classNames = part([String].self, members["classNames"], "classNames") ?? []
        let aggregate: [String: JSONValue]
        if case let .object(a)? = members["aggregate"] { aggregate = a } else { aggregate = [:] }
        subjectCount = part(Int.self, aggregate["subjects"], "aggregate.subjects")
        localization = part(LocalizationResult.self, aggregate["localization"], "aggregate.localization")
        classification = part(Evaluation.ClassificationSummary.self, aggregate["classification"], "aggregate.classification")
        segmentation = part(SegmentationResult.self, aggregate["segmentation"], "aggregate.segmentation")
        reconstructionPSNR = part(Evaluation.PSNRSummary.self, aggregate["reconstructionPSNR"], "aggregate.reconstructionPSNR")
        if case let .array(items)? = members["subjects"] {
            subjects = items.enumerated().compactMap { part(SubjectEvaluation.self, $0.element, "subjects[\($0.offset)]") }
        } else {
            subjects = []
        }
        self.unreadable = unreadable

        var rules: [String: [Row]] = [:]
        func strings(_ value: JSONValue?) -> [Row] {
            guard case let .object(m)? = value else { return [] }
            return m.keys.sorted().compactMap { key in
                if case let .string(s) = m[key]! { Row(name: key, value: s) } else { nil }
            }
        }
        rules[""] = strings(members["aggregate"])
        for key in aggregate.keys { rules[key] = strings(aggregate[key]) }
        self.rules = rules.filter { !$0.value.isEmpty }
    }

    /// A decoding error in a sentence: the coding path and what was wrong.
    static func reason(_ error: Error) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case let DecodingError.keyNotFound(key, context): return "\(path(context)).\(key.stringValue) is missing"
        case let DecodingError.typeMismatch(type, context): return "\(path(context)) is not \(type)"
        case let DecodingError.valueNotFound(type, context): return "\(path(context)) is null, expected \(type)"
        case let DecodingError.dataCorrupted(context): return "\(path(context)): \(context.debugDescription)"
        default: return "\(error)"
        }
    }

    static func flatten(_ value: JSONValue, name: String, into rows: inout [Row]) {
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
