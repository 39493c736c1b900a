import Foundation
import HDF5
import Testing

struct AttributeTests {
    enum Target: String, CaseIterable, Sendable { case file, group, dataset }

    @Test(arguments: Target.allCases)
    func scalarArrayAndStringAttributes(_ target: Target) throws {
        try withTemporaryDirectory { folder in
            let url = folder.appendingPathComponent("attributes.h5")
            let objectPath: String
            do {
                let file = try File.create(at: url)
                let group = try file.createGroup("subjects/s001")
                let dataset = try group.createDataset("image", values: [Float](repeating: 0, count: 8), shape: [2, 2, 2])
                let object: Object = target == .file ? file : target == .group ? group : dataset
                objectPath = object.path
                try object.setAttribute("version", Int32(3))
                try object.setAttribute("spacingMM", [0.5, 0.5, 3.0])
                try object.setAttribute("direction", [Float](arrayLiteral: 1, 0, 0, 1), shape: [2, 2])
                try object.setAttribute("format", "rachis-dataset")
                try object.setAttribute("channels", ["T1", "T2 STIR", "Wirbelsäule"])
                try object.setAttribute("annotated", true)
                try object.setAttribute("version", Int32(4))  // replaces
            }
            let file = try File.open(url)
            let object: Object = target == .file ? file
                : target == .group ? try file.openGroup(objectPath) : try file.openDataset(objectPath)
            #expect(try object.attributeNames() == ["annotated", "channels", "direction", "format", "spacingMM", "version"])
            #expect(try object.readAttribute("version", as: Int32.self) == 4)
            #expect(try object.readAttribute("version", as: Int64.self) == 4)
            #expect(try object.readAttribute("spacingMM", as: [Double].self) == [0.5, 0.5, 3.0])
            #expect(try object.attribute("direction").read(as: Float.self) == HDF5Array(values: [1, 0, 0, 1], shape: [2, 2]))
            #expect(try object.readAttribute("format", as: String.self) == "rachis-dataset")
            #expect(try object.readAttribute("channels", as: [String].self) == ["T1", "T2 STIR", "Wirbelsäule"])
            #expect(try object.readAttribute("annotated", as: Bool.self))
            #expect(try object.attribute("format").shape == [])
            #expect(try object.attribute("channels").elementType == .string)
            #expect(object.hasAttribute("format") && !object.hasAttribute("missing"))

            let missing = hdf5Error { _ = try object.readAttribute("missing", as: Double.self) }
            #expect(missing?.kind == .notFound)
            #expect(missing?.object == objectPath + "@missing")
            #expect(missing?.description.contains(url.path) == true)
            let notScalar = hdf5Error { _ = try object.readAttribute("spacingMM", as: Double.self) }
            #expect(notScalar?.kind == .shapeMismatch(expected: [], found: [3]))
        }
    }

    @Test func deleteAttribute() throws {
        try withTemporaryDirectory { folder in
            let file = try File.create(at: folder.appendingPathComponent("delete.h5"))
            try file.setAttribute("a", 1.0)
            try file.deleteAttribute("a")
            #expect(!file.hasAttribute("a"))
            #expect(hdf5Error { try file.deleteAttribute("a") }?.kind == .notFound)
        }
    }
}
