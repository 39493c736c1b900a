import Foundation
import HDF5
import Testing
@testable import Rachis

/// A temporary folder removed when the value is released.
final class TemporaryFolder {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("rachis-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func file(_ name: String) -> URL { url.appendingPathComponent(name) }
}

enum TestData {
    /// Small phantom subjects covering every annotation mode (the tiny recipe, made smaller).
    static func phantomSubjects(count: Int = 9) throws -> [Subject] {
        var recipe = PhantomRecipe()
        recipe.seed = 3
        recipe.count = count
        recipe.shape = [8, 48, 32]
        recipe.spacingMM = [4, 3, 3]
        recipe.annotationModes = ["full": 2, "partial": 1, "box": 1, "eroded": 1, "dilated": 1, "raters": 1, "classOnly": 1, "unlabelled": 1]
        return try PhantomGenerator(recipe: recipe).subjects()
    }

    static func header(for subjects: [Subject]) -> DatasetHeader {
        DatasetHeader(name: "test", classNames: subjects[0].classNames, channelNames: subjects[0].channelNames)
    }

    static func writeDataset(_ subjects: [Subject], to url: URL, splits: [Split] = []) throws {
        try DatasetFile.create(at: url, header: header(for: subjects), provenance: Provenance(command: "test")) { writer in
            for s in subjects { try writer.add(s) }
            for split in splits { try writer.add(split) }
        }
    }
}

struct DatasetFileTests {
    @Test func subjectsRoundTripExactly() throws {
        let folder = try TemporaryFolder()
        let subjects = try TestData.phantomSubjects()
        #expect(Set(subjects.map(\.annotationMode)).count >= 5)
        let url = folder.file("d.h5")
        try TestData.writeDataset(subjects, to: url)
        let reader = try DatasetReader(url: url)
        #expect(reader.header == TestData.header(for: subjects))
        #expect(reader.subjectIDs == subjects.map(\.id).sorted())
        for subject in subjects {
            let back = try reader.subject(subject.id)
            if subject.hasVoxelLabels {
                #expect(back == subject, "subject \(subject.id) (\(subject.annotationMode)) changed in the round trip")
            } else {
                // Without voxel labels nothing is stored: labels come back as zeros, annotated nowhere.
                var expected = subject
                let zeros = [UInt8](repeating: 0, count: subject.geometry.voxelCount)
                (expected.vertebraLabels, expected.structureLabels, expected.vertebraAnnotated, expected.structureAnnotated) = (zeros, zeros, zeros, zeros)
                #expect(subject.vertebraAnnotated.allSatisfy { $0 == 0 })
                #expect(back == expected)
            }
        }
        #expect(try reader.provenance().command == "test")
    }

    /// From the file (hyperslabs) and from the volume cache alike; the cache's second read comes from memory.
    @Test(arguments: [0, 64 << 20])
    func cropsEqualTheSameRegionOfTheWholeVolume(cacheBytes: Int) throws {
        let folder = try TemporaryFolder()
        let subjects = try TestData.phantomSubjects(count: 2)
        let url = folder.file("d.h5")
        try TestData.writeDataset(subjects, to: url)
        let reader = try DatasetReader(url: url)
        reader.cacheVolumes(upToBytes: cacheBytes)
        let s = subjects[0]
        let shape = s.geometry.shape
        let (offset, size) = ([2, 10, 5], [4, 20, 16])
        let crop = try reader.imageCrop(s.id, offset: offset, size: size)
        let labels = try reader.volumeCrop(s.id, "labels/vertebrae", offset: offset, size: size)
        #expect((reader.cachedBytes > 0) == (cacheBytes > 0))
        #expect(try reader.imageCrop(s.id, offset: offset, size: size) == crop)
        #expect(try reader.volumeCrop(s.id, "raters/9/structures", offset: offset, size: size) == [UInt8](repeating: 0, count: size.reduce(1, *)))
        #expect(throws: DatasetError.self) { try reader.volumeCrop(s.id, "labels/vertebrae", offset: [0, 0, 0], size: [1, 1, shape[2] + 1]) }
        var expectedImage: [Float] = []
        var expectedLabels: [UInt8] = []
        for c in 0..<s.channelNames.count {
            for d in 0..<size[0] {
                for h in 0..<size[1] {
                    for w in 0..<size[2] {
                        let i = ((d + offset[0]) * shape[1] + h + offset[1]) * shape[2] + w + offset[2]
                        expectedImage.append(s.image[c * s.geometry.voxelCount + i])
                        if c == 0 { expectedLabels.append(s.vertebraLabels[i]) }
                    }
                }
            }
        }
        #expect(crop == expectedImage)
        #expect(labels == expectedLabels)
        #expect(throws: DatasetError.self) { try reader.imageCrop(s.id, offset: [6, 0, 0], size: [4, 4, 4]) }
    }

