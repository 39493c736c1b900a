import Foundation
import Rachis
import Testing

/// Inputs that trapped the readers of user files (scripts/fuzz.sh, issue 17): each must now be refused with an
/// error naming the file and the field.
struct FuzzRegressionTests {
    static func write(_ text: String, _ name: String, in folder: TemporaryFolder) throws -> URL {
        let url = folder.file(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    /// A class index beyond Int (1e300) trapped converting Double to Int.
    @Test(arguments: ["1e300", "-1e300", "2.5", ".inf"])
    func manifestClassIndexOutOfRangeIsRefused(index: String) throws {
        let folder = try TemporaryFolder()
        let url = try Self.write("""
            name: x
            classNames: [a, b]
            channels: [T1]
            subjects:
              - id: s1
                images: {T1: a.nii}
                classes: {L1: \(index)}
            """, "m.yaml", in: folder)
        #expect(throws: (any Error).self) { try ImportManifest.load(contentsOf: url) }
        do { _ = try ImportManifest.load(contentsOf: url) } catch {
            #expect("\(error)".contains("m.yaml") && "\(error)".contains("classes/L1"), "\(error)")
        }
    }

    /// A centroid label beyond Int trapped; a fractional one was truncated to a level.
    @Test(arguments: ["1e300", "20.5", "-1e19"])
    func centroidLabelThatIsNoLevelIdIsRefused(label: String) throws {
        let folder = try TemporaryFolder()
        let url = try Self.write("[{\"direction\": [\"P\", \"I\", \"R\"]}, {\"label\": \(label), \"X\": 1, \"Y\": 2, \"Z\": 3}]", "c.json", in: folder)
        let geometry = Geometry(shape: [8, 8, 8], spacingMM: [1, 1, 1])
        #expect(throws: ImportError.invalidValue(file: url.path, field: "[1].label", message: "\(Double(label)!) is not a level id (an integer)")) {
            try VerSeCentroids.load(contentsOf: url, geometry: geometry)
        }
        let good = try Self.write("[{\"direction\": [\"P\", \"I\", \"R\"]}, {\"label\": 20.0, \"X\": 1, \"Y\": 2, \"Z\": 3}]", "g.json", in: folder)
        #expect(try VerSeCentroids.load(contentsOf: good, geometry: geometry).keys.map(\.id) == [20])
    }

    /// The same conversion in label mapping files.
    @Test func labelMappingValueBeyondIntIsRefused() throws {
        let folder = try TemporaryFolder()
        let url = try Self.write("1: 1e300\n", "map.yaml", in: folder)
        #expect(throws: ImportError.self) { try LabelMapping.load(contentsOf: url) }
    }
}
