import Foundation
import Testing
@testable import Rachis

/// `rachis dataset import` and `export` through the library: round trips, orientation, centroids, label mapping
/// and every bad input (each must fail with a message naming the file, and leave no output behind).
struct DatasetImportTests {
    // MARK: Fixtures

    /// A tiny canonical subject folder: T1 and STIR images and L1/L2 vertebra labels, all on one grid.
    struct Case {
        let folder: URL
        static let geometry = Geometry(shape: [4, 6, 5], spacingMM: [3, 1.5, 1], originMM: [-4.5, 12, 30.5])
        static let vertebrae: [Float] = (0..<120).map { i in
            let (d, h) = (i / 30, i / 5 % 6)
            return d == 0 ? 0 : h < 3 ? 20 : h < 5 ? 21 : 0
        }

        init() throws {
            folder = try Fixture.folder()
            try write("t1.nii.gz", Fixture.values(count: 120, seed: 1))
            try write("stir.nii.gz", Fixture.values(count: 120, seed: 2))
            try write("vert.nii.gz", Self.vertebrae, type: .uint8)
        }

        func url(_ name: String) -> URL { folder.appendingPathComponent(name) }

        func write(_ name: String, _ voxels: [Float], type: VoxelType = .float32, geometry: Geometry = Case.geometry) throws {
            try ImageIO.write(ImageVolume(geometry: geometry, voxels: voxels, voxelType: type), to: url(name))
        }

        /// A YAML manifest for one subject; `extra` lines go into the subject.
        @discardableResult
        func manifest(_ extra: [String] = ["vertebrae: vert.nii.gz"], top: [String] = [], name: String = "manifest.yaml") throws -> URL {
            let text = (["name: tiny", "classNames: [normal, inflamed]", "channels: [T1, STIR]"] + top + [
                "subjects:", "  - id: s1", "    images: {T1: t1.nii.gz, STIR: stir.nii.gz}",
            ] + extra.map { "    " + $0 }).joined(separator: "\n")
            try text.write(to: url(name), atomically: true, encoding: .utf8)
            return url(name)
        }

        /// Imports the manifest into `out.h5`.
        @discardableResult
        func importing(_ manifest: URL, overwrite: Bool = false) throws -> ImportSummary {
            try DatasetImporter.run(try ImportManifest.load(contentsOf: manifest), to: url("out.h5"), overwrite: overwrite, command: "test")
        }

