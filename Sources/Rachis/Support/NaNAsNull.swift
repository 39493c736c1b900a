/// A metric value that is NaN when undefined and written to JSON as `null` (JSON has no NaN).
@propertyWrapper
public struct NaNAsNull: Codable, Equatable, Sendable {
    public var wrappedValue: Double

    public init(wrappedValue: Double) { self.wrappedValue = wrappedValue }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? .nan : try container.decode(Double.self)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        if wrappedValue.isFinite { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }

    /// NaN compares equal to NaN, so results round-trip through JSON as equal.
    public static func == (a: Self, b: Self) -> Bool {
        a.wrappedValue == b.wrappedValue || (a.wrappedValue.isNaN && b.wrappedValue.isNaN)
    }
}

/// An optional metric that is `null` in JSON when absent or not finite.
@propertyWrapper
public struct NaNAsNullOptional: Codable, Equatable, Sendable {
    public var wrappedValue: Double?
    public init(wrappedValue: Double?) { self.wrappedValue = wrappedValue }
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? nil : try container.decode(Double.self)
    }
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        if let v = wrappedValue, v.isFinite { try container.encode(v) } else { try container.encodeNil() }
    }
}

extension KeyedDecodingContainer {
    /// A missing key decodes as nil.
    public func decode(_ type: NaNAsNullOptional.Type, forKey key: Key) throws -> NaNAsNullOptional {
        try decodeIfPresent(type, forKey: key) ?? NaNAsNullOptional(wrappedValue: nil)
    }
}

/// Mean of the values that are not NaN, and how many there were (NaN when none).
public func nanMean(_ values: [Double]) -> (mean: Double, count: Int) {
    let valid = values.filter { !$0.isNaN }
    return (valid.isEmpty ? .nan : valid.reduce(0, +) / Double(valid.count), valid.count)
}
