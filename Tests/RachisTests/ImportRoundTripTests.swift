import Foundation
import Testing
@testable import Rachis

struct ImportRoundTripTests {
    static let names = ["image.nii", "image.nii.gz", "image.mha", "image.mhd"]

    @Test(arguments: names, [false, true])
    func writeThenReadGivesTheSameVolume(name: String, compressed: Bool) throws {
        let folder = try Fixture.folder()
        defer { Fixture.remove(folder) }
        let url = folder.appendingPathComponent(name)
        let volume = Fixture.volume()
        try ImageIO.write(volume, to: url, compressed: compressed)
        let back = try ImageIO.read(url, reorient: false)
        #expect(back.voxels == volume.voxels)
        #expect(back.voxelType == .float32)
        #expect(back.geometry.shape == volume.geometry.shape)
        #expect(Fixture.close(back.geometry.spacingMM, volume.geometry.spacingMM, tolerance: 1e-6))
        #expect(Fixture.close(back.geometry.originMM, volume.geometry.originMM, tolerance: 1e-6))
        #expect(Fixture.close(back.geometry.direction, volume.geometry.direction, tolerance: 1e-6))
        let gzip = try Data(contentsOf: url).prefix(2) == Data([0x1F, 0x8B])
        #expect(gzip == name.hasSuffix(".gz"))
        if name.hasSuffix(".mhd") {
            #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent(compressed ? "image.zraw" : "image.raw").path))
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty)
    }

    @Test(arguments: VoxelType.allCases, ["labels.nii.gz", "labels.mha"])
    func everyVoxelTypeRoundTripsExactly(type: VoxelType, name: String) throws {
        let folder = try Fixture.folder()
        defer { Fixture.remove(folder) }
        let url = folder.appendingPathComponent(name)
        let volume = Fixture.volume(type: type, seed: 11)
        try ImageIO.write(volume, to: url, compressed: true)
        let back = try ImageIO.read(url, reorient: false)
        #expect(back.voxelType == type)
        #expect(back.voxels == volume.voxels)
        if type.isInteger { #expect(try back.intLabels() == volume.voxels.map { Int32($0) }) }
    }

    @Test(arguments: names)
    func channelsRoundTripAndMoveTogetherWhenReoriented(name: String) throws {
        let folder = try Fixture.folder()
        defer { Fixture.remove(folder) }
        let url = folder.appendingPathComponent(name)
        var volume = Fixture.volume(channels: 3)
        volume.geometry.direction = [[0, 0, -1], [0, 1, 0], [1, 0, 0]]  // far from PIR: a real permutation
        try ImageIO.write(volume, to: url, compressed: true)
        let raw = try ImageIO.read(url, reorient: false)
        #expect(raw.channels == 3 && raw.voxels == volume.voxels)
        let canonical = try ImageIO.read(url)
        #expect(canonical.channels == 3)
        #expect(Fixture.close(canonical.geometry.direction, Geometry.canonicalDirection, tolerance: 1e-6))
        // Channel 2 of each voxel sits at the same world position as in the source.
        let g = canonical.geometry, n = g.voxelCount
        for flat in stride(from: 0, to: n, by: 13) {
            let index = [flat / (g.shape[1] * g.shape[2]), flat / g.shape[2] % g.shape[1], flat % g.shape[2]]
            let source = volume.voxels[(2 * n)...].firstIndex(of: canonical.voxels[2 * n + flat])! - 2 * n
            let sourceIndex = [source / 42, source / 7 % 6, source % 7].map(Double.init)
            #expect(Fixture.close(g.worldMM(index: index.map(Double.init)), volume.geometry.worldMM(index: sourceIndex)))
        }
    }

    @Test func intLabelsRefusesNonIntegers() throws {
        let volume = ImageVolume(geometry: Geometry(shape: [1, 1, 3], spacingMM: [1, 1, 1]), voxels: [1, 2.5, 3])
        let error = imageIOError { _ = try volume.intLabels(path: "x.nii") }
        #expect(error == .nonIntegerLabel(path: "x.nii", index: 1, value: 2.5))
    }
}
