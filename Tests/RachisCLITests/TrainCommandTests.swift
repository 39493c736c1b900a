import Foundation
import Testing

/// `rachis train` end to end: a short run, a stop by SIGINT that saves and exits 0, and a resume that finishes.
struct TrainCommandTests {
    static let small = [
        "--set", "model.width=4", "--set", "model.blocksPerStage=[0,1,1,1]", "--set", "model.featureChannels=4",
        "--set", "model.normGroups=4", "--set", "model.spacingMM=[4,3,3]", "--set", "loader.crop=[8,48,32]",
    ]

    static func dataset(in scratch: Scratch) throws {
        let synth = try CLI.run(["dataset", "synth", "--recipe", DatasetCommandTests.tinyRecipe, "--out", "d.h5", "--count", "8", "--shape", "8,48,32"], in: scratch.url)
        try #require(synth.status == 0, "\(synth.stderr)")
    }

    @Test func trainWritesTheRunFolder() throws {
        let scratch = try Scratch()
        try Self.dataset(in: scratch)
        let result = try CLI.run(["train", "--data", "d.h5", "--run", "run", "--threads", "1"] + Self.small
                                 + ["--set", "train.epochs=2", "--set", "train.stepsPerEpoch=2"], in: scratch.url)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("Trained 2 epochs"), "\(result.stdout)")
        let files = try FileManager.default.contentsOfDirectory(atPath: scratch.path("run")).sorted()
        #expect(files == ["checkpoint_best.h5", "checkpoint_last.h5", "config.json", "metrics.csv", "progress.png", "training.log"])
        let csv = try String(contentsOfFile: scratch.path("run/metrics.csv"), encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 3 && csv[0].hasPrefix("epoch,") && csv[0].contains("val.metric.dice"), "\(csv)")
        let again = try CLI.run(["train", "--data", "d.h5", "--run", "run"] + Self.small, in: scratch.url)
        #expect(again.status != 0 && again.stderr.contains("already holds a run: pass --resume"), "\(again.stderr)")
    }

    @Test(arguments: [
        (["--set", "model.widht=3"], "unknown key model.widht"),
        (["--set", "train.optimizer=lbfgs"], #"train.optimizer: "lbfgs" is not one of "adamw", "adam", "sgd""#),
        (["--set", "train.epochs=0"], "train.epochs is 0; expected at least 1"),
        (["--set", "nonsense"], "expected key.path=value"),
        (["--config", "missing.yaml"], "missing.yaml"),
    ])
    func badConfigsAreRejectedByName(arguments: [String], message: String) throws {
        let scratch = try Scratch()
        let result = try CLI.run(["train", "--data", "d.h5", "--run", "run"] + arguments, in: scratch.url)
        #expect(result.status != 0)
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("run")))
    }

    @Test func sigintSavesACheckpointAndResumeFinishes() throws {
        let scratch = try Scratch()
        try Self.dataset(in: scratch)
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["train", "--data", "d.h5", "--run", "run", "--threads", "1"] + Self.small + ["--set", "train.epochs=50"]
        process.currentDirectoryURL = scratch.url
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Wait for the first epoch's checkpoint, then interrupt mid-training.
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: scratch.path("run/checkpoint_last.h5")), Date() < deadline, process.isRunning {
            Thread.sleep(forTimeInterval: 0.2)
        }
        Thread.sleep(forTimeInterval: 0.5)
        process.interrupt()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        _ = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(stdout.contains("Stopped by SIGINT"), "\(stdout)")
        // Any other change to the stored config is refused by name; the number of epochs may change.
        let changed = try CLI.run(["train", "--data", "d.h5", "--run", "run", "--resume", "--set", "train.learningRate=1"], in: scratch.url)
        #expect(changed.status != 0 && changed.stderr.contains("train.learningRate"), "\(changed.stderr)")
        // Resume to one epoch past those the interrupted run finished (how many depends on the machine's speed).
        let finished = try String(contentsOfFile: scratch.path("run/metrics.csv"), encoding: .utf8).split(separator: "\n").count - 1
        let epochs = finished + 1
        let resumed = try CLI.run(["train", "--data", "d.h5", "--run", "run", "--resume", "--threads", "1", "--set", "train.epochs=\(epochs)"], in: scratch.url)
        // It counts what it ran itself (the rest of the interrupted epoch and after), not the run's epochs.
        #expect(resumed.status == 0 && resumed.stdout.contains("Trained ") && resumed.stdout.contains("of \(epochs), resumed"), "\(resumed.stdout)\(resumed.stderr)")
    }
}

extension TrainCommandTests {
    /// A kill -9 at any moment leaves a loadable checkpoint_last.h5 (written to a temporary file, then renamed).
    @Test func killNineLeavesALoadableCheckpoint() throws {
        let scratch = try Scratch()
        try Self.dataset(in: scratch)
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["train", "--data", "d.h5", "--run", "run", "--threads", "1"] + Self.small + ["--set", "train.epochs=50", "--set", "train.stepsPerEpoch=1"]
        process.currentDirectoryURL = scratch.url
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: scratch.path("run/checkpoint_last.h5")), Date() < deadline, process.isRunning {
            Thread.sleep(forTimeInterval: 0.1)
        }
        // Epochs are one step long here, so checkpoints are being written all the time: kill in the middle of that.
        Thread.sleep(forTimeInterval: 1.3)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        let resumed = try CLI.run(["train", "--data", "d.h5", "--run", "run", "--resume", "--threads", "1", "--set", "train.epochs=1"], in: scratch.url)
        #expect(resumed.status == 0, "\(resumed.stderr)")
    }
}
