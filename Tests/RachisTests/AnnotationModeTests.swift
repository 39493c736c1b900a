import Foundation
@testable import Rachis
import Testing

/// `AnnotationMode` is the one home of what a mode means: the schemas list exactly its cases, and its capabilities
/// agree with each other and with what the phantoms of each mode store.
struct AnnotationModeTests {
    static let schemas = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("schemas")

    /// Every `enum` in a schema that names annotation modes (one holding "full" and "unlabelled"), with where it is.
    static func modeEnums(in value: JSONValue, at pointer: String = "") -> [(pointer: String, names: [String])] {
        switch value {
        case let .object(members):
            var found: [(String, [String])] = []
            if case let .array(items)? = members["enum"] {
                let names = items.compactMap { item -> String? in if case let .string(s) = item { s } else { nil } }
                if names.contains("full"), names.contains("unlabelled") { found.append((pointer + "/enum", names)) }
            }
            for key in members.keys.sorted() { found += modeEnums(in: members[key]!, at: pointer + "/" + key) }
            return found
        case let .array(items):
            return items.enumerated().flatMap { modeEnums(in: $1, at: pointer + "/\($0)") }
        default:
            return []
        }
    }

    @Test func everySchemaEnumOfAnnotationModesListsExactlyTheModes() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.schemas.path).filter { $0.hasSuffix(".schema.json") }.sorted()
        var checked: [String] = []
        for file in files {
            let root = try JSONSchema(contentsOf: Self.schemas.appendingPathComponent(file)).root
            for (pointer, names) in Self.modeEnums(in: root) {
                // A manifest can only describe what the importer reads.
                let expected = AnnotationMode.allCases.filter { file != "import-manifest.schema.json" || $0.isImportable }.map(\.rawValue)
                #expect(names == expected, "\(file)\(pointer): \(names), expected \(expected)")
                checked.append(file)
            }
        }
        // The files that must name the modes do.
        #expect(Set(checked) == ["dataset.schema.json", "evaluation.schema.json", "import-manifest.schema.json", "phantom-recipe.schema.json"], "\(checked)")
    }

    @Test(arguments: AnnotationMode.allCases)
    func capabilitiesAgree(mode: AnnotationMode) {
        if mode.hasExactVoxelLabels { #expect(mode.hasVoxelLabels) }
        if mode.hasBoxLabels || mode.hasRaterLabels || mode.leavesUnlabelledVoxelsUnannotated { #expect(mode.hasVoxelLabels) }
        // Voxel labels are what segmentation trains on; boxes are not masks of structures.
        #expect(mode.tasks.contains(.segmentation) == (mode.hasVoxelLabels && !mode.hasBoxLabels))
        #expect(mode.tasks.contains(.autoencoding))
        #expect(mode.tasks == mode.tasks.sorted())
    }

    /// A phantom of each mode stores what its capabilities say, and nothing else.
    @Test func phantomsStoreWhatTheirModeCarries() throws {
        var recipe = PhantomRecipe()
        recipe.shape = [8, 48, 32]
        recipe.spacingMM = [4, 3, 3]
        for mode in AnnotationMode.allCases {
            recipe.annotationModes = [mode.rawValue: 1]
            let subject = try PhantomGenerator(recipe: recipe).sample(at: 0).subject
            #expect(subject.annotationMode == mode)
            #expect(subject.tasks == mode.tasks)
            #expect(subject.vertebraAnnotated.contains(1) == mode.hasVoxelLabels, "\(mode)")
            #expect(!subject.raters.isEmpty == mode.hasRaterLabels, "\(mode)")
            #expect(!subject.structureDescriptors.isEmpty == mode.hasStructureDescriptors, "\(mode)")
        }
    }
}
