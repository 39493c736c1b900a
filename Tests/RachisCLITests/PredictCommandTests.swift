import Foundation
import Testing

/// `rachis predict` end to end: from a dataset and from NIfTI files of the same subject (the same answer), and bad input.
struct PredictCommandTests {
    /// A dataset and a briefly trained checkpoint in `scratch` (d.h5, run/checkpoint_last.h5).
    static func trained(in scratch: Scratch) throws {
        try TrainCommandTests.dataset(in: scratch)
        let train = try CLI.run(["train", "--data", "d.h5", "--run", "run", "--threads", "1"] + TrainCommandTests.small
                                + ["--set", "train.epochs=1", "--set", "train.stepsPerEpoch=1"], in: scratch.url)
        try #require(train.status == 0, "\(train.stderr)")
    }

    static func json(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
    }

    @Test func datasetAndFilesGiveTheSamePrediction() throws {
        let scratch = try Scratch()
        try Self.trained(in: scratch)
        let fromData = try CLI.run(["predict", "--checkpoint", "run/checkpoint_last.h5", "--data", "d.h5", "--part", "all",
                                    "--out", "pred", "--threads", "1"], in: scratch.url)
        try #require(fromData.status == 0, "\(fromData.stderr)")
        #expect(fromData.stdout.contains("Predictions: ") && fromData.stdout.contains("(8 subjects)"), "\(fromData.stdout)")
        let ids = try FileManager.default.contentsOfDirectory(atPath: scratch.path("pred")).filter { $0.hasSuffix(".json") && $0 != "manifest.json" }.sorted()
        #expect(ids.count == 8)
        let id = String(ids[0].dropLast(5))
        #expect(FileManager.default.fileExists(atPath: scratch.path("pred/\(id)_vertebrae.nii.gz")))
        #expect(FileManager.default.fileExists(atPath: scratch.path("pred/\(id)_structures.nii.gz")))
        for (channel, file) in [("T1", "t1.nii.gz"), ("STIR", "stir.nii.gz")] {
            let export = try CLI.run(["dataset", "export", "d.h5", "--subject", id, "--volume", "image", "--channel", channel, "--out", file], in: scratch.url)
            try #require(export.status == 0, "\(export.stderr)")
        }
        let fromFiles = try CLI.run(["predict", "--checkpoint", "run/checkpoint_last.h5", "--image", "t1.nii.gz", "--image", "stir.nii.gz",
                                     "--id", id, "--out", "files", "--threads", "1"], in: scratch.url)
        try #require(fromFiles.status == 0, "\(fromFiles.stderr)")
        let a = try Self.json(scratch.path("pred/\(id).json")), b = try Self.json(scratch.path("files/\(id).json"))
        #expect((a["source"] as! [String: Any])["kind"] as? String == "dataset")
        #expect((b["source"] as! [String: Any])["kind"] as? String == "files")
        let va = a["vertebrae"] as! [[String: Any]], vb = b["vertebrae"] as! [[String: Any]]
        #expect(va.map { $0["levelID"] as! Int } == vb.map { $0["levelID"] as! Int })
        for (x, y) in zip(va, vb) {
            #expect(zip(x["centroidVoxel"] as! [Double], y["centroidVoxel"] as! [Double]).allSatisfy { abs($0 - $1) < 1e-4 })
            #expect(zip(x["classProbabilities"] as! [Double], y["classProbabilities"] as! [Double]).allSatisfy { abs($0 - $1) < 1e-4 })
        }
        // The label maps lie on the image's grid: nibabel sees the same affine as the exported image.
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["python3", "-c", """
            import nibabel as nib, numpy as np
            a = nib.load('t1.nii.gz'); b = nib.load('files/\(id)_vertebrae.nii.gz')
            assert a.shape == b.shape, (a.shape, b.shape)
            assert np.allclose(a.affine, b.affine, atol=1e-3), (a.affine, b.affine)
            assert b.get_data_dtype() == np.uint8
            """]
        check.currentDirectoryURL = scratch.url
        try check.run()
        check.waitUntilExit()
        #expect(check.terminationStatus == 0, "the predicted label map is not on the image's grid (python3 and nibabel needed: scripts/setup.sh)")
    }