    @Test func volumeCacheCutsBoxesAndDropsTheLeastRecentlyUsed() throws {
        // A 4-D volume whose value is its own row-major index: a box's values are known in closed form.
        let shape = [2, 3, 5, 7]
        let values = Array(0..<shape.reduce(1, *))
        let (offset, size) = ([1, 1, 2, 3], [1, 2, 3, 4])
        let box = VolumeCache.crop(values, shape: shape, offset: offset, size: size)
        var expected: [Int] = []
        for a in 0..<1 { for b in 0..<2 { for c in 0..<3 { for d in 0..<4 {
            expected.append(((a + 1) * 3 + b + 1) * 35 + (c + 2) * 7 + d + 3)
        } } } }
        #expect(box == expected)

        let cache = VolumeCache(capacity: 3 * 100)
        var loads = 0
        func get(_ key: String, _ count: Int = 100) -> [UInt8] {
            cache.volume(key) { loads += 1; return VolumeCache.Volume(values: [UInt8](repeating: UInt8(key.count), count: count), shape: [count]) }.values
        }
        _ = get("a"); _ = get("bb"); _ = get("ccc")
        #expect(loads == 3 && cache.bytes == 300)
        _ = get("a")  // a is now the most recent: d evicts bb
        _ = get("dddd")
        #expect(loads == 4 && cache.bytes == 300)
        _ = get("a"); _ = get("ccc")
        #expect(loads == 4)
        _ = get("bb")
        #expect(loads == 5)
        _ = get("huge", 301)  // larger than the budget: returned, not kept
        _ = get("huge", 301)
        #expect(loads == 7 && cache.bytes == 300)
    }

    @Test func aPhantomDatasetValidatesClean() throws {
        let folder = try TemporaryFolder()
        let subjects = try TestData.phantomSubjects()
        let url = folder.file("d.h5")
        let ids = subjects.map(\.id)
        try TestData.writeDataset(subjects, to: url, splits: [Split(name: "holdout", train: Array(ids.prefix(6)), val: Array(ids.suffix(3)), method: "test")])
        let problems = try DatasetValidator().validate(url)
        #expect(problems.isEmpty, "\(problems)")
    }

    @Test func existingFileIsNeverReplacedWithoutOverwrite() throws {
        let folder = try TemporaryFolder()
        let url = folder.file("d.h5")
        try Data("precious".utf8).write(to: url)
        let subjects = try TestData.phantomSubjects(count: 1)
        #expect(throws: DatasetError.fileExists(url.path)) { try TestData.writeDataset(subjects, to: url) }
        #expect(try Data(contentsOf: url) == Data("precious".utf8))
        // A failure half-way leaves the original and no temporary file.
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            try DatasetFile.create(at: url, header: TestData.header(for: subjects), provenance: Provenance(command: "t"), overwrite: true) { writer in
                try writer.add(subjects[0])
                throw Stop()
            }
        }
        #expect(try Data(contentsOf: url) == Data("precious".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.url.path) == ["d.h5"])
    }

    @Test func notADatasetErrorsNameTheFile() throws {
        let folder = try TemporaryFolder()
        let text = folder.file("t.h5")
        try Data("hello".utf8).write(to: text)
        #expect(throws: DatasetError.notADataset(file: text.path, reason: "the file is not HDF5")) { try DatasetReader(url: text) }
        let missing = folder.file("missing.h5")
        #expect(throws: DatasetError.fileNotFound(missing.path)) { try DatasetReader(url: missing) }
        let other = folder.file("other.h5")
        do { let f = try File.create(at: other); try f.setAttribute("format", "something-else") }
        #expect(throws: DatasetError.notADataset(file: other.path, reason: "format is \"something-else\", expected \"rachis-spine-dataset\"")) {
            try DatasetReader(url: other)
        }
    }

    @Test func validatorListsEveryProblem() throws {
        let folder = try TemporaryFolder()
        var subjects = try TestData.phantomSubjects()
        let k = try #require(subjects.firstIndex { $0.annotationMode == .full })
        subjects[k].image[5] = .nan
        subjects[k].image[6] = .infinity
        let url = folder.file("d.h5")
        try TestData.writeDataset(subjects, to: url)
        // Break the file behind the writer's back: an unknown level id, a centroid outside its vertebra, a stray key.
        let id = subjects[k].id
        let row = try #require(subjects[k].vertebrae.firstIndex { !$0.cutByFieldOfView })
        try DatasetFile.update(at: url) { file in
            let labels = try file.openDataset("subjects/\(id)/labels/vertebrae")
            var values = try labels.read(as: UInt8.self).values
            values[0] = 27
            try labels.write(values)
            let centroids = try file.openDataset("subjects/\(id)/vertebrae/centroid_mm")
            var c = try centroids.read(as: Double.self).values
            let g = subjects[k].geometry
            c.replaceSubrange((3 * row)..<(3 * row + 3), with: g.worldMM(index: [0, 0, 0]))
            try centroids.write(c)
            try file.setAttribute("stray", "x")
        }
        let problems = try DatasetValidator().validate(url).map(\.description)
        #expect(problems.contains("layout / @stray: unknown key \"stray\""), "\(problems)")
        #expect(problems.contains("/subjects/\(id)/image: 2 voxels are NaN or Inf"), "\(problems)")
        #expect(problems.contains("/subjects/\(id)/labels/vertebrae: unknown level ids [27] (VerSe ids are 1-26 and 28)"), "\(problems)")
        #expect(problems.contains { $0.hasPrefix("/subjects/\(id)/vertebrae/centroid_mm: \(subjects[k].vertebrae[row].level.name) centroid at voxel [0, 0, 0] is not inside") }, "\(problems)")
    }

    @Test func layoutPathsReadAsHDF5Paths() {
        #expect(DatasetValidator.objectPath("/groups/subjects/groups/s1/datasets/image/shape") == "/subjects/s1/image shape")
        #expect(DatasetValidator.objectPath("/groups/subjects/groups/s1/attributes/spacing_mm/0") == "/subjects/s1 @spacing_mm 0")
    }
}
