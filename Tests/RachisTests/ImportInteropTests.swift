import Foundation
import Testing
@testable import Rachis

/// Files exchanged with nibabel and SimpleITK, run through python3 at test time. These tests need
/// `pip install nibabel SimpleITK`; without them they fail and say so.
struct ImportInteropTests {
    /// Runs `python3 -c script args...` and returns its stdout, or records why it could not.
    static func python(_ script: String, _ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let hint = "these tests need python3 with nibabel and SimpleITK: run `pip install nibabel SimpleITK`"
        do { try process.run() } catch {
            Issue.record("cannot run python3 (\(error)); \(hint)", sourceLocation: sourceLocation)
            return nil
        }
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let missing = errors.contains("ModuleNotFoundError") || process.terminationStatus == 127
            Issue.record("python3 failed\(missing ? "; \(hint)" : ""):\n\(errors)", sourceLocation: sourceLocation)
            return nil
        }
        return String(decoding: output, as: UTF8.self)
    }

    @Test func missingPythonModuleFailsWithTheInstallHint() {
        withKnownIssue {
            _ = Self.python("import rachis_module_that_does_not_exist", [])
        } matching: { issue in
            issue.comments.contains { $0.rawValue.contains("pip install nibabel SimpleITK") }
        }
    }

    struct Point: Decodable {
        var value: Float
        var world: [Double]
    }

    /// Checks that each expected voxel value sits at the expected RAS world position in `volume`.
    static func expectPoints(_ points: [Point], in volume: ImageVolume, sourceLocation: SourceLocation = #_sourceLocation) {
        let g = volume.geometry
        #expect(points.count >= 4, sourceLocation: sourceLocation)
        for point in points {
            guard let flat = volume.voxels.firstIndex(of: point.value) else {
                Issue.record("value \(point.value) not found", sourceLocation: sourceLocation)
                continue
            }
            let index = [flat / (g.shape[1] * g.shape[2]), flat / g.shape[2] % g.shape[1], flat % g.shape[2]]
            #expect(Fixture.close(g.worldMM(index: index.map(Double.init)), point.world), "value \(point.value)",
                    sourceLocation: sourceLocation)
        }
    }

    static let nibabelWriter = """
    import sys, json, numpy as np, nibabel as nib
    path, cls, dtype = sys.argv[1], getattr(nib, sys.argv[2]), np.dtype(sys.argv[3])
    data = np.arange(210).reshape((5, 6, 7), order="F").astype(dtype)
    t = np.radians(25)
    rot = np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])
    affine = np.eye(4)
    affine[:3, :3] = rot @ np.array([[0, 0, -3.0], [0.9, 0, 0], [0, 1.1, 0]])  # ASL, tilted
    affine[:3, 3] = [8, -2, 1]
    img = cls(data, affine)
    img.set_data_dtype(dtype)
    nib.save(img, path)
    pts = [{"value": float(data[v]), "world": (affine @ [*v, 1])[:3].tolist()}
           for v in [(0, 0, 0), (4, 5, 6), (1, 2, 3), (3, 0, 5), (2, 4, 1)]]
    print(json.dumps(pts))
    """

    @Test(arguments: [("nib.nii.gz", "Nifti1Image", "int16"), ("nib.nii", "Nifti1Image", "float32"),
                      ("nib2.nii.gz", "Nifti2Image", "uint8"), ("nib2.nii", "Nifti2Image", "float64")])
    func readsNibabelFiles(name: String, imageClass: String, dtype: String) throws {
        let folder = try Fixture.folder()
        defer { Fixture.remove(folder) }
        let url = folder.appendingPathComponent(name)
        guard let json = Self.python(Self.nibabelWriter, [url.path, imageClass, dtype]) else { return }
        let points = try JSONDecoder().decode([Point].self, from: Data(json.utf8))
        let volume = try ImageIO.read(url)
        #expect(volume.voxels.sorted() == (0..<210).map(Float.init))
        #expect(volume.voxelType.rawValue == dtype)
        Self.expectPoints(points, in: volume)
    }

    static let simpleITKWriter = """
    import sys, json, numpy as np, SimpleITK as sitk
    path, compress, dtype = sys.argv[1], sys.argv[2] == "1", np.dtype(sys.argv[3])
    arr = np.arange(210).reshape(7, 6, 5).astype(dtype)  # [z][y][x]
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.7, 1.2, 3.3))
    img.SetOrigin((10.5, -20.0, 33.0))
    t = np.radians(20)
    rz = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    img.SetDirection((rz @ np.array([[0, 0, 1], [1, 0, 0], [0, -1, 0]])).flatten().tolist())
    sitk.WriteImage(img, path, useCompression=compress)
    pts = []
    for x, y, z in [(0, 0, 0), (4, 5, 6), (1, 2, 3), (3, 0, 5), (2, 4, 1)]:
        p = img.TransformIndexToPhysicalPoint((x, y, z))
        pts.append({"value": float(arr[z, y, x]), "world": [-p[0], -p[1], p[2]]})  # LPS -> RAS
    print(json.dumps(pts))
    """

    @Test(arguments: [("itk.mha", true, "float32"), ("itk.mha", false, "int16"),
                      ("itk.mhd", false, "float32"), ("itk.mhd", true, "uint8"), ("itk.nii.gz", false, "int16")])
    func readsSimpleITKFiles(name: String, compressed: Bool, dtype: String) throws {
        let folder = try Fixture.folder()
        defer { Fixture.remove(folder) }
        let url = folder.appendingPathComponent(name)
        guard let json = Self.python(Self.simpleITKWriter, [url.path, compressed ? "1" : "0", dtype]) else { return }
        let points = try JSONDecoder().decode([Point].self, from: Data(json.utf8))
        let volume = try ImageIO.read(url)
        #expect(volume.voxels.sorted() == (0..<210).map(Float.init))
        #expect(volume.voxelType.rawValue == dtype)
        Self.expectPoints(points, in: volume)
    }

    static let checker = """
    import sys, json, numpy as np, SimpleITK as sitk
    path, expected = sys.argv[1], json.load(open(sys.argv[2]))
    affine = np.array(expected["affine"] + [[0, 0, 0, 1]])  # NIfTI (i, j, k) -> RAS
    values = np.array(expected["values"]).reshape(expected["shape"])  # [D, H, W] = [k, j, i]
    if path.endswith((".nii", ".nii.gz")):
        import nibabel as nib
        img = nib.load(path)
        assert img.header["sform_code"] > 0 and img.header["qform_code"] > 0, "sform and qform must be set"
        assert np.allclose(img.affine, affine, atol=1e-4), (img.affine, affine)
        assert np.allclose(img.get_qform(), affine, atol=1e-4), ("qform", img.get_qform(), affine)
        assert np.array_equal(np.asarray(img.dataobj), values.transpose(2, 1, 0)), "nibabel data differs"
    img = sitk.ReadImage(path)
    assert np.array_equal(sitk.GetArrayFromImage(img), values), "SimpleITK data differs"
    for i, j, k in [(0, 0, 0), (6, 5, 4), (1, 2, 3), (5, 0, 2)]:
        p = np.array(img.TransformIndexToPhysicalPoint((i, j, k)))
        ras = affine @ [i, j, k, 1]
        assert np.allclose(p, [-ras[0], -ras[1], ras[2]], atol=1e-4), ("SimpleITK world", (i, j, k), p, ras)
    print("ok")
    """

    @Test(arguments: ["rachis.nii.gz", "rachis.nii", "rachis.mha", "rachis.mhd"], [VoxelType.float32, .int16])
    func filesRachisWritesReadTheSameInNibabelAndSimpleITK(name: String, type: VoxelType) throws {
        let folder = try Fixture.folder()
        defer { Fixture.remove(folder) }
        let url = folder.appendingPathComponent(name)
        var volume = Fixture.volume(type: type)
        if type == .int16 { volume.geometry.direction = volume.geometry.direction.map { [$0[0], -$0[1], $0[2]] } }
        try ImageIO.write(volume, to: url, compressed: true)
        let g = volume.geometry
        let expected: [String: Any] = [
            "affine": g.affine.map { [$0[2], $0[1], $0[0], $0[3]] },
            "shape": g.shape, "values": volume.voxels.map(Double.init),
        ]
        let expectedURL = folder.appendingPathComponent("expected.json")
        try JSONSerialization.data(withJSONObject: expected).write(to: expectedURL)
        #expect(Self.python(Self.checker, [url.path, expectedURL.path])?.hasPrefix("ok") == true)
    }
}