    /// A scan with a real scan's geometry (VerSe-like: 1 x 1 x 2 mm, oblique, array axes in scanner order, not
    /// Rachis's canonical order), two channels written by nibabel.
    static let obliqueScan = """
    import sys, numpy as np, nibabel as nib
    shape = (72, 120, 20)
    i, j, k = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    body = ((i - 36) / 20.0) ** 2 + ((k - 10) / 8.0) ** 2 <= 1
    bands = (j // 12) % 2 == 0
    t1 = np.where(body & bands, 900.0, np.where(body, 500.0, 100.0)).astype(np.float32)
    stir = np.where(body & ~bands, 800.0, 150.0).astype(np.float32)
    t = np.radians(10)
    rot = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
    affine = np.eye(4)
    affine[:3, :3] = rot @ np.array([[0, 0, 2.0], [1.0, 0, 0], [0, 1.0, 0]])  # i: anterior, j: superior, k: right
    affine[:3, 3] = [-20, -40, -60]
    nib.save(nib.Nifti1Image(t1, affine), "scan_t1.nii.gz")
    nib.save(nib.Nifti1Image(stir, affine), "scan_stir.nii.gz")
    shifted = affine.copy(); shifted[0, 3] += 5
    nib.save(nib.Nifti1Image(stir, shifted), "shifted_stir.nii.gz")
    plain = nib.Nifti1Image(stir, None)  # no qform or sform: the spacing comes from pixdim, set to NaN in the file
    nib.save(plain, "nan_stir.nii")
    with open("nan_stir.nii", "r+b") as f:
        f.seek(80); f.write(np.array([np.nan], "<f4").tobytes())
    """

    @Test func aScanAtAnotherSpacingAndOrientationPredictsOnItsOwnGrid() throws {
        let scratch = try Scratch()
        try Self.trained(in: scratch)
        let write = Process()
        write.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        write.arguments = ["python3", "-c", Self.obliqueScan]
        write.currentDirectoryURL = scratch.url
        try write.run()
        write.waitUntilExit()
        try #require(write.terminationStatus == 0, "python3 with nibabel is needed (scripts/setup.sh)")
        // Channels named, in the other order; no flag about the spacing.
        let result = try CLI.run(["predict", "--checkpoint", "run/checkpoint_last.h5", "--image", "STIR=scan_stir.nii.gz",
                                  "--image", "T1=scan_t1.nii.gz", "--id", "scan", "--out", "p", "--save-maps", "--threads", "1"], in: scratch.url)
        try #require(result.status == 0, "\(result.stderr)")
        let prediction = try Self.json(scratch.path("p/scan.json"))
        #expect((prediction["source"] as! [String: Any])["paths"] as! [String] == ["scan_t1.nii.gz", "scan_stir.nii.gz"].map { scratch.path($0) })
        #expect((prediction["warnings"] as! [String]).contains { $0.hasPrefix("resampled from 2 x 1 x 1 mm") }, "\(prediction["warnings"]!)")
        // Every output lies on the scan's own grid (shape and affine as nibabel reads them), and each centroid's voxel
        // index maps to its world position through that affine.
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["python3", "-c", """
            import json, nibabel as nib, numpy as np
            a = nib.load('scan_t1.nii.gz')
            for name in ['vertebrae', 'structures', 'heatmap', 'probabilities']:
                b = nib.load('p/scan_' + name + '.nii.gz')
                assert b.shape[:3] == a.shape, (name, a.shape, b.shape)
                assert np.allclose(a.affine, b.affine, atol=1e-3), (name, a.affine, b.affine)
            p = json.load(open('p/scan.json'))
            for v in p['vertebrae']:  # centroidVoxel is [d, h, w] = NIfTI (k, j, i)
                world = (a.affine @ [*v['centroidVoxel'][::-1], 1])[:3]
                assert np.allclose(world, v['centroidMM'], atol=1e-3), (world, v['centroidMM'])
            """]
        check.currentDirectoryURL = scratch.url
        try check.run()
        check.waitUntilExit()
        #expect(check.terminationStatus == 0, "the outputs are not on the scan's grid")
        let geometry = prediction["geometry"] as! [String: Any]
        #expect(geometry["shape"] as? [Int] == [20, 120, 72], "\(geometry)")
        // The commands that read the predictions take them on the scan's grid: attribution (on the model grid, maps
        // back on the scan's) and the report (drawn on the canonical grid).
        let attribution = try CLI.run(["attribution", "validate", "--checkpoint", "run/checkpoint_last.h5", "--predictions", "p",
                                       "--pass-mass", "0", "--threads", "1"], in: scratch.url)
        #expect(attribution.status == 0 || attribution.stdout.contains("decisions 0"), "\(attribution.stdout) \(attribution.stderr)")
        if FileManager.default.fileExists(atPath: scratch.path("p/scan_attribution.nii.gz")) {
            let heat = Process()
            heat.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            heat.arguments = ["python3", "-c", "import nibabel as nib; assert nib.load('p/scan_attribution.nii.gz').shape == nib.load('scan_t1.nii.gz').shape"]
            heat.currentDirectoryURL = scratch.url
            try heat.run()
            heat.waitUntilExit()
            #expect(heat.terminationStatus == 0, "the attribution heat map is not on the scan's grid")
        }
        let report = try CLI.run(["report", "--predictions", "p", "--out", "r"], in: scratch.url)
        #expect(report.status == 0, "\(report.stderr)")
        #expect(FileManager.default.fileExists(atPath: scratch.path("r/scan.html")))
        // Bad input, refused by name with a non-zero exit and no output folder.
        let cases: [([String], String)] = [
            (["--image", "T1=scan_t1.nii.gz"], "the model needs channel STIR"),
            (["--image", "T1=scan_t1.nii.gz", "--image", "T2=scan_stir.nii.gz"], "the model has no channel T2; its channels are T1, STIR"),
            (["--image", "T1=scan_t1.nii.gz", "--image", "T1=scan_stir.nii.gz"], "channel T1 is given twice"),
            (["--image", "T1=scan_t1.nii.gz", "--image", "scan_stir.nii.gz"], "name the channel of every --image"),
            (["--image", "T1=scan_t1.nii.gz", "--image", "STIR=shifted_stir.nii.gz"], "shifted_stir.nii.gz does not lie on the grid of"),
            (["--image", "T1=scan_t1.nii.gz", "--image", "STIR=nan_stir.nii"], "nan_stir.nii"),
        ]
        for (arguments, message) in cases {
            let bad = try CLI.run(["predict", "--checkpoint", "run/checkpoint_last.h5", "--out", "q"] + arguments, in: scratch.url)
            #expect(bad.status != 0)
            #expect(bad.stderr.contains(message), "\(arguments): \(bad.stderr)")
            #expect(!FileManager.default.fileExists(atPath: scratch.path("q")), "\(arguments)")
        }
    }

