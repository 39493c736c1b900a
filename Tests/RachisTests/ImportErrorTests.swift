import Foundation
import Testing
@testable import Rachis

struct ImportErrorTests {
    static let ramp = (0..<210).map(Float.init)

    /// Writes `bytes` to a fresh file `name` and returns the error reading it throws.
    func readError(_ bytes: Data, name: String = "bad.nii", sourceLocation: SourceLocation = #_sourceLocation) throws -> ImageIOError? {
        let folder = try Fixture.folder()
        defer { Fixture.remove(folder) }
        let url = folder.appendingPathComponent(name)
        try bytes.write(to: url)
        return imageIOError({ _ = try ImageIO.read(url) }, sourceLocation: sourceLocation)
    }

    @Test(arguments: ["none.nii", "none.nii.gz", "none.mha", "none.mhd"])
    func missingFile(name: String) throws {
        let folder = try Fixture.folder()
        defer { Fixture.remove(folder) }
        let url = folder.appendingPathComponent(name)
        #expect(imageIOError { _ = try ImageIO.read(url) } == .missingFile(path: url.path))
    }

    @Test func unsupportedExtension() throws {
        let folder = try Fixture.folder()
        defer { Fixture.remove(folder) }
        let url = folder.appendingPathComponent("scan.dcm")
        #expect(imageIOError { _ = try ImageIO.read(url) } == .unsupportedFormat(path: url.path))
        #expect(imageIOError { try ImageIO.write(Fixture.volume(), to: url) } == .unsupportedFormat(path: url.path))
    }

    @Test func wrongMagic() throws {
        #expect(try readError(Data(repeating: 0x41, count: 400))?.caseName == "badMagic")
        var pair = Fixture.NIfTIHeader()
        pair.magic = "ni1\0"
        let error = try readError(pair.bytes(voxels: Self.ramp, type: .float32))
        #expect(error?.caseName == "badMagic" && error?.description.contains(".hdr/.img") == true)
        #expect(try readError(Data([0, 1, 2, 255, 254, 10, 9]), name: "bad.mha")?.caseName == "badMagic")
        #expect(try readError(Data(), name: "bad.mha")?.caseName == "badMagic")
    }

    @Test(arguments: [(2, "sizeof_hdr"), (100, "header"), (347, "header"), (352 + 500, "voxel data")])
    func truncatedNIfTI(length: Int, field: String) throws {
        let full = Fixture.NIfTIHeader().bytes(voxels: Self.ramp, type: .float32)
        guard case let .truncated(_, found, _, _)? = try readError(Data(full.prefix(length))) else {
            Issue.record("expected truncated")
            return
        }
        #expect(found == field)
    }

    @Test func truncatedMetaImage() throws {
        let folder = try Fixture.folder()
        defer { Fixture.remove(folder) }
        let url = folder.appendingPathComponent("t.mha")
        try ImageIO.write(Fixture.volume(), to: url)
        let bytes = try Data(contentsOf: url)
        try bytes.prefix(bytes.count - 10).write(to: url)
        #expect(imageIOError { _ = try ImageIO.read(url) }?.caseName == "truncated")
        try ImageIO.write(Fixture.volume(), to: url, compressed: true)
        let packed = try Data(contentsOf: url)
        try packed.prefix(packed.count - 10).write(to: url)
        #expect(imageIOError { _ = try ImageIO.read(url) }?.caseName == "truncated")
        try Data("ObjectType = Image\nNDims = 3\n".utf8).write(to: url)
        #expect(imageIOError { _ = try ImageIO.read(url) }?.caseName == "truncated")
    }

    /// Header dims that disagree with the data: a raw file too long, or compressed data inflating to another size.
    @Test func dimsDoNotMatchData() throws {
        let folder = try Fixture.folder()
        defer { Fixture.remove(folder) }
        let mhd = folder.appendingPathComponent("d.mhd")
        try ImageIO.write(Fixture.volume(), to: mhd)
        let raw = folder.appendingPathComponent("d.raw")
        try (Data(contentsOf: raw) + Data(count: 8)).write(to: raw)
        #expect(imageIOError { _ = try ImageIO.read(mhd) } == .dataSizeMismatch(path: mhd.path, expectedBytes: 840, foundBytes: 848))
        let mha = folder.appendingPathComponent("d.mha")
        try ImageIO.write(Fixture.volume(), to: mha, compressed: true)
        try edit(mha, "DimSize = 7 6 5", "DimSize = 7 6 4")
        #expect(imageIOError { _ = try ImageIO.read(mha) } == .dataSizeMismatch(path: mha.path, expectedBytes: 672, foundBytes: 840))
    }

