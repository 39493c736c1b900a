import Foundation

/// A training config: `model`, `loss`, `loader` and `train` sections (`schemas/train-config.schema.json`). Every key
/// has a default; a key the config structs do not know is an error that names it.
public struct TrainingConfig: Equatable, Sendable {
    public var model = ModelConfig()
    public var loss = LossConfig()
    public var loader = LoaderConfig()
    public var train = TrainSettings()

    public init() {}

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case unknownKeys(source: String, keys: [String])
        case notAnObject(source: String)
        case badOverride(String)
        case schemaViolations(source: String, violations: [String])

        public var description: String {
            switch self {
            case let .unknownKeys(source, keys):
                "\(source): unknown key\(keys.count == 1 ? "" : "s") \(keys.joined(separator: ", ")) (rachis train --print-config shows every key with its default)"
            case let .notAnObject(source): "\(source): a config is a mapping with the sections model, loss, loader and train"
            case let .badOverride(text): "--set \(text): expected key.path=value, e.g. --set train.epochs=5"
            case let .schemaViolations(source, violations):
                "\(source) does not fit schemas/train-config.schema.json:\n" + violations.map { "  " + $0 }.joined(separator: "\n")
            }
        }
    }

    /// The defaults of every section, as one JSON object.
    public static func defaultsJSON() throws -> JSONValue {
        .object([
            "model": try ConfigDecoding.defaults(ModelConfig.self),
            "loss": try ConfigDecoding.defaults(LossConfig.self),
            "loader": try ConfigDecoding.defaults(LoaderConfig.self),
            "train": try ConfigDecoding.defaults(TrainSettings.self),
        ])
    }

    /// Loads a config file (nil: all defaults) and applies `key.path=value` overrides (the value is JSON when it
    /// parses as JSON, a YAML flow sequence or mapping when it starts with `[` or `{` (`[size, centroid]`), a string
    /// otherwise), then checks and decodes it.
    public static func load(_ url: URL?, overrides: [String] = []) throws -> TrainingConfig {
        var value = try url.map { try ConfigDecoding.load($0) } ?? .object([:])
        let source = url?.path ?? "the default config"
        for override in overrides {
            guard let equals = override.firstIndex(of: "="), equals != override.startIndex else {
                throw Error.badOverride(override)
            }
            let path = override[..<equals].split(separator: ".").map(String.init)
            let text = String(override[override.index(after: equals)...])
            let parsed = (try? JSONValue.parse(Data(text.utf8), source: "--set")) ?? Self.flowValue(text) ?? .string(text)
            value = Self.setting(value, path: path[...], to: parsed)
        }
        return try decode(value, source: source + (overrides.isEmpty ? "" : " with --set " + overrides.joined(separator: " ")))
    }

    /// A YAML flow sequence or mapping (`[a, b]`, `{x: 1}`), as in a config file; nil for anything else.
    static func flowValue(_ text: String) -> JSONValue? {
        guard let first = text.first, first == "[" || first == "{" else { return nil }
        return try? ConfigDecoding.yaml(text, source: "--set")
    }

    static func setting(_ value: JSONValue, path: ArraySlice<String>, to newValue: JSONValue) -> JSONValue {
        guard let key = path.first else { return newValue }
        var members: [String: JSONValue] = if case let .object(m) = value { m } else { [:] }
        members[key] = setting(members[key] ?? .object([:]), path: path.dropFirst(), to: newValue)
        return .object(members)
    }

    /// Checks keys, fills defaults, decodes and validates every section.
    public static func decode(_ value: JSONValue, source: String) throws -> TrainingConfig {
        guard case .object = value else { throw Error.notAnObject(source: source) }
        let unknown = ConfigDecoding.unknownKeys(in: value, comparedTo: try defaultsJSON())
        guard unknown.isEmpty else { throw Error.unknownKeys(source: source, keys: unknown) }
        let violations = try JSONSchema.shipped("train-config.schema.json").validate(value)
        guard violations.isEmpty else {
            throw Error.schemaViolations(source: source, violations: violations.map { v in
                v.path.split(separator: "/").joined(separator: ".") + ": " + v.message
            })
        }
        var config = TrainingConfig()
        if let section = value["model"] { config.model = try ConfigDecoding.decode(ModelConfig.self, from: section, source: source + " model") }
        if let section = value["loss"] { config.loss = try ConfigDecoding.decode(LossConfig.self, from: section, source: source + " loss") }
        if let section = value["loader"] { config.loader = try ConfigDecoding.decode(LoaderConfig.self, from: section, source: source + " loader") }
        if let section = value["train"] { config.train = try ConfigDecoding.decode(TrainSettings.self, from: section, source: source + " train") }
        try config.validate()
        return config
    }

    public func validate() throws {
        try model.validate()
        try loss.validate(classCount: model.classes)
        try loader.validate()
        try train.validate()
    }

    /// The resolved config as JSON (what config.json and checkpoints store).
    public func json() throws -> JSONValue {
        .object([
            "model": try JSONValue.parse(try JSONEncoder().encode(model), source: "model"),
            "loss": try JSONValue.parse(try JSONEncoder().encode(loss), source: "loss"),
            "loader": try JSONValue.parse(try JSONEncoder().encode(loader), source: "loader"),
            "train": try JSONValue.parse(try JSONEncoder().encode(train), source: "train"),
        ])
    }
}