    @Test func badInputIsRefusedWithTheFileNamed() throws {
        let scratch = try Scratch()
        try Self.trained(in: scratch)
        let export = try CLI.run(["dataset", "export", "d.h5", "--subject", "tiny-00000", "--volume", "image", "--channel", "T1", "--out", "t1.nii.gz"], in: scratch.url)
        try #require(export.status == 0, "\(export.stderr)")
        let cases: [([String], String)] = [
            (["--image", "t1.nii.gz"], "t1.nii.gz has 1 channel; the model was trained on 2 (T1, STIR)"),
            (["--image", "missing.nii.gz", "--image", "t1.nii.gz"], "missing.nii.gz"),
            (["--data", "d.h5", "--subject", "nobody"], "no subject \"nobody\""),
            (["--data", "d.h5", "--split", "fold9"], "has no split \"fold9\""),
            (["--data", "d.h5", "--image", "t1.nii.gz"], "either --data or --image"),
            (["--data", "d.h5", "--min-class-region-share", "1.5"], "--min-class-region-share must be in [0, 1)"),
            (["--data", "d.h5", "--rudimentary-rib-share=-0.1"], "--rudimentary-rib-share must be in [0, 1)"),
        ]
        for (arguments, message) in cases {
            let result = try CLI.run(["predict", "--checkpoint", "run/checkpoint_last.h5", "--out", "p"] + arguments, in: scratch.url)
            #expect(result.status != 0)
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: scratch.path("p")), "\(arguments)")
        }
        let noCheckpoint = try CLI.run(["predict", "--checkpoint", "nothing.h5", "--data", "d.h5", "--out", "p"], in: scratch.url)
        #expect(noCheckpoint.status != 0 && noCheckpoint.stderr.contains("nothing.h5"), "\(noCheckpoint.stderr)")
        let notACheckpoint = try CLI.run(["predict", "--checkpoint", "d.h5", "--data", "d.h5", "--out", "p"], in: scratch.url)
        #expect(notACheckpoint.status != 0 && notACheckpoint.stderr.contains("is not a Rachis checkpoint"), "\(notACheckpoint.stderr)")
    }
}

