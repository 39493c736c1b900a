import Foundation
import Testing
@testable import Rachis

struct ImportOrientationTests {
    /// A sform case: the 3x4 affine from NIfTI (i, j, k) to RAS+ mm.
    struct Case: CustomStringConvertible, Sendable {
        var description: String
        var affine: [[Double]]
    }

    static let sformCases: [Case] = [
        Case(description: "RAS", affine: [[0.9, 0, 0, -20], [0, 1.1, 0, 15], [0, 0, 3, -40]]),
        Case(description: "LPS", affine: [[-0.9, 0, 0, 20], [0, -1.1, 0, 15], [0, 0, 3, -40]]),
        Case(description: "PIR", affine: [[0, 0, 3, -5], [-0.9, 0, 0, 12], [0, -1.1, 0, 60]]),
        Case(description: "ASL", affine: [[0, 0, -3, 8], [0.9, 0, 0, -2], [0, 1.1, 0, 1]]),
        Case(description: "oblique LIA",
             affine: Fixture.rotation(axis: [1, 2, -0.5], degrees: 25, times: [[-0.9, 0, 0], [0, 0, 3], [0, -1.1, 0]])
                .enumerated().map { $1 + [[7.5, -3, 22][$0]] }),
    ]

    /// Reads `bytes` as a NIfTI file and checks that the canonical volume's directions are PIR (within the
    /// obliqueness of the source) and that each voxel sits where the source affine puts the source voxel.
    func expectCanonical(_ bytes: Data, sourceAffine: [[Double]], oblique: Bool = false) throws {
        let folder = try Fixture.folder()
        defer { Fixture.remove(folder) }
        let url = folder.appendingPathComponent("case.nii")
        try bytes.write(to: url)
        let volume = try ImageIO.read(url)
        let g = volume.geometry
        #expect(g.shape.sorted() == [5, 6, 7])
        for a in 0..<3 {
            let cosine = (0..<3).reduce(0.0) { $0 + g.direction[$1][a] * Geometry.canonicalDirection[$1][a] }
            #expect(oblique ? cosine > 0.7 : abs(cosine - 1) < 1e-6, "axis \(a): cosine \(cosine) with canonical")
        }
        for (flat, value) in volume.voxels.enumerated() {
            let index = [flat / (g.shape[1] * g.shape[2]), flat / g.shape[2] % g.shape[1], flat % g.shape[2]]
            let source = Int(value)  // voxel values are their NIfTI linear index i + 5 j + 30 k
            let ijk = [source % 5, source / 5 % 6, source / 30].map(Double.init)
            #expect(Fixture.close(g.worldMM(index: index.map(Double.init)), Fixture.apply(sourceAffine, ijk)))
        }
    }

    static let linearIndex = (0..<210).map(Float.init)

    @Test(arguments: sformCases, [1, 2])
    func sformIsReorientedToPIRKeepingWorldPositions(case c: Case, version: Int) throws {
        var header = Fixture.NIfTIHeader(version: version)
        header.sformCode = 2
        header.datatype = 4
        header.srow = c.affine
        header.pixdim = [1, 7, 7, 7, 1, 1, 1, 1]  // ignored when the sform is set
        try expectCanonical(header.bytes(voxels: Self.linearIndex, type: .int16), sourceAffine: c.affine,
                            oblique: c.description.hasPrefix("oblique"))
    }

    /// Quaternion `(b, c, d)` of a rotation by `degrees` about `axis`, and that rotation's matrix built
    /// independently (Rodrigues) with its third column times `qfac`.
    struct QformCase: CustomStringConvertible, Sendable {
        var axis: [Double], degrees: Double, qfac: Double
        var description: String { "\(degrees)° about \(axis), qfac \(qfac)" }
    }

    static let qformCases = [
        QformCase(axis: [0, 0, 1], degrees: 0, qfac: 1),
        QformCase(axis: [0, 0, 1], degrees: 0, qfac: -1),
        QformCase(axis: [0, 0, 1], degrees: 90, qfac: 1),
        QformCase(axis: [1, 0, 0], degrees: 180, qfac: 1),
        QformCase(axis: [1, 1, 1], degrees: 120, qfac: -1),
        QformCase(axis: [0.2, -0.7, 0.4], degrees: 33, qfac: -1),
    ]

