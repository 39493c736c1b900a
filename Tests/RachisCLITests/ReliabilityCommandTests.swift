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
        for name in ["run2", "p2", "e.json", "r.h5", "x.nii.gz"] { #expect(!FileManager.default.fileExists(atPath: scratch.path(name)), "\(name) was written") }
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
        let conflicting = try CLI.run(["train", "--data", "d.h5", "--run", "parts", "--resume", "--seed", "8", "--set", "train.epochs=2"], in: scratch.url)
        #expect(conflicting.status != 0 && conflicting.stderr.contains("was started with --seed 7"), "\(conflicting.stderr)")
        let resumed = try CLI.run(["train", "--data", "d.h5", "--run", "parts", "--resume", "--set", "train.epochs=2"], in: scratch.url)
        #expect(resumed.status == 0, "\(resumed.stderr)")
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