/// `rachis attribution validate` end to end: reference regions of a dataset, predicted regions of a predictions
/// folder (which the report then shows), and the exit status that gates a model.
struct AttributionCommandTests {
    @Test func validateWritesTheCheckAndGates() throws {
        let scratch = try Scratch()
        try PredictCommandTests.trained(in: scratch)
        let base = ["attribution", "validate", "--checkpoint", "run/checkpoint_last.h5", "--threads", "1"]
        // Everything passes when a decision needs no evidence inside.
        let lenient = try CLI.run(base + ["--data", "d.h5", "--part", "all", "--subject", "tiny-00000", "--out", "a", "--pass-mass", "0"], in: scratch.url)
        #expect(lenient.status == 0, "\(lenient.stderr)")
        #expect(lenient.stdout.contains("PASS") && lenient.stdout.contains("reference regions"), "\(lenient.stdout)")
        let summary = try PredictCommandTests.json(scratch.path("a/attribution.json"))
        #expect(summary["format"] as? String == "rachis-attribution" && summary["regions"] as? String == "reference")
        let rows = summary["rows"] as! [[String: Any]]
        #expect(!rows.isEmpty)
        let maps = try FileManager.default.contentsOfDirectory(atPath: scratch.path("a/maps")).filter { $0.hasSuffix(".nii.gz") }
        #expect(maps.count == rows.count)
        let csv = try String(contentsOfFile: scratch.path("a/attribution.csv"), encoding: .utf8).split(separator: "\n")
        #expect(csv.count == rows.count + 1 && csv[0].hasPrefix("subject,level,"))
        // Everything fails when all evidence must lie inside: exit 2, and the files still say why.
        let strict = try CLI.run(base + ["--data", "d.h5", "--subject", "tiny-00000", "--out", "b", "--pass-mass", "1", "--max-failing", "0", "--no-maps"], in: scratch.url)
        #expect(strict.status == 2, "\(strict.stdout) \(strict.stderr)")
        #expect(strict.stderr.contains("attribution check failed"), "\(strict.stderr)")
        #expect(FileManager.default.fileExists(atPath: scratch.path("b/attribution.json")))
        #expect(!FileManager.default.fileExists(atPath: scratch.path("b/maps")))
        // Predicted regions: the predictions gain each vertebra's check and a heat map, which the report shows.
        let predict = try CLI.run(["predict", "--checkpoint", "run/checkpoint_last.h5", "--data", "d.h5", "--subject", "tiny-00000", "--out", "p"], in: scratch.url)
        try #require(predict.status == 0, "\(predict.stderr)")
        let onPredictions = try CLI.run(base + ["--predictions", "p", "--pass-mass", "0"], in: scratch.url)
        let vertebrae = try PredictCommandTests.json(scratch.path("p/tiny-00000.json"))["vertebrae"] as! [[String: Any]]
        if vertebrae.isEmpty {
            #expect(onPredictions.status == 2 && onPredictions.stdout.contains("decisions 0"), "\(onPredictions.stdout)")
        } else {
            #expect(onPredictions.status == 0, "\(onPredictions.stderr)")
            #expect(vertebrae.allSatisfy { ($0["attribution"] as? [String: Any])?["passed"] as? Bool == true })
            #expect(FileManager.default.fileExists(atPath: scratch.path("p/attribution/attribution.json")))
            #expect(FileManager.default.fileExists(atPath: scratch.path("p/tiny-00000_attribution.nii.gz")))
            let report = try CLI.run(["report", "--predictions", "p", "--out", "r"], in: scratch.url)
            #expect(report.status == 0, "\(report.stderr)")
            #expect(FileManager.default.fileExists(atPath: scratch.path("r/images/tiny-00000_attribution.png")))
            #expect(try String(contentsOfFile: scratch.path("r/tiny-00000.html"), encoding: .utf8).contains("Evidence inside"))
        }
        // Bad input.
        let neither = try CLI.run(base + ["--out", "x"], in: scratch.url)
        #expect(neither.status != 0 && neither.stderr.contains("either --predictions or --data"), "\(neither.stderr)")
        let badLayer = try CLI.run(base + ["--data", "d.h5", "--out", "x", "--method", "gradCAM", "--layer", "stem"], in: scratch.url)
        #expect(badLayer.status != 0 && badLayer.stderr.contains("gradCAMLayer"), "\(badLayer.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("x")))
    }
}
