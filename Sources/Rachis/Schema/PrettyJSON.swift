import Foundation

extension Encodable {
    /// Indented, key-sorted JSON: how every JSON file Rachis writes looks.
    public func prettyJSON() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}