        /// Files in the folder that an import may have left: the output or a temporary file.
        var leftovers: [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasSuffix(".h5") || $0.hasSuffix(".tmp") }
        }
    }

    /// The error `body` throws, or nil (recorded as an issue).
    static func error(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> Error? {
        do { try body() } catch { return error }
        Issue.record("expected an error", sourceLocation: sourceLocation)
        return nil
    }

    static func closeGeometry(_ a: Geometry, _ b: Geometry) -> Bool {
        a.shape == b.shape && Fixture.close(a.spacingMM, b.spacingMM, tolerance: 1e-6) && Fixture.close(a.originMM, b.originMM, tolerance: 1e-6)
            && Fixture.close(a.direction, b.direction, tolerance: 1e-6)
    }

    // MARK: Round trips

    @Test func phantomSubjectRoundTripsThroughExportAndImport() throws {
        var recipe = PhantomRecipe()
        recipe.seed = 5
        recipe.count = 1
        recipe.shape = [6, 40, 28]
        let original = try PhantomGenerator(recipe: recipe).subject(at: 0)
        let folder = try Fixture.folder()
        defer { Fixture.remove(folder) }
        let source = folder.appendingPathComponent("source.h5")
        try DatasetFile.create(at: source, header: DatasetHeader(name: "p", classNames: recipe.classNames, channelNames: original.channelNames),
                               provenance: Provenance(command: "test")) { try $0.add(original) }

        let reader = try DatasetReader(url: source)
        let exports: [(String, ExportVolume, String?)] = [
            ("t1.nii.gz", .image, "T1"), ("stir.nii.gz", .image, "STIR"), ("vert.nii.gz", .vertebrae, nil), ("struct.nii.gz", .structures, nil),
        ]
        for (name, volume, channel) in exports {
            let url = folder.appendingPathComponent(name)
            try DatasetExporter.export(reader, subject: original.id, volume, channel: channel, to: url, overwrite: false)
            let back = try ImageIO.read(url)
            #expect(back.voxels == (try DatasetExporter.volume(reader, subject: original.id, volume, channel: channel)).voxels, "\(name)")
            #expect(Self.closeGeometry(back.geometry, original.geometry), "\(name)")
            #expect(back.voxelType == (volume == .image ? .float32 : .uint8))
        }
        let classes = original.vertebrae.compactMap { r in r.classIndex.map { "\(r.level.name): \(recipe.classNames[$0])" } }
        let manifest = """
            name: p
            classNames: [\(recipe.classNames.joined(separator: ", "))]
            channels: [T1, STIR]
            subjects:
              - id: \(original.id)
                images: {T1: t1.nii.gz, STIR: stir.nii.gz}
                vertebrae: vert.nii.gz
                structures: struct.nii.gz
                classes: {\(classes.joined(separator: ", "))}
            """
        let manifestURL = folder.appendingPathComponent("m.yaml")
        try manifest.write(to: manifestURL, atomically: true, encoding: .utf8)
        let output = folder.appendingPathComponent("imported.h5")
        let summary = try DatasetImporter.run(try ImportManifest.load(contentsOf: manifestURL), to: output, overwrite: false, command: "rachis dataset import m.yaml")
        #expect(summary.subjects == 1 && summary.vertebrae == original.vertebrae.count && summary.sourceFiles == 5)

        let imported = try DatasetReader(url: output).subject(original.id)
        #expect(imported.image == original.image)
        #expect(imported.vertebraLabels == original.vertebraLabels)
        #expect(imported.structureLabels == original.structureLabels)
        #expect(imported.vertebraAnnotated == original.vertebraAnnotated)
        #expect(imported.structureAnnotated == original.structureAnnotated)
        #expect(Self.closeGeometry(imported.geometry, original.geometry))
        #expect(imported.annotationMode == .full && imported.tasks == original.tasks)
        #expect(imported.vertebrae.map(\.level) == original.vertebrae.map(\.level))
        #expect(imported.vertebrae.map(\.classIndex) == original.vertebrae.map(\.classIndex))
        #expect(imported.vertebrae.map(\.cutByFieldOfView) == original.vertebrae.map(\.cutByFieldOfView))
        #expect(imported.vertebrae.map(\.annotation) == original.vertebrae.map(\.annotation))
        for (a, b) in zip(imported.vertebrae, original.vertebrae) {
            #expect(Fixture.close(a.centroidMM ?? [], b.centroidMM ?? [], tolerance: 1e-5), "\(a.level)")
        }
        #expect(try DatasetValidator().validate(output).isEmpty)
        let provenance = try DatasetReader(url: output).provenance()
        #expect(provenance.command == "rachis dataset import m.yaml")
        #expect(provenance.sourceFiles.count == 5)
        #expect(provenance.sourceFiles.first?.sha256 == SHA256.hex(try Data(contentsOf: manifestURL)))
        #expect(provenance.recipe?.contains("\"struct.nii.gz\"") == true)
    }

    @Test(arguments: ["RAS", "LPS", "SAL"])
    func sourceInAnotherOrientationImportsToTheSameArrays(axcodes: String) throws {
        let c = try Case()
        defer { Fixture.remove(c.folder) }
        let script = """
            import sys, nibabel as nib
            from nibabel.orientations import io_orientation, axcodes2ornt, ornt_transform
            for src, dst in zip(sys.argv[2::2], sys.argv[3::2]):
                img = nib.load(src)
                out = img.as_reoriented(ornt_transform(io_orientation(img.affine), axcodes2ornt(tuple(sys.argv[1]))))
                assert nib.aff2axcodes(out.affine) == tuple(sys.argv[1])
                nib.save(out, dst)
            """
        let names = ["t1", "stir", "vert"]
        guard ImportInteropTests.python(script, [axcodes] + names.flatMap { [c.url("\($0).nii.gz").path, c.url("\($0)-\(axcodes).nii.gz").path] }) != nil else { return }
        try c.manifest(["vertebrae: vert.nii.gz"], name: "a.yaml")
        try c.importing(c.url("a.yaml"))
        let reference = try DatasetReader(url: c.url("out.h5")).subject("s1")
        try FileManager.default.removeItem(at: c.url("out.h5"))
        let text = try String(contentsOf: c.url("a.yaml"), encoding: .utf8).replacingOccurrences(of: ".nii.gz", with: "-\(axcodes).nii.gz")
        try text.write(to: c.url("b.yaml"), atomically: true, encoding: .utf8)
        try c.importing(c.url("b.yaml"))
        let reoriented = try DatasetReader(url: c.url("out.h5")).subject("s1")
        #expect(reoriented.image == reference.image)
        #expect(reoriented.vertebraLabels == reference.vertebraLabels)
        #expect(Self.closeGeometry(reoriented.geometry, reference.geometry))
        #expect(reoriented.vertebrae == reference.vertebrae)
    }

    @Test func csvManifestImportsLikeYAML() throws {
        let c = try Case()
        defer { Fixture.remove(c.folder) }
        try """
            id,annotation,vertebrae,structures,centroids,classes,image:T1,image:STIR
            s1,partial,vert.nii.gz,,,L1=1;L2=normal,t1.nii.gz,stir.nii.gz
            s2,,,,,L2=0,t1.nii.gz,stir.nii.gz
            s3,,,,,,t1.nii.gz,stir.nii.gz
            """.write(to: c.url("m.csv"), atomically: true, encoding: .utf8)
        let manifest = try ImportManifest.load(contentsOf: c.url("m.csv"), classNames: ["normal", "inflamed"])
        #expect(manifest.channels == ["T1", "STIR"] && manifest.name == "m")
        #expect(manifest.subjects.map(\.annotation) == [.partial, .classOnly, .unlabelled])
        _ = try DatasetImporter.run(manifest, to: c.url("out.h5"), overwrite: false, command: "test")
        let reader = try DatasetReader(url: c.url("out.h5"))
        let s1 = try reader.subject("s1")
        #expect(s1.vertebrae.map(\.classIndex) == [1, 0])
        // Partial labels: only the labelled voxels are annotated; their background is unknown.
        #expect(s1.vertebraAnnotated == s1.vertebraLabels.map { $0 == 0 ? 0 : 1 })
        #expect(try reader.subject("s2").vertebrae.map(\.annotation) == [.classOnly])
        #expect(try reader.subject("s3").vertebrae.isEmpty)
        #expect(try DatasetValidator().validate(c.url("out.h5")).isEmpty)
    }

    @Test func labelsGiveTheTableCentroidsAndFieldOfViewCuts() throws {
        let c = try Case()
        defer { Fixture.remove(c.folder) }
        try c.importing(try c.manifest(["vertebrae: vert.nii.gz", "classes: {L1: 1}"]))
        let s = try DatasetReader(url: c.url("out.h5")).subject("s1")
        #expect(s.vertebrae.map(\.level.name) == ["L1", "L2"])
        #expect(s.vertebrae.map(\.classIndex) == [1, nil])
        #expect(s.vertebrae.map(\.cutByFieldOfView) == [true, false])  // L1 fills rows 0-2, L2 rows 3-4 of 6
        // L1: d 1...3, h 0...2, w 0...4 → mean index [2, 1, 2].
        #expect(Fixture.close(s.vertebrae[0].centroidMM!, Case.geometry.worldMM(index: [2, 1, 2])))
        #expect(s.vertebraAnnotated.allSatisfy { $0 == 1 } && s.structureAnnotated.allSatisfy { $0 == 0 })
    }

    // MARK: Centroids and label mapping

    @Test func verseCentroidsConvertToWorldMM() throws {
        let g = Geometry(shape: [5, 6, 7], spacingMM: [2, 1, 0.5], originMM: [10, 20, 30])
        func centroids(_ direction: [String]) throws -> [Double]? {
            let json = "[{\"direction\": \(direction)}, {\"label\": 20, \"X\": 1, \"Y\": 2, \"Z\": 3}]"  // Swift prints ["P", "I", "R"] as JSON
            let document = try JSONValue.parse(Data(json.utf8), source: "c.json")
            return try VerSeCentroids.centroids(document, file: "c.json", geometry: g)[try VertebraLevel(id: 20)]
        }
        // PIR: X→w, Y→h, Z→d: index [3, 2, 1]; world = origin + (3·2, 0, 0) + (0, 0, −2·1) + (0, −1·0.5, 0).
        #expect(try centroids(["P", "I", "R"]) == [16, 19.5, 28])
        // LAS, flipped as VerSe's reorient_centroids_to does (size − v): X along L (d = 5 − 1 = 4), Y along A
        // (w = 7 − 2 = 5), Z along S (h = 6 − 3 = 3); world = origin + (4·2, 0, 0) + (0, 0, −3·1) + (0, −5·0.5, 0).
        #expect(try centroids(["L", "A", "S"]) == [18, 17.5, 27])
        let bad = try JSONValue.parse(Data("[{\"direction\": [\"P\",\"I\",\"R\"]}, {\"label\": 27, \"X\": 1, \"Y\": 2, \"Z\": 3}]".utf8), source: "c.json")
        #expect(throws: ImportError.unknownLevel(file: "c.json", value: 27)) { try VerSeCentroids.centroids(bad, file: "c.json", geometry: g) }
        let noDirection = try JSONValue.parse(Data("[{\"label\": 20, \"X\": 1, \"Y\": 2, \"Z\": 3}]".utf8), source: "c.json")
        #expect(throws: ImportError.self) { try VerSeCentroids.centroids(noDirection, file: "c.json", geometry: g) }
    }

    @Test func centroidFileOverridesTheVoxelCentroids() throws {
        let c = try Case()
        defer { Fixture.remove(c.folder) }
        try #"[{"direction": ["P", "I", "R"]}, {"label": 21, "X": 2, "Y": 4, "Z": 2}, {"label": 22, "X": 1, "Y": 1, "Z": 1}]"#
            .write(to: c.url("ctd.json"), atomically: true, encoding: .utf8)
        try c.importing(try c.manifest(["vertebrae: vert.nii.gz", "centroids: ctd.json"]))
        let s = try DatasetReader(url: c.url("out.h5")).subject("s1")
        #expect(s.vertebrae.map(\.level.name) == ["L1", "L2", "L3"])
        #expect(Fixture.close(s.vertebrae[1].centroidMM!, Case.geometry.worldMM(index: [2, 4, 2])))
        #expect(s.vertebrae[2].annotation == .unlabelled)  // L3 has a centroid but no voxels
    }

    @Test func labelMappingTranslatesSourceValues() throws {
        let c = try Case()
        defer { Fixture.remove(c.folder) }
        try c.write("vert.nii.gz", Case.vertebrae.map { $0 == 20 ? 1 : $0 == 21 ? 2 : 9 }, type: .uint8)
        try "1: L1\n2: 21\n9: 0\n".write(to: c.url("map.yaml"), atomically: true, encoding: .utf8)
        try c.importing(try c.manifest(top: ["labelMapping: map.yaml"]))
        let s = try DatasetReader(url: c.url("out.h5")).subject("s1")
        #expect(s.vertebraLabels == Case.vertebrae.map { UInt8($0) })

        try "1: L1\n2: 21\n".write(to: c.url("map.yaml"), atomically: true, encoding: .utf8)
        let error = Self.error { try c.importing(try c.manifest(top: ["labelMapping: map.yaml"]), overwrite: true) }
        #expect(error as? ImportError == .unmappedLabel(file: c.url("vert.nii.gz").path, value: 9, mapping: c.url("map.yaml").path))
    }

    @Test func sha256MatchesKnownDigestsAndSha256sum() throws {
        #expect(SHA256.hex(Data()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let folder = try Fixture.folder()
        defer { Fixture.remove(folder) }
        for size in [1, 55, 56, 63, 64, 65, 119, 120, 1000, 100_003] {
            let url = folder.appendingPathComponent("\(size).bin")
            let bytes = Fixture.values(count: size, seed: UInt64(size), range: 0...255, integers: true).map { UInt8($0) }
            try Data(bytes).write(to: url)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
            process.arguments = [url.path]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(try SHA256.hex(contentsOf: url) == output.split(separator: " ").first.map(String.init), "\(size) bytes")
        }
    }

    // MARK: Bad inputs: each names the file, and leaves no output behind

    @Test func missingFile() throws {
        let c = try Case()
        defer { Fixture.remove(c.folder) }
        let error = Self.error { try c.importing(try c.manifest(["vertebrae: nowhere.nii.gz"])) }
        #expect(error as? ImageIOError == .missingFile(path: c.url("nowhere.nii.gz").path))
        #expect(c.leftovers.isEmpty)
    }

    @Test func geometryMismatchNamesBothFiles() throws {
        let c = try Case()
        defer { Fixture.remove(c.folder) }
        var shifted = Case.geometry
        shifted.originMM[1] += 0.5
        try c.write("stir.nii.gz", Fixture.values(count: 120, seed: 2), geometry: shifted)
        let error = Self.error { try c.importing(try c.manifest()) }
        guard case let .geometryMismatch(file, reference, field, _, _)? = error as? ImportError else {
            Issue.record("expected geometryMismatch, got \(String(describing: error))")
            return
        }
        #expect(file == c.url("stir.nii.gz").path && reference == c.url("t1.nii.gz").path && field == "origin (mm)")
        #expect("\(error!)".contains("stir.nii.gz") && "\(error!)".contains("t1.nii.gz"))
        #expect(c.leftovers.isEmpty)
    }

    @Test func nanVoxelsNameTheFileAndCount() throws {
        let c = try Case()
        defer { Fixture.remove(c.folder) }
        var voxels = Fixture.values(count: 120, seed: 1)
        (voxels[3], voxels[50], voxels[7]) = (.nan, .nan, .infinity)
        try c.write("t1.nii.gz", voxels)
        let error = Self.error { try c.importing(try c.manifest()) }
        #expect(error as? ImageIOError == .nonFiniteVoxels(path: c.url("t1.nii.gz").path, nanCount: 2, infiniteCount: 1))
        #expect(c.leftovers.isEmpty)
    }

    @Test func unknownLevelID() throws {
        let c = try Case()
        defer { Fixture.remove(c.folder) }
        try c.write("vert.nii.gz", Case.vertebrae.map { $0 == 21 ? 27 : $0 }, type: .uint8)
        let error = Self.error { try c.importing(try c.manifest()) }
        #expect(error as? ImportError == .unknownLevel(file: c.url("vert.nii.gz").path, value: 27))
        #expect("\(error!)".contains("27"))
        #expect(c.leftovers.isEmpty)
    }

    @Test(arguments: [(["bogus: 1"], [String](), "/subjects/0/bogus: unknown key \"bogus\""),
                      (["vertebrae: vert.nii.gz"], ["labels: x"], "/labels: unknown key \"labels\"")])
    func unknownManifestKey(subjectLines: [String], topLines: [String], expected: String) throws {
        let c = try Case()
        defer { Fixture.remove(c.folder) }
        let error = Self.error { try c.importing(try c.manifest(subjectLines, top: topLines)) }
        #expect(error as? ImportError == .invalidManifest(file: c.url("manifest.yaml").path, problems: [expected]))
        #expect(c.leftovers.isEmpty)
    }

    @Test func unknownCSVColumn() throws {
        let c = try Case()
        defer { Fixture.remove(c.folder) }
        try "id,image:T1,grade\ns1,t1.nii.gz,2\n".write(to: c.url("m.csv"), atomically: true, encoding: .utf8)
        let error = Self.error { _ = try ImportManifest.load(contentsOf: c.url("m.csv"), classNames: []) }
        #expect("\(error!)".contains("unknown column \"grade\"") && "\(error!)".contains("m.csv"))
    }

    @Test func corruptGzipNamesTheFile() throws {
        let c = try Case()
        defer { Fixture.remove(c.folder) }
        var bytes = try Data(contentsOf: c.url("vert.nii.gz"))
        bytes.replaceSubrange(20..<bytes.count - 8, with: Data(repeating: 0x5a, count: bytes.count - 28))
        try bytes.write(to: c.url("vert.nii.gz"))
        let error = Self.error { try c.importing(try c.manifest()) }
        #expect(error is ImageIOError && "\(error!)".hasPrefix(c.url("vert.nii.gz").path))
        #expect(c.leftovers.isEmpty)
    }

    @Test func existingOutputNeedsOverwriteAndStaysUntouched() throws {
        let c = try Case()
        defer { Fixture.remove(c.folder) }
        let original = Data("not to be touched".utf8)
        try original.write(to: c.url("out.h5"))
        let manifest = try c.manifest()
        #expect(throws: DatasetError.fileExists(c.url("out.h5").path)) { try c.importing(manifest) }
        #expect(try Data(contentsOf: c.url("out.h5")) == original)
        // A failing import with overwrite leaves the existing file untouched too.
        try c.write("vert.nii.gz", Case.vertebrae.map { $0 == 21 ? 27 : $0 }, type: .uint8)
        #expect(throws: ImportError.self) { try c.importing(manifest, overwrite: true) }
        #expect(try Data(contentsOf: c.url("out.h5")) == original)
        #expect(c.leftovers == ["out.h5"])
    }

    @Test func annotationWithoutLabelsAndUnknownClassAreRejected() throws {
        let c = try Case()
        defer { Fixture.remove(c.folder) }
        #expect(throws: ImportError.self) { try c.importing(try c.manifest(["annotation: full"])) }
        let error = Self.error { try c.importing(try c.manifest(["classes: {L1: sick}"])) }
        #expect("\(error!)".contains("subjects/0 (s1)/classes/L1"))
        #expect(c.leftovers.isEmpty)
    }

    @Test func exportRefusesExistingFilesAndUnknownChannels() throws {
        let c = try Case()
        defer { Fixture.remove(c.folder) }
        try c.importing(try c.manifest())
        let reader = try DatasetReader(url: c.url("out.h5"))
        try Data("keep".utf8).write(to: c.url("x.nii.gz"))
        #expect(throws: DatasetError.fileExists(c.url("x.nii.gz").path)) {
            try DatasetExporter.export(reader, subject: "s1", .vertebrae, to: c.url("x.nii.gz"), overwrite: false)
        }
        #expect(try Data(contentsOf: c.url("x.nii.gz")) == Data("keep".utf8))
        #expect(throws: ExportError.channelNeeded(file: c.url("out.h5").path, channels: ["T1", "STIR"])) {
            try DatasetExporter.export(reader, subject: "s1", .image, to: c.url("y.nii.gz"), overwrite: false)
        }
        #expect(throws: DatasetError.self) {
            try DatasetExporter.export(reader, subject: "nobody", .vertebrae, to: c.url("y.nii.gz"), overwrite: false)
        }
        try DatasetExporter.export(reader, subject: "s1", .annotatedVertebrae, to: c.url("x.nii.gz"), overwrite: true)
        #expect(try ImageIO.read(c.url("x.nii.gz")).voxels == [Float](repeating: 1, count: 120))
    }
}
