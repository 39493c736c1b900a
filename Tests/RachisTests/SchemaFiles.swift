import Foundation
import Rachis

extension JSONSchema {
    /// The folder schemas/ of the repository.
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("schemas")

    /// A schema file of schemas/, e.g. "evaluation.schema.json": the schemas of what Rachis writes and never reads
    /// back are not built into the binary (`shipped`), so the tests check documents against the files.
    static func file(_ name: String) throws -> JSONSchema {
        try JSONSchema(contentsOf: folder.appendingPathComponent(name))
    }
}
