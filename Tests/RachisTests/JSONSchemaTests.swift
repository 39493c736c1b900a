import Foundation
import Testing
@testable import Rachis

struct JSONSchemaTests {
    static let schema = JSONSchema(try! JSONValue.parse(Data("""
        {
          "type": "object",
          "required": ["name", "size"],
          "properties": {
            "name": {"type": "string", "minLength": 1, "pattern": "^[a-z]+$"},
            "size": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 3, "maxItems": 3},
            "mode": {"enum": ["a", "b"]},
            "weight": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "child": {"$ref": "#/$defs/child"},
            "either": {"oneOf": [{"type": "string"}, {"type": "integer"}]}
          },
          "additionalProperties": false,
          "$defs": {"child": {"type": "object", "properties": {"flag": {"type": "boolean"}}, "additionalProperties": false, "maxProperties": 1}}
        }
        """.utf8), source: "test"), name: "test")

    static func violations(_ json: String) throws -> [String] {
        schema.validate(try JSONValue.parse(Data(json.utf8), source: "doc")).map(\.description)
    }

    @Test func validDocumentHasNoViolations() throws {
        #expect(try Self.violations(#"{"name": "abc", "size": [1, 2, 3], "mode": "a", "weight": 0.5, "child": {"flag": true}, "either": 3}"#) == [])
    }

    @Test(arguments: [
        (#"{"size": [1, 2, 3]}"#, #"(root): missing required key "name""#),
        (#"{"name": "abc", "size": [1, 2, 3], "extra": 1}"#, #"/extra: unknown key "extra""#),
        (#"{"name": "ABC", "size": [1, 2, 3]}"#, #"/name: "ABC" does not match the pattern ^[a-z]+$"#),
        (#"{"name": "abc", "size": [1, 2]}"#, "/size: 2 items, at least 3 required"),
        (#"{"name": "abc", "size": [1, 0, 3]}"#, "/size/1: 0 is below the minimum 1"),
        (#"{"name": "abc", "size": [1, 2.5, 3]}"#, "/size/1: expected integer, found number"),
        (#"{"name": "abc", "size": [1, 2, 3], "mode": "c"}"#, #"/mode: "c" is not one of "a", "b""#),
        (#"{"name": "abc", "size": [1, 2, 3], "weight": 0}"#, "/weight: 0 must be greater than 0"),
        (#"{"name": "abc", "size": [1, 2, 3], "child": {"flag": 1}}"#, "/child/flag: expected boolean, found integer"),
        (#"{"name": "abc", "size": [1, 2, 3], "either": true}"#, "/either: matches none of the allowed forms"),
        (#"{"name": 1, "size": [1, 2, 3]}"#, "/name: expected string, found integer"),
    ])
    func violationsNamePathAndReason(document: String, expected: String) throws {
        #expect(try Self.violations(document) == [expected])
    }

    @Test func booleansAndNumbersStayApart() throws {
        let value = try JSONValue.parse(Data(#"[true, 1, 1.5, false, null]"#.utf8), source: "doc")
        #expect(value == .array([.bool(true), .number(1), .number(1.5), .bool(false), .null]))
    }

    @Test func invalidJSONNamesTheSource() {
        #expect {
            _ = try JSONValue.parse(Data("{".utf8), source: "config.json")
        } throws: { error in
            "\(error)".hasPrefix("config.json: not valid JSON")
        }
    }

    /// Every schema shipped in schemas/ parses and uses only keywords this validator implements.
    @Test func shippedSchemasUseSupportedKeywords() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("schemas")
        let supported: Set<String> = [
            "$schema", "$id", "$ref", "$defs", "$comment", "title", "description", "default", "examples", "type", "enum",
            "const", "properties", "required", "additionalProperties", "patternProperties", "propertyNames",
            "minProperties", "maxProperties", "items", "prefixItems", "minItems", "maxItems", "minimum", "maximum",
            "exclusiveMinimum", "exclusiveMaximum", "minLength", "pattern", "allOf", "anyOf", "oneOf", "not", "if", "then",
        ]
        let files = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "json" }
        #expect(!files.isEmpty)
        for file in files {
            var unknown: Set<String> = []
            func visit(_ value: JSONValue, asSchema: Bool) {
                switch value {
                case let .object(members):
                    for (key, child) in members {
                        if asSchema, !supported.contains(key) { unknown.insert(key) }
                        let childIsSchemaMap = ["properties", "patternProperties", "$defs"].contains(key)
                        if childIsSchemaMap, case let .object(map) = child {
                            for sub in map.values { visit(sub, asSchema: true) }
                        } else if ["enum", "const", "required", "default", "examples"].contains(key) {
                            continue
                        } else {
                            visit(child, asSchema: true)
                        }
                    }
                case let .array(items):
                    for item in items { visit(item, asSchema: true) }
                default:
                    break
                }
            }
            visit(try JSONSchema(contentsOf: file).root, asSchema: true)
            #expect(unknown.isEmpty, "\(file.lastPathComponent) uses unsupported keywords: \(unknown.sorted())")
        }
    }
}

extension JSONSchemaTests {
    /// The binary's built-in copies equal schemas/ (scripts/embed-schemas.sh regenerates them), and are exactly the
    /// schemas the sources ask for by name.
    @Test func embeddedSchemasMatchTheFilesAndWhatTheCodeAsksFor() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: JSONSchema.folder.path).filter { $0.hasSuffix(".schema.json") }
        #expect(Set(JSONSchema.embedded.keys).isSubset(of: files))
        for name in JSONSchema.embedded.keys {
            #expect(try JSONSchema.shipped(name).root == JSONSchema.file(name).root, "\(name) differs from its built-in copy: run scripts/embed-schemas.sh")
        }
        let sources = JSONSchema.folder.deletingLastPathComponent().appendingPathComponent("Sources")
        var asked: Set<String> = []
        for case let file as URL in FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)! where file.pathExtension == "swift" {
            let text = try String(contentsOf: file, encoding: .utf8)
            let pattern = /JSONSchema\.shipped\("([a-z-]+\.schema\.json)"\)/
            asked.formUnion(text.matches(of: pattern).map { String($0.output.1) })
        }
        #expect(asked == Set(JSONSchema.embedded.keys), "add the schemas the code asks for to scripts/embed-schemas.sh (asked: \(asked.sorted()))")
    }

    /// The schemas of documents Rachis only writes stay out of the binary.
    @Test func aSchemaTheBinaryNeverReadsIsNotBuiltIn() throws {
        #expect(throws: JSONSchema.LookupError.self) { try JSONSchema.shipped("evaluation.schema.json") }
    }
}
