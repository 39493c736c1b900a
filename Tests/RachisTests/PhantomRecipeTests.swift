import Foundation
import Testing
import Rachis

struct PhantomRecipeTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    @Test(arguments: ["tiny", "default", "shortcut", "mixed-spacing"])
    func shippedRecipesDecode(name: String) throws {
        let recipe = try PhantomRecipe.load(contentsOf: Self.packageRoot.appendingPathComponent("datasets/\(name).yaml"))
        #expect(recipe.name == name)
        #expect(recipe.shortcut == (name == "shortcut"))
    }

    /// mixed-spacing.yaml is the demo's recipe on several grids, each covering the demo's field of view (within a voxel).
    @Test func mixedSpacingIsTheDemoOnSeveralGrids() throws {
        let load = { (name: String) in try PhantomRecipe.load(contentsOf: Self.packageRoot.appendingPathComponent("datasets/\(name).yaml")) }
        var mixed = try load("mixed-spacing")
        let demo = try load("default")
        #expect(mixed.grids.count >= 3 && mixed.grids.contains { $0.shape == demo.shape && $0.spacingMM == demo.spacingMM })
        for grid in mixed.grids {
            for axis in 0..<3 {
                let fov = Double(grid.shape[axis]) * grid.spacingMM[axis], demoFOV = Double(demo.shape[axis]) * demo.spacingMM[axis]
                #expect(abs(fov - demoFOV) <= grid.spacingMM[axis], "\(grid) axis \(axis): \(fov) mm against \(demoFOV) mm")
            }
        }
        (mixed.name, mixed.grids) = (demo.name, [])
        #expect(mixed == demo)
    }

    @Test func schemaListsExactlyTheRecipeKeys() throws {
        let data = try Data(contentsOf: Self.packageRoot.appendingPathComponent("schemas/phantom-recipe.schema.json"))
        let schema = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let properties = try #require(schema["properties"] as? [String: Any])
        #expect(Set(properties.keys) == Set(PhantomRecipe.CodingKeys.allCases.map(\.rawValue)))
        #expect(schema["additionalProperties"] as? Bool == false)
    }

    @Test func missingKeysTakeDefaults() throws {
        let recipe = try PhantomRecipe.decode(yaml: "count: 3\nspacingMM: [3.5, 1.25, 1.25]\n")
        var expected = PhantomRecipe()
        expected.count = 3
        expected.spacingMM = [3.5, 1.25, 1.25]
        #expect(recipe == expected)
    }

    @Test func jsonMatchesYAML() throws {
        let json = #"{"seed": 5, "shape": [8, 32, 24], "annotationModes": {"box": 1, "full": 2}}"#
        let a = try PhantomRecipe.decode(json: Data(json.utf8))
        let b = try PhantomRecipe.decode(yaml: json)
        #expect(a == b)
        #expect(a.annotationModes == ["box": 1, "full": 2])
    }

    @Test func unknownKeyIsNamedInYAML() {
        #expect(throws: PhantomRecipe.Error.unknownKey("noiseSigmaa", file: "r.yaml")) {
            try PhantomRecipe.decode(yaml: "count: 2\nnoiseSigmaa: [0.1, 0.2]\n", file: "r.yaml")
        }
    }

    @Test func unknownKeyIsNamedInJSON() throws {
        do {
            _ = try PhantomRecipe.decode(json: Data(#"{"count": 2, "lesionSize": 3}"#.utf8))
            Issue.record("decoding should fail")
        } catch {
            #expect(error == .unknownKey("lesionSize", file: "<data>"))
            #expect(error.description.contains("'lesionSize'"))
        }
    }

    @Test(arguments: [
        ("shape: [8, 32]", "shape"), ("classPrevalence: [0.5, 0.5]", "classPrevalence"),
        ("annotationModes: {fully: 1}", "annotationModes"), ("fovCenterLevels: [T10, X3]", "fovCenterLevels"),
        ("noiseSigma: [0.2, 0.1]", "noiseSigma"), ("shortcutStrength: 1.5", "shortcutStrength"),
        ("noiseVoxelMM3: 0", "noiseVoxelMM3"), ("noiseVoxelMM3: -14", "noiseVoxelMM3"),
        ("grids: [{shape: [8, 32], spacingMM: [4, 3, 3]}]", "grids"), ("grids: [{shape: [8, 32, 24], spacingMM: [4, 0, 3]}]", "grids"),
        ("grids: [{shape: [8, 32, 24], spacingMM: [4, 3, 3], weight: -1}]", "grids"),
        ("grids: [{shape: [8, 32, 24], spacingMM: [4, 3, 3], weight: 0}]", "grids"),
        ("grids: [{shape: [8, 32, 24], spacingMM: [4, 3, 3], spacing: [4, 3, 3]}]", "grids"),
    ])
    func invalidValueNamesTheKey(line: String, key: String) {
        do {
            _ = try PhantomRecipe.decode(yaml: line)
            Issue.record("\(line) should be rejected")
        } catch {
            guard case .invalidValue(let found, _) = error else { Issue.record("unexpected \(error)"); return }
            #expect(found == key)
        }
    }
}

struct VertebraLevelTests {
    @Test(arguments: [0, 27, 29, -1, 100])
    func rejectsUnknownIDs(id: Int) {
        #expect(throws: VertebraLevel.Error.unknownID(id)) { try VertebraLevel(id: id) }
    }

    @Test func rejectsUnknownNames() {
        #expect(throws: VertebraLevel.Error.unknownName("L7")) { try VertebraLevel(name: "L7") }
    }

    @Test(arguments: [(1, "C1"), (7, "C7"), (8, "T1"), (19, "T12"), (28, "T13"), (20, "L1"), (25, "L6"), (26, "S")])
    func idsAndNamesRoundTrip(id: Int, name: String) throws {
        #expect(try VertebraLevel(id: id).name == name)
        #expect(try VertebraLevel(name: name).id == id)
    }

    @Test func anatomicalOrderPutsTransitionalLevelsInPlace() throws {
        let names = VertebraLevel.anatomicalIDs.map { try! VertebraLevel(id: $0).name }
        #expect(names.count == 27)
        let order = try ["T12", "T13", "L1", "L5", "L6", "S"].map { try VertebraLevel(name: $0) }
        #expect(order == order.sorted())
        #expect(try VertebraLevel(name: "T13").region == .thoracic)
    }
}