    @Test(arguments: qformCases)
    func qformQuaternionGivesTheRotation(case q: QformCase) throws {
        let n = (q.axis.reduce(0) { $0 + $1 * $1 }).squareRoot()
        let half = q.degrees * .pi / 360
        let bcd = q.axis.map { sin(half) * $0 / n }
        let r = Fixture.rotation(axis: q.axis, degrees: q.degrees, times: [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
        let spacing = [0.8, 1.3, 2.5], offset = [-10.0, 4, 33]
        let scale: [Double] = [spacing[0], spacing[1], spacing[2] * q.qfac]
        let affine: [[Double]] = (0..<3).map { (row: Int) -> [Double] in
            [r[row][0] * scale[0], r[row][1] * scale[1], r[row][2] * scale[2], offset[row]]
        }
        var header = Fixture.NIfTIHeader()
        header.qformCode = 1
        header.quatern = bcd
        header.qoffset = offset
        header.pixdim = [q.qfac] + spacing + [1, 1, 1, 1]
        let bytes = header.bytes(voxels: Self.linearIndex, type: .float32)
        let raw = try NIfTI.decode(bytes, path: "q.nii")
        #expect(Fixture.close(raw.geometry.affine, (0..<3).map { [affine[$0][2], affine[$0][1], affine[$0][0], affine[$0][3]] }))
        try expectCanonical(bytes, sourceAffine: affine, oblique: true)
    }

    @Test(arguments: [false, true])
    func writtenQformMatchesTheSform(improper: Bool) throws {
        var volume = Fixture.volume()
        if improper { volume.geometry.direction = volume.geometry.direction.map { [$0[0], -$0[1], $0[2]] } }
        var bytes = try NIfTI.encode(volume, path: "w.nii")
        bytes[254] = 0  // sform_code = 0: the reader falls back to the qform
        let back = try NIfTI.decode(bytes, path: "w.nii")
        #expect(Fixture.close(back.geometry.affine, volume.geometry.affine, tolerance: 1e-5))
    }

    @Test func sformWinsOverQform() throws {
        var header = Fixture.NIfTIHeader()
        header.sformCode = 1
        header.srow = Self.sformCases[2].affine
        header.qformCode = 1
        header.quatern = [0, 0, 1]  // 180° about z: a different geometry
        header.qoffset = [100, 100, 100]
        let volume = try NIfTI.decode(header.bytes(voxels: Self.linearIndex, type: .float32), path: "s.nii")
        #expect(Fixture.close(volume.geometry.originMM, [-5, 12, 60]))
        #expect(volume.geometry.direction == [[1, 0, 0], [0, 0, -1], [0, -1, 0]])  // srow (i, j, k) = (P, I, R)
    }

    @Test func pixdimFallbackAndUnits() throws {
        var header = Fixture.NIfTIHeader()
        header.pixdim = [1, 0.001, 0.002, 0.003, 1, 1, 1, 1]
        header.units = 1  // metres
        let volume = try NIfTI.decode(header.bytes(voxels: Self.linearIndex, type: .float32), path: "u.nii")
        #expect(Fixture.close(volume.geometry.spacingMM, [3, 2, 1]))
        #expect(volume.geometry.originMM == [0, 0, 0])
        header.units = 3  // microns
        header.pixdim = [1, 500, 500, 2000, 1, 1, 1, 1]
        #expect(Fixture.close(try NIfTI.decode(header.bytes(voxels: Self.linearIndex, type: .float32), path: "u.nii")
            .geometry.spacingMM, [2, 0.5, 0.5]))
    }

    @Test(arguments: [1, 2], [false, true])
    func bothByteOrdersAndVersionsDecodeTheSame(version: Int, bigEndian: Bool) throws {
        for (code, type) in NIfTI.datatypeCodes {
            var header = Fixture.NIfTIHeader(version: version, bigEndian: bigEndian)
            header.datatype = code
            header.sformCode = 1
            header.srow = Self.sformCases[3].affine
            let values = Self.linearIndex.map { type == .uint8 || type == .int8 ? Float(Int($0) % 100) : $0 }
            let volume = try NIfTI.decode(header.bytes(voxels: values, type: type), path: "b.nii")
            #expect(volume.voxelType == type)
            #expect(volume.voxels == values, "\(type)")
            #expect(Fixture.close(volume.geometry.originMM, [8, -2, 1]))
        }
    }

    @Test func sclSlopeAndInterceptApply() throws {
        var header = Fixture.NIfTIHeader()
        header.datatype = 4
        header.sclSlope = 0.5
        header.sclInter = -3
        let scaled = try NIfTI.decode(header.bytes(voxels: Self.linearIndex, type: .int16), path: "s.nii")
        #expect(scaled.voxels == Self.linearIndex.map { $0 * 0.5 - 3 })
        #expect(scaled.voxelType == .float32)
        header.sclSlope = 0  // none
        let plain = try NIfTI.decode(header.bytes(voxels: Self.linearIndex, type: .int16), path: "s.nii")
        #expect(plain.voxels == Self.linearIndex && plain.voxelType == .int16)
    }

    @Test func canonicalGeometryIsLeftAlone() {
        let volume = Fixture.volume()
        var canonical = volume
        canonical.geometry.direction = Geometry.canonicalDirection
        #expect(canonical.reoriented() == canonical)
        #expect(volume.geometry.orientationTransform().permutation == [0, 1, 2])
    }
}