    @Test func unsupportedDatatype() throws {
        var header = Fixture.NIfTIHeader()
        header.datatype = 32  // complex64
        #expect(try readError(header.bytes(voxels: Self.ramp, type: .float64))?.withPath(nil)
            == .unsupportedDatatype(path: "", field: "datatype", value: "32"))
        let folder = try Fixture.folder()
        defer { Fixture.remove(folder) }
        let url = folder.appendingPathComponent("u.mha")
        try ImageIO.write(Fixture.volume(), to: url)
        try edit(url, "MET_FLOAT", "MET_STRING")
        #expect(imageIOError { _ = try ImageIO.read(url) } == .unsupportedDatatype(path: url.path, field: "ElementType", value: "MET_STRING"))
    }

    @Test func corruptGzip() throws {
        let folder = try Fixture.folder()
        defer { Fixture.remove(folder) }
        let url = folder.appendingPathComponent("c.nii.gz")
        try ImageIO.write(Fixture.volume(), to: url)
        let good = try Data(contentsOf: url)
        var flipped = good
        for i in 20..<60 { flipped[i] ^= 0x5A }
        try flipped.write(to: url)
        #expect(imageIOError { _ = try ImageIO.read(url) }?.caseName == "corruptCompression")
        try good.prefix(good.count / 2).write(to: url)
        #expect(imageIOError { _ = try ImageIO.read(url) }?.caseName == "corruptCompression")
        try (Data([0x1F, 0x8B]) + Data(repeating: 7, count: 30)).write(to: url)
        #expect(imageIOError { _ = try ImageIO.read(url) }?.caseName == "corruptCompression")
    }

    @Test(arguments: [(1, 0), (2, -3), (3, 0)])
    func nonPositiveNIfTIDims(axis: Int, size: Int) throws {
        var header = Fixture.NIfTIHeader()
        header.dim[axis] = size
        #expect(try readError(header.bytes(voxels: [], type: .float32))?.withPath(nil)
            == .invalidField(path: "", field: "dim[\(axis)]", value: "\(size)", expected: "≥ 1"))
    }

    @Test(arguments: [0.0, -1.5])
    func nonPositiveNIfTISpacing(spacing: Double) throws {
        var header = Fixture.NIfTIHeader()
        header.pixdim[2] = spacing
        header.qformCode = 1
        let error = try readError(header.bytes(voxels: Self.ramp, type: .float32))
        #expect(error?.caseName == "invalidField" && error?.description.contains("pixdim[2]") == true)
        header.qformCode = 0
        #expect(try readError(header.bytes(voxels: Self.ramp, type: .float32))?.caseName == "invalidField")
    }

    @Test(arguments: [("DimSize = 7 6 5", "DimSize = 7 -6 5", "DimSize[1]"),
                      ("DimSize = 7 6 5", "DimSize = 7 0 5", "DimSize[1]"),
                      ("ElementSpacing = 1.25", "ElementSpacing = 0.0", "ElementSpacing[0]"),
                      ("ElementSpacing = 1.25", "ElementSpacing = -1.25", "ElementSpacing[0]"),
                      ("NDims = 3", "NDims = 4", "NDims"),
                      ("Offset = 12.5", "Offset = nan", "Offset")])
    func invalidMetaImageFields(old: String, new: String, field: String) throws {
        let folder = try Fixture.folder()
        defer { Fixture.remove(folder) }
        let url = folder.appendingPathComponent("f.mha")
        try ImageIO.write(Fixture.volume(), to: url)
        try edit(url, old, new)
        let error = imageIOError { _ = try ImageIO.read(url) }
        #expect(error?.caseName == "invalidField")
        #expect(error?.description.contains("\(field) =") == true, "\(String(describing: error))")
    }

    @Test(arguments: ["n.nii", "n.nii.gz", "n.mha", "n.mhd"])
    func nonFiniteVoxelsAreCounted(name: String) throws {
        let folder = try Fixture.folder()
        defer { Fixture.remove(folder) }
        let url = folder.appendingPathComponent(name)
        var volume = Fixture.volume()
        volume.voxels[3] = .nan
        volume.voxels[50] = .nan
        volume.voxels[77] = .nan
        volume.voxels[100] = -.infinity
        try ImageIO.write(volume, to: url, compressed: true)
        #expect(imageIOError { _ = try ImageIO.read(url) } == .nonFiniteVoxels(path: url.path, nanCount: 3, infiniteCount: 1))
        #expect(try ImageIO.read(url, allowNonFinite: true).nonFiniteCounts() == (3, 1))
    }

    @Test(arguments: [false, true])
    func mhdPointingAtMissingRaw(compressed: Bool) throws {
        let folder = try Fixture.folder()
        defer { Fixture.remove(folder) }
        let url = folder.appendingPathComponent("m.mhd")
        try ImageIO.write(Fixture.volume(), to: url, compressed: compressed)
        let raw = folder.appendingPathComponent(compressed ? "m.zraw" : "m.raw")
        try FileManager.default.removeItem(at: raw)
        #expect(imageIOError { _ = try ImageIO.read(url) } == .missingDataFile(headerPath: url.path, dataPath: raw.path))
    }

    @Test(arguments: ["keep.nii", "keep.nii.gz", "keep.mha", "keep.mhd"])
    func failedWriteLeavesExistingFileUntouched(name: String) throws {
        let folder = try Fixture.folder()
        defer { Fixture.remove(folder) }
        let url = folder.appendingPathComponent(name)
        try ImageIO.write(Fixture.volume(type: .uint8), to: url)
        let before = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        let bytes = try Data(contentsOf: url)
        var labels = Fixture.volume(type: .uint8)
        labels.voxels[9] = 300
        #expect(imageIOError { try ImageIO.write(labels, to: url) } == .valueOutOfRange(path: url.path, type: .uint8, value: 300))
        labels.voxels[9] = 2.5
        #expect(imageIOError { try ImageIO.write(labels, to: url) }?.caseName == "valueOutOfRange")
        labels.voxels.removeLast()
        #expect(imageIOError { try ImageIO.write(labels, to: url) }?.caseName == "inconsistentVolume")
        #expect(try Data(contentsOf: url) == bytes)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() == before)
    }

    @Test(arguments: ["x.nii.gz", "x.mhd"])
    func failedWriteIntoMissingFolderLeavesNothing(name: String) throws {
        let folder = try Fixture.folder()
        defer { Fixture.remove(folder) }
        let url = folder.appendingPathComponent("absent").appendingPathComponent(name)
        let error = #expect(throws: AtomicFile.Error.self) { try ImageIO.write(Fixture.volume(), to: url) }
        #expect(error?.description == "cannot write \(url.path): the folder \(folder.path)/absent does not exist")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
    }

    @Test func garbageNeverCrashes() throws {
        // Random bytes behind valid-looking starts must give errors, never traps.
        let header = Fixture.NIfTIHeader().bytes(voxels: Self.ramp, type: .float32)
        for seed in 0..<200 as Range<UInt64> {
            let noise = Fixture.values(count: 400, seed: seed, range: 0...255).map { UInt8($0) }
            var bytes = header
            for (i, b) in noise.enumerated() where i % 3 == Int(seed % 3) { bytes[(i * 7 + Int(seed)) % 352] = b }
            _ = try? NIfTI.decode(bytes, path: "fuzz.nii")
            var wide = Fixture.NIfTIHeader(version: 2)
            wide.dim = [4, Int(Int32.max), Int(Int32.max), Int(Int32.max), Int(seed) + 1, 1, 1, 1]
            _ = try? NIfTI.decode(wide.bytes(voxels: [], type: .float32), path: "fuzz.nii")
            var far = Fixture.NIfTIHeader(version: 2).bytes(voxels: Self.ramp, type: .float32)
            far.replaceSubrange(168..<176, with: Data(repeating: UInt8(seed % 128), count: 8))
            _ = try? NIfTI.decode(far, path: "fuzz.nii")
            let dims = seed % 7 == 0 ? "2147483647 2147483647 2147483647" : "\(seed) 2 \(seed % 5)"
            let text = Data("NDims = 3\nDimSize = \(dims)\nElementType = MET_SHORT\nElementDataFile = LOCAL\n".utf8)
            let folder = try Fixture.folder()
            defer { Fixture.remove(folder) }
            let url = folder.appendingPathComponent("fuzz.mha")
            try (text + Data(noise)).write(to: url)
            _ = try? MetaImage.read(url)
        }
    }

    /// Replaces the first occurrence of `old` by `new` in a file.
    func edit(_ url: URL, _ old: String, _ new: String) throws {
        let bytes = try Data(contentsOf: url)
        var edited = bytes
        edited.replaceSubrange(try #require(bytes.range(of: Data(old.utf8))), with: Data(new.utf8))
        try edited.write(to: url)
    }
}

extension ImageIOError {
    /// The same error with the path blanked, to compare errors from temporary files.
    func withPath(_: String?) -> ImageIOError {
        switch self {
        case let .unsupportedDatatype(_, field, value): .unsupportedDatatype(path: "", field: field, value: value)
        case let .invalidField(_, field, value, expected): .invalidField(path: "", field: field, value: value, expected: expected)
        default: self
        }
    }
}
