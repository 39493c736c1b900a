import Foundation
import Rachis
import Testing

/// Issue 17 through the binary: bad data refused as validate refuses it, non-finite checkpoints, thread counts,
/// resume seeds, locked outputs, complete prediction folders and leftover temporary files.
struct ReliabilityCommandTests {
    /// Runs a python3 (h5py) script in `scratch`, returning its stdout.
    @discardableResult
    static func python(_ script: String, in scratch: Scratch) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        process.currentDirectoryURL = scratch.url
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let error = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "python3 with h5py is needed (scripts/setup.sh): \(error)")
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Copies d.h5 to `name` with one training subject's content broken behind Rachis's back.
    static func corrupt(_ name: String, _ change: String, in scratch: Scratch) throws {
        try python("""
            import h5py, numpy as np, shutil
            shutil.copy('d.h5', '\(name)')
            f = h5py.File('\(name)', 'r+')
            sid = sorted(f['subjects'].keys())[0]
            g = f['subjects'][sid]
            if '\(change)' == 'centroid':
                d = g['vertebrae/centroid_mm']; v = d[...]; v[0, 0] = np.inf; d[...] = v
            else:
                d = g['labels/vertebrae']; v = d[...]; v[v == v.max()] = 99; d[...] = v
            f.close()
            """, in: scratch)
    }

    @Test(arguments: [
        ("centroid", "/subjects/tiny-00000/vertebrae/centroid_mm: T9 centroid is not finite"),
        ("level", "/subjects/tiny-00000/labels/vertebrae: unknown level ids [99]"),
    ])
    func readersRefuseWhatValidateRefuses(change: String, message: String) throws {
        let scratch = try Scratch()
        try PredictCommandTests.trained(in: scratch)
        try Self.corrupt("bad.h5", change, in: scratch)
        let validate = try CLI.run(["dataset", "validate", "bad.h5"], in: scratch.url)
        #expect(validate.status == 1 && validate.stdout.contains(message), "\(validate.stdout)")
        let good = try CLI.run(["predict", "--checkpoint", "run/checkpoint_last.h5", "--data", "d.h5", "--subject", "tiny-00000", "--out", "p", "--threads", "1"], in: scratch.url)
        try #require(good.status == 0, "\(good.stderr)")
        let commands: [[String]] = [
            ["train", "--data", "bad.h5", "--run", "run2", "--threads", "1"] + TrainCommandTests.small + ["--set", "train.epochs=1", "--set", "train.stepsPerEpoch=1"],
            ["predict", "--checkpoint", "run/checkpoint_last.h5", "--data", "bad.h5", "--part", "all", "--out", "p2", "--threads", "1"],
            ["evaluate", "--predictions", "p", "--data", "bad.h5", "--out", "e.json"],
            ["relabel", "--checkpoint", "run/checkpoint_last.h5", "--data", "bad.h5", "--out", "r.h5", "--samples", "1", "--threads", "1"],
            ["dataset", "export", "bad.h5", "--subject", "tiny-00000", "--volume", "image", "--out", "x.nii.gz"],
        ]
        for arguments in commands {
            let result = try CLI.run(arguments, in: scratch.url)
            #expect(result.status != 0, "\(arguments[0]) exits \(result.status)")
            #expect(result.stderr.contains("bad.h5 fails validation") && result.stderr.contains(message), "\(arguments[0]): \(result.stderr)")
        }
        // report reads the dataset its predictions name: a folder pointing at bad.h5.
        try FileManager.default.createDirectory(atPath: scratch.path("pbad"), withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: scratch.path("p")) where !name.hasPrefix(".") {
            try FileManager.default.copyItem(atPath: scratch.path("p/\(name)"), toPath: scratch.path("pbad/\(name)"))
        }
        let json = try String(contentsOfFile: scratch.path("pbad/tiny-00000.json"), encoding: .utf8)
        // The source path as the JSON writes it: absolute, slashes escaped.
        try #require(json.contains("\\/d.h5\""))
        try Data(json.replacingOccurrences(of: "\\/d.h5\"", with: "\\/bad.h5\"").utf8).write(to: URL(fileURLWithPath: scratch.path("pbad/tiny-00000.json")))
        let report = try CLI.run(["report", "--predictions", "pbad", "--out", "rep"], in: scratch.url)
        #expect(report.status != 0 && report.stderr.contains("bad.h5 fails validation") && report.stderr.contains(message), "report: \(report.stderr)")
        for name in ["run2", "p2", "e.json", "r.h5", "x.nii.gz", "rep"] { #expect(!FileManager.default.fileExists(atPath: scratch.path(name)), "\(name) was written") }
    }

    @Test func nonFiniteWeightsAreRefusedNamingTheTensor() throws {
        let scratch = try Scratch()
        try PredictCommandTests.trained(in: scratch)
        let tensor = try Self.python("""
            import h5py, numpy as np, shutil
            shutil.copy('run/checkpoint_last.h5', 'nan.h5')
            f = h5py.File('nan.h5', 'r+')
            name = sorted(f['model'].keys())[0]
            d = f['model'][name]; v = d[...]; v.flat[0] = np.nan; d[...] = v
            print(name)
            """, in: scratch)
        let result = try CLI.run(["predict", "--checkpoint", "nan.h5", "--data", "d.h5", "--subject", "tiny-00000", "--out", "p", "--threads", "1"], in: scratch.url)
        #expect(result.status != 0)
        #expect(result.stderr.contains("nan.h5 /model/\(tensor): 1 of") && result.stderr.contains("NaN or infinite"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("p")))
        // Thread counts above the machine's cores are capped, with a warning.
        let threads = try CLI.run(["predict", "--checkpoint", "run/checkpoint_last.h5", "--data", "d.h5", "--subject", "tiny-00000", "--out", "p", "--threads", "100000"], in: scratch.url)
        #expect(threads.status == 0, "\(threads.stderr)")
        #expect(threads.stderr.contains("--threads 100000 is more than the \(ProcessInfo.processInfo.activeProcessorCount) cores"), "\(threads.stderr)")
    }

    /// Resume takes the stored seed: a run stopped after epoch 1 and resumed without --seed ends with the weights of
    /// an uninterrupted run with the same seed; another --seed is refused.
    @Test func resumeTakesTheStoredSeed() throws {
        let scratch = try Scratch()
        try TrainCommandTests.dataset(in: scratch)
        let base = ["train", "--data", "d.h5", "--threads", "1"] + TrainCommandTests.small + ["--set", "train.stepsPerEpoch=1"]
        let whole = try CLI.run(base + ["--run", "whole", "--seed", "7", "--set", "train.epochs=2"], in: scratch.url)
        try #require(whole.status == 0, "\(whole.stderr)")
        let first = try CLI.run(base + ["--run", "parts", "--seed", "7", "--set", "train.epochs=1"], in: scratch.url)
        try #require(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("Trained 1 epoch in") && whole.stdout.contains("Trained 2 epochs in"), "\(first.stdout)\n\(whole.stdout)")
        let conflicting = try CLI.run(["train", "--data", "d.h5", "--run", "parts", "--resume", "--seed", "8", "--set", "train.epochs=2"], in: scratch.url)
        #expect(conflicting.status != 0 && conflicting.stderr.contains("was started with --seed 7"), "\(conflicting.stderr)")
        let resumed = try CLI.run(["train", "--data", "d.h5", "--run", "parts", "--resume", "--set", "train.epochs=2"], in: scratch.url)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        // It said "Trained 2 epochs" after running one.
        #expect(resumed.stdout.contains("Trained 1 epoch (epoch 2 of 2, resumed) in"), "\(resumed.stdout)")
        let difference = try Self.python("""
            import h5py, numpy as np, json
            a, b = h5py.File('whole/checkpoint_last.h5', 'r'), h5py.File('parts/checkpoint_last.h5', 'r')
            print(json.loads(b.attrs['run'])['seed'], max(float(np.abs(a['model'][k][...] - b['model'][k][...]).max()) for k in a['model']))
            """, in: scratch)
        #expect(difference == "7 0.0", "stored seed and largest weight difference: \(difference)")
    }

    /// A second writer of an output is refused naming the holder's pid (here this test process holds the lock).
    @Test func secondWriterIsRefusedNamingTheHolder() throws {
        let scratch = try Scratch()
        try PredictCommandTests.trained(in: scratch)
        let pid = ProcessInfo.processInfo.processIdentifier
        let cases: [(output: String, folder: Bool, arguments: [String])] = [
            ("run", true, ["train", "--data", "d.h5", "--run", "run", "--resume", "--set", "train.epochs=2"]),
            ("p", true, ["predict", "--checkpoint", "run/checkpoint_last.h5", "--data", "d.h5", "--subject", "tiny-00000", "--out", "p"]),
            ("r.h5", false, ["relabel", "--checkpoint", "run/checkpoint_last.h5", "--data", "d.h5", "--out", "r.h5", "--samples", "1"]),
            ("s.h5", false, ["dataset", "synth", "--recipe", DatasetCommandTests.tinyRecipe, "--out", "s.h5", "--count", "1", "--shape", "8,48,32"]),
        ]
        for c in cases {
            let url = URL(fileURLWithPath: scratch.path(c.output))
            let lock = c.folder ? try OutputLock.folder(url, command: "holder") : try OutputLock.file(url, command: "holder")
            let result = try CLI.run(c.arguments + ["--threads", "1"].filter { _ in c.arguments[0] != "dataset" }, in: scratch.url)
            lock.release()
            #expect(result.status != 0, "\(c.arguments[0])")
            #expect(result.stderr.contains("\(url.path) is being written by another rachis (pid \(pid): holder)"), "\(c.arguments[0]): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.path("r.h5")) && !FileManager.default.fileExists(atPath: scratch.path("s.h5")))
        #expect(!scratch.entries.contains { $0.hasSuffix(".lock") }, "\(scratch.entries)")
        // Once released, the same commands run; the lock file goes with the command.
        let predict = try CLI.run(["predict", "--checkpoint", "run/checkpoint_last.h5", "--data", "d.h5", "--subject", "tiny-00000", "--out", "p", "--threads", "1"], in: scratch.url)
        #expect(predict.status == 0, "\(predict.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("p/.rachis.lock")))
    }

    /// evaluate, dataset import, export and split lock what they write too (before reading anything).
    @Test func evaluateImportExportAndSplitAreLocked() throws {
        let scratch = try Scratch()
        let synth = try CLI.run(["dataset", "synth", "--recipe", DatasetCommandTests.tinyRecipe, "--out", "d.h5", "--count", "3", "--shape", "8,48,32"], in: scratch.url)
        try #require(synth.status == 0, "\(synth.stderr)")
        try FileManager.default.createDirectory(atPath: scratch.path("p"), withIntermediateDirectories: true)
        let pid = ProcessInfo.processInfo.processIdentifier
        let cases: [(output: String, folder: Bool, arguments: [String])] = [
            ("e.json", false, ["evaluate", "--predictions", "p", "--data", "d.h5", "--out", "e.json"]),
            ("p", true, ["evaluate", "--predictions", "p", "--data", "d.h5"]),
            ("i.h5", false, ["dataset", "import", "m.yaml", "--out", "i.h5"]),
            ("x.nii.gz", false, ["dataset", "export", "d.h5", "--subject", "tiny-00000", "--volume", "image", "--channel", "T1", "--out", "x.nii.gz"]),
            ("d.h5", false, ["dataset", "split", "d.h5", "--folds", "2"]),
        ]
        for c in cases {
            let url = URL(fileURLWithPath: scratch.path(c.output))
            let lock = c.folder ? try OutputLock.folder(url, command: "holder") : try OutputLock.file(url, command: "holder")
            let result = try CLI.run(c.arguments, in: scratch.url)
            lock.release()
            #expect(result.status != 0, "\(c.arguments)")
            #expect(result.stderr.contains("\(url.path) is being written by another rachis (pid \(pid): holder)"), "\(c.arguments): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.path("e.json")) && !FileManager.default.fileExists(atPath: scratch.path("x.nii.gz")))
        // Released, they run, and take their lock files with them.
        let split = try CLI.run(["dataset", "split", "d.h5", "--folds", "2"], in: scratch.url)
        #expect(split.status == 0 && split.stdout.contains("fold_1"), "\(split.stderr)")
        let export = try CLI.run(["dataset", "export", "d.h5", "--subject", "tiny-00000", "--volume", "image", "--channel", "T1", "--out", "x.nii.gz"], in: scratch.url)
        #expect(export.status == 0, "\(export.stderr)")
        #expect(!scratch.entries.contains { $0.hasSuffix(".lock") }, "\(scratch.entries)")
    }

    /// One spelling of errors ("Error: ", as the argument parser writes it), and one line naming the path.
    @Test func errorsSayErrorOnce() throws {
        let scratch = try Scratch()
        let cases: [[String]] = [
            ["dataset", "import", "nowhere.yaml", "--out", "i.h5"],
            ["dataset", "export", "nowhere.h5", "--subject", "s", "--volume", "image", "--out", "x.nii"],
            ["evaluate", "--predictions", "p", "--data", "d.h5", "--out", "missing/e.json"],
        ]
        for arguments in cases {
            let result = try CLI.run(arguments, in: scratch.url)
            #expect(result.status != 0)
            #expect(result.stderr.hasPrefix("Error: ") && !result.stderr.contains("error:"), "\(arguments): \(result.stderr)")
        }
        let evaluate = try CLI.run(cases[2], in: scratch.url)
        #expect(evaluate.stderr.contains("\(scratch.path("missing")) does not exist"), "\(evaluate.stderr)")
        #expect(scratch.entries.isEmpty, "\(scratch.entries)")
    }

    /// `--threads` is taken by exactly the commands the README names, and synth honours it.
    @Test func threadsAreTakenByTheCommandsTheREADMENames() throws {
        let scratch = try Scratch()
        let readme = try String(contentsOf: CLI.repository.appendingPathComponent("README.md"), encoding: .utf8)
        let sentence = try #require(readme.components(separatedBy: "\n\n").map { $0.replacingOccurrences(of: "\n", with: " ") }.first { $0.contains("`--threads N`") && $0.contains("is taken by") })
        let named = Set(sentence.components(separatedBy: "is taken by")[1].components(separatedBy: ";")[0]
            .components(separatedBy: "`").enumerated().filter { $0.offset % 2 == 1 }.map(\.element))
        let commands = ["info", "dataset synth", "dataset import", "dataset export", "dataset inspect", "dataset validate", "dataset split",
                        "dataset agreement", "model summary", "train", "predict", "relabel", "evaluate", "report", "attribution validate",
                        "bench run", "bench chunks", "bench read", "selftest"]
        #expect(named.isSubset(of: Set(commands)) && !named.isEmpty, "\(named)")
        for command in commands {
            let help = try CLI.run(["help"] + command.split(separator: " ").map(String.init), in: scratch.url)
            #expect(help.status == 0, "\(command)")
            #expect(help.stdout.contains("--threads") == named.contains(command), "\(command): README says \(named.contains(command)), help says \(help.stdout.contains("--threads"))")
        }
        let synth = ["dataset", "synth", "--recipe", DatasetCommandTests.tinyRecipe, "--count", "2", "--shape", "8,48,32"]
        let one = try CLI.run(synth + ["--out", "a.h5", "--threads", "1"], in: scratch.url)
        #expect(one.status == 0, "\(one.stderr)")
        let many = try CLI.run(synth + ["--out", "b.h5", "--threads", "100000"], in: scratch.url)
        #expect(many.status == 0 && many.stderr.contains("--threads 100000 is more than the"), "\(many.stderr)")
        let zero = try CLI.run(synth + ["--out", "c.h5", "--threads", "0"], in: scratch.url)
        #expect(zero.status != 0 && zero.stderr.contains("--threads must be at least 1"), "\(zero.stderr)")
        let same = try Self.python("""
            import h5py, numpy as np
            a, b = h5py.File('a.h5', 'r'), h5py.File('b.h5', 'r')
            print(all(np.array_equal(a['subjects'][k]['image'][...], b['subjects'][k]['image'][...]) for k in a['subjects']))
            """, in: scratch)
        #expect(same == "True")
    }

    /// `info` said 1.13.0 where the README says Debian's package is 1.13.1: it names where its version comes from.
    @Test func infoSaysWhereTheLibtorchVersionComesFrom() throws {
        let scratch = try Scratch()
        let info = try CLI.run(["info", "--threads", "1"], in: scratch.url)
        #expect(info.status == 0 && info.stdout.contains("(as its headers say: torch/version.h)"), "\(info.stdout)")
        let readme = try String(contentsOf: CLI.repository.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(readme.contains("`rachis info` says 1.13.0"))
    }

    /// predict needs --force to replace a predictions folder and empties it; evaluate, report and attribution refuse
    /// an incomplete or mixed folder by what is missing or extra.
    @Test func predictionFoldersAreCompleteAndUnmixed() throws {
        let scratch = try Scratch()
        try PredictCommandTests.trained(in: scratch)
        let predict = ["predict", "--checkpoint", "run/checkpoint_last.h5", "--data", "d.h5", "--threads", "1", "--out", "p"]
        let first = try CLI.run(predict + ["--subject", "tiny-00000", "--subject", "tiny-00001"], in: scratch.url)
        try #require(first.status == 0, "\(first.stderr)")
        let manifest = try PredictCommandTests.json(scratch.path("p/manifest.json"))
        #expect(manifest["completed"] as? Bool == true && manifest["subjects"] as? [String] == ["tiny-00000", "tiny-00001"], "\(manifest)")
        #expect((manifest["checkpointSHA256"] as? String)?.count == 64 && manifest["dataset"] as? String == "d.h5")
        let again = try CLI.run(predict + ["--subject", "tiny-00002"], in: scratch.url)
        #expect(again.status != 0 && again.stderr.contains("already holds predictions: pass --force"), "\(again.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("p/tiny-00002.json")))
        let forced = try CLI.run(predict + ["--subject", "tiny-00002", "--force"], in: scratch.url)
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try PredictionFolder(URL(fileURLWithPath: scratch.path("p"))).subjectIDs() == ["tiny-00002"], "--force empties the folder")
        // A subject from elsewhere: mixed.
        for suffix in [".json", "_vertebrae.nii.gz"] {
            try FileManager.default.copyItem(atPath: scratch.path("p/tiny-00002" + suffix), toPath: scratch.path("p/other" + suffix))
        }
        let readers: [[String]] = [
            ["evaluate", "--predictions", "p", "--data", "d.h5"],
            ["report", "--predictions", "p", "--out", "report"],
            ["attribution", "validate", "--checkpoint", "run/checkpoint_last.h5", "--predictions", "p", "--threads", "1"],
        ]
        for arguments in readers {
            let result = try CLI.run(arguments, in: scratch.url)
            #expect(result.status != 0 && result.stderr.contains("mixes predictions: other is not in its manifest.json"), "\(arguments[0]): \(result.stderr)")
        }
        // A predict that did not finish: incomplete.
        for suffix in [".json", "_vertebrae.nii.gz"] { try FileManager.default.removeItem(atPath: scratch.path("p/other" + suffix)) }
        let text = try String(contentsOfFile: scratch.path("p/manifest.json"), encoding: .utf8)
        try Data(text.replacingOccurrences(of: "\"completed\" : true", with: "\"completed\" : false").replacingOccurrences(of: "\"tiny-00002\"", with: "\"tiny-00002\", \"tiny-00003\"").utf8)
            .write(to: URL(fileURLWithPath: scratch.path("p/manifest.json")))
        for arguments in readers {
            let result = try CLI.run(arguments, in: scratch.url)
            #expect(result.status != 0 && result.stderr.contains("is incomplete: 1 of the 2 subjects in its manifest.json are missing (tiny-00003)"), "\(arguments[0]): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.path("report")) && !FileManager.default.fileExists(atPath: scratch.path("p/evaluation.json")))
        // No manifest at all: refused, unless --allow-no-manifest (then read with a warning).
        try FileManager.default.removeItem(atPath: scratch.path("p/manifest.json"))
        for arguments in readers {
            let result = try CLI.run(arguments, in: scratch.url)
            #expect(result.status != 0 && result.stderr.contains("p has no manifest.json") && result.stderr.contains("--allow-no-manifest"), "\(arguments[0]): \(result.stderr)")
        }
        for arguments in readers.prefix(2) {
            let result = try CLI.run(arguments + ["--allow-no-manifest"], in: scratch.url)
            #expect(result.status == 0 && result.stderr.contains("warning: ") && result.stderr.contains("has no manifest.json"), "\(arguments[0]): \(result.stderr)")
        }
        try FileManager.default.removeItem(atPath: scratch.path("report"))
        try FileManager.default.removeItem(atPath: scratch.path("p/evaluation.json"))
        // --force never empties a folder that is not a predictions folder.
        try FileManager.default.createDirectory(atPath: scratch.path("mine"), withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: scratch.path("mine/notes.txt")))
        let foreign = try CLI.run(["predict", "--checkpoint", "run/checkpoint_last.h5", "--data", "d.h5", "--subject", "tiny-00000", "--out", "mine", "--force"], in: scratch.url)
        #expect(foreign.status != 0 && foreign.stderr.contains("holds files that rachis predict did not write (notes.txt)"), "\(foreign.stderr)")
        #expect(FileManager.default.fileExists(atPath: scratch.path("mine/notes.txt")))
    }

    /// The temporary file a killed writer leaves is removed by the next run of the command that owns the output.
    @Test func leftoverTemporaryFilesAreCleanedByTheOwner() throws {
        let scratch = try Scratch()
        let leftover = ".d.h5.\(UUID().uuidString).tmp"
        try Data(count: 1024).write(to: URL(fileURLWithPath: scratch.path(leftover)))
        try Data("other".utf8).write(to: URL(fileURLWithPath: scratch.path(".notes.tmp")))
        #expect(TemporaryFiles.target(of: leftover) == "d.h5" && !TemporaryFiles.isTemporary(".notes.tmp"))
        let synth = try CLI.run(["dataset", "synth", "--recipe", DatasetCommandTests.tinyRecipe, "--out", "d.h5", "--count", "1", "--shape", "8,48,32"], in: scratch.url)
        #expect(synth.status == 0, "\(synth.stderr)")
        #expect(synth.stderr.contains("removed \(scratch.path(leftover)), left by an interrupted run"), "\(synth.stderr)")
        #expect(scratch.entries == [".notes.tmp", "d.h5"], "\(scratch.entries)")
    }

    /// `rachis help trian` printed the root help and exited 0.
    @Test func helpForAnUnknownCommandFails() throws {
        let scratch = try Scratch()
        let typo = try CLI.run(["help", "trian"], in: scratch.url)
        #expect(typo.status != 0 && typo.stderr.contains("unknown command \"trian\"; commands: info, dataset"), "\(typo.stderr)")
        let nested = try CLI.run(["help", "dataset", "synth"], in: scratch.url)
        #expect(nested.status == 0 && nested.stdout.contains("synthetic spine MRI dataset"), "\(nested.stdout)")
    }
}
