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

        public var description: String {
            switch self {
            case let .unknownKeys(source, keys):
                "\(source): unknown key\(keys.count == 1 ? "" : "s") \(keys.joined(separator: ", ")) (rachis train --print-config shows every key with its default)"
            case let .notAnObject(source): "\(source): a config is a mapping with the sections model, loss, loader and train"
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

    public static func load(_ url: URL) throws -> TrainingConfig {
        try decode(try ConfigDecoding.load(url), source: url.path)
    }

    /// Checks keys, fills defaults, decodes and validates every section.
    public static func decode(_ value: JSONValue, source: String) throws -> TrainingConfig {
        guard case .object = value else { throw Error.notAnObject(source: source) }
        let unknown = ConfigDecoding.unknownKeys(in: value, comparedTo: try defaultsJSON())
        guard unknown.isEmpty else { throw Error.unknownKeys(source: source, keys: unknown) }
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
