import Foundation
import Rachis
import Testing
import Torch

/// `rachis train` across processes on loopback: two ranks match one process on the combined batch, only rank 0
/// writes, a killed rank stops the other with an error, and bad options are refused by name.
struct DistributedTrainTests {
    /// The small model of `TrainCommandTests` with only the autoencoder head, the config for which two ranks of
    /// batch B and one process of batch 2B compute the same gradient: the L1 reconstruction loss is a mean over every
    /// voxel of every sample, all samples the same size, so the mean of the ranks' means is the combined mean. (With
    /// the masked task losses, whose denominators differ between the ranks' batches, it is only close.)
    static let autoencoderOnly = TrainCommandTests.small + [
        "--set", "model.heads.segmentation=false", "--set", "model.heads.localization=false",
        "--set", "model.heads.identification=false", "--set", "model.heads.classification=false",
        "--set", "train.stepsPerEpoch=2", "--seed", "7", "--threads", "1",
    ]

    /// A TCP port that was free a moment ago (bound to port 0 on loopback, then released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        try #require(bound == 0)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// A `rachis` process whose output goes to files in the scratch folder.
    final class Rank {
        let process = Process()
        let out: URL, err: URL
        init(_ arguments: [String], name: String, in scratch: Scratch) throws {
            (out, err) = (scratch.url.appendingPathComponent(name + ".out"), scratch.url.appendingPathComponent(name + ".err"))
            try #require(FileManager.default.createFile(atPath: out.path, contents: nil))
            try #require(FileManager.default.createFile(atPath: err.path, contents: nil))
            process.executableURL = CLI.binary
            process.arguments = arguments
            process.currentDirectoryURL = scratch.url
            process.standardOutput = try FileHandle(forWritingTo: out)
            process.standardError = try FileHandle(forWritingTo: err)
            try process.run()
        }
        var stdout: String { (try? String(contentsOf: out, encoding: .utf8)) ?? "" }
        var stderr: String { (try? String(contentsOf: err, encoding: .utf8)) ?? "" }
        /// Waits at most `seconds`; false (and the process killed) when it was still running.
        func wait(seconds: Double) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit(); return false }
            process.waitUntilExit()
            return true
        }
    }

    /// Every model weight of a run's checkpoint_last.h5.
    static func weights(_ run: String) throws -> [String: [Float]] {
        try Checkpoint.read(from: URL(fileURLWithPath: run).appendingPathComponent("checkpoint_last.h5")).model
            .mapValues { try $0.to(.float32).contiguous().array(Float.self) }
    }

    static func largestDifference(_ a: [String: [Float]], _ b: [String: [Float]]) -> Float {
        a.keys.reduce(0) { worst, key in
            zip(a[key]!, b[key] ?? []).reduce(worst) { Swift.max($0, abs($1.0 - $1.1)) }
        }
    }

    static func column(_ name: String, of run: String) throws -> [Double] {
        let lines = try String(contentsOfFile: run + "/metrics.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        let index = try #require(lines[0].firstIndex { $0 == name }, "no column \(name) in \(lines[0])")
        return lines.dropFirst().map { Double($0[index]) ?? .nan }
    }

    @Test func twoRanksMatchOneProcessOnTheCombinedBatchAndOnlyRankZeroWrites() throws {
        let scratch = try Scratch()
        try TrainCommandTests.dataset(in: scratch)
        let master = "127.0.0.1:\(try Self.freePort())"
        let common = ["train", "--data", "d.h5", "--set", "train.epochs=2"] + Self.autoencoderOnly + ["--world-size", "2", "--master", master, "--dist-timeout", "60"]
        // Rank 1 is given its own --run folder: it must not create it.
        let ranks = try [
            Rank(common + ["--run", "r0", "--rank", "0", "--set", "loader.batchSize=1"], name: "rank0", in: scratch),
            Rank(common + ["--run", "r1", "--rank", "1", "--set", "loader.batchSize=1"], name: "rank1", in: scratch),
        ]
        for rank in ranks { #expect(rank.wait(seconds: 300), "a rank did not finish") }
        for (r, rank) in ranks.enumerated() { try #require(rank.process.terminationStatus == 0, "rank \(r): \(rank.stderr)") }
        #expect(ranks[0].stdout.contains("Trained 2 epochs"), "\(ranks[0].stdout)")
        #expect(ranks[1].stdout.contains("Rank 1 of 2: trained 2 epochs"), "\(ranks[1].stdout)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("r1")), "rank 1 wrote \(scratch.path("r1"))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path("r0")).sorted()
                == ["checkpoint_best.h5", "checkpoint_last.h5", "config.json", "metrics.csv", "progress.png", "training.log"])

        let combined = try CLI.run(["train", "--data", "d.h5", "--run", "one", "--set", "train.epochs=2"] + Self.autoencoderOnly + ["--set", "loader.batchSize=2"], in: scratch.url)
        try #require(combined.status == 0, "\(combined.stderr)")
        // Rank 0's share alone: what the ranks would reach if rank 1's samples were lost (the test's control).
        let alone = try CLI.run(["train", "--data", "d.h5", "--run", "alone", "--set", "train.epochs=2"] + Self.autoencoderOnly + ["--set", "loader.batchSize=1"], in: scratch.url)
        try #require(alone.status == 0, "\(alone.stderr)")

        let (twoRanks, oneProcess, rankZeroShare) = try (Self.weights(scratch.path("r0")), Self.weights(scratch.path("one")), Self.weights(scratch.path("alone")))
        #expect(Set(twoRanks.keys) == Set(oneProcess.keys))
        let difference = Self.largestDifference(twoRanks, oneProcess)
        let control = Self.largestDifference(rankZeroShare, oneProcess)
        #expect(difference < 1e-5, "two ranks differ from one process by \(difference)")
        #expect(control > 100 * Swift.max(difference, 1e-7), "the control differs by only \(control)")
        // The logged training loss is the mean over the ranks; validation is shared out and gathered.
        for key in ["train.loss.total", "train.gradNorm", "val.loss.total", "val.metric.psnr"] {
            let (a, b) = (try Self.column(key, of: scratch.path("r0")), try Self.column(key, of: scratch.path("one")))
            #expect(a.count == 2 && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-4 * Swift.max(1, abs($1)) }, "\(key): \(a) vs \(b)")
        }
        #expect(try Self.column("train.allreduceSeconds", of: scratch.path("r0")).allSatisfy { $0 >= 0 })
    }

    /// Segmentation (cross-entropy only) and the autoencoder on subjects annotated differently: the masked mean's
    /// denominator differs between the ranks' batches (partial, box and unlabelled subjects), and some ranks' batches
    /// have no segmentation label at all. Each rank's task loss is rescaled by its share of the annotated count, so the
    /// ranks' mean gradient is still that of the combined batch.
    @Test func maskedLossesOfDifferentlyAnnotatedRanksMatchOneProcess() throws {
        let scratch = try Scratch()
        try TrainCommandTests.dataset(in: scratch)
        let segmentation = TrainCommandTests.small + [
            "--set", "model.heads.localization=false", "--set", "model.heads.identification=false",
            "--set", "model.heads.classification=false", "--set", "loss.diceWeight=0", "--set", "loader.unlabelledFraction=0.5",
            "--set", "train.epochs=1", "--set", "train.stepsPerEpoch=4", "--seed", "3", "--threads", "1",
            // SGD: AdamW's first steps move every weight by ±lr whatever its gradient's size, so rounding in a
            // near-zero gradient element shows as a difference of up to 2·lr (2e-4 here), which would hide the check.
            "--set", "train.optimizer=sgd", "--set", "train.learningRate=0.05",
        ]
        let master = "127.0.0.1:\(try Self.freePort())"
        let ranks = try (0..<2).map { r in
            try Rank(["train", "--data", "d.h5", "--run", "r\(r)"] + segmentation
                     + ["--set", "loader.batchSize=1", "--world-size", "2", "--rank", "\(r)", "--master", master, "--dist-timeout", "60"],
                     name: "rank\(r)", in: scratch)
        }
        for rank in ranks { #expect(rank.wait(seconds: 300), "a rank did not finish") }
        for (r, rank) in ranks.enumerated() { try #require(rank.process.terminationStatus == 0, "rank \(r): \(rank.stderr)") }
        let combined = try CLI.run(["train", "--data", "d.h5", "--run", "one"] + segmentation + ["--set", "loader.batchSize=2"], in: scratch.url)
        try #require(combined.status == 0, "\(combined.stderr)")
        let difference = Self.largestDifference(try Self.weights(scratch.path("r0")), try Self.weights(scratch.path("one")))
        #expect(difference < 1e-5, "two ranks differ from one process by \(difference)")
        for key in ["train.loss.total", "train.loss.segmentation"] {
            let (a, b) = (try Self.column(key, of: scratch.path("r0")), try Self.column(key, of: scratch.path("one")))
            #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-4 * Swift.max(1, abs($1)) }, "\(key): \(a) vs \(b)")
        }
    }

    /// Two ranks sharing one --run folder (one machine) train an epoch, then resume for a second: they end where one
    /// process on the combined batch ends after two epochs.
    @Test func aResumedTwoRankRunEndsWhereOneProcessOnTheCombinedBatchEnds() throws {
        let scratch = try Scratch()
        try TrainCommandTests.dataset(in: scratch)
        func pair(_ extra: [String]) throws {
            let master = "127.0.0.1:\(try Self.freePort())"
            let ranks = try (0..<2).map { r in
                try Rank(["train", "--data", "d.h5", "--run", "run"] + extra + Self.autoencoderOnly
                         + ["--set", "loader.batchSize=1", "--world-size", "2", "--rank", "\(r)", "--master", master, "--dist-timeout", "60"],
                         name: "rank\(r)-\(extra.count)", in: scratch)
            }
            for rank in ranks { #expect(rank.wait(seconds: 300), "a rank did not finish") }
            for (r, rank) in ranks.enumerated() { try #require(rank.process.terminationStatus == 0, "rank \(r): \(rank.stderr)") }
        }
        try pair(["--set", "train.epochs=1"])
        try pair(["--resume", "--set", "train.epochs=2"])
        let combined = try CLI.run(["train", "--data", "d.h5", "--run", "one", "--set", "train.epochs=2"] + Self.autoencoderOnly + ["--set", "loader.batchSize=2"], in: scratch.url)
        try #require(combined.status == 0, "\(combined.stderr)")
        let difference = Self.largestDifference(try Self.weights(scratch.path("run")), try Self.weights(scratch.path("one")))
        #expect(difference < 1e-5, "the resumed two-rank run differs from one process by \(difference)")
        #expect(try Self.column("epoch", of: scratch.path("run")) == [1, 2])
    }

    /// Every term a step can log (`LossTerm`, the attribution penalty, the tasks and their learned weights), all
    /// switched on: metrics.csv of two ranks has exactly the columns of one process on the combined batch, and
    /// those hold every `LossTerm` (the ranks sum a fixed key list, `Trainer.stepLossKeys`: a term missing from it
    /// was dropped from data-parallel logs).
    @Test func aTwoRankRunLogsEveryTermAOneProcessRunLogs() throws {
        let scratch = try Scratch()
        try TrainCommandTests.dataset(in: scratch)
        let everyTerm = TrainCommandTests.small + [
            "--set", "loss.boxes.weight=1", "--set", "loss.descriptors.weight=1", "--set", "loss.attribution.weight=0.1",
            "--set", "loss.weighting=uncertainty", "--set", "train.epochs=1", "--seed", "2", "--threads", "1",
        ]
        let master = "127.0.0.1:\(try Self.freePort())"
        let ranks = try (0..<2).map { r in
            try Rank(["train", "--data", "d.h5", "--run", "r\(r)"] + everyTerm
                     + ["--set", "loader.batchSize=1", "--world-size", "2", "--rank", "\(r)", "--master", master, "--dist-timeout", "60"],
                     name: "rank\(r)", in: scratch)
        }
        for rank in ranks { #expect(rank.wait(seconds: 300), "a rank did not finish") }
        for (r, rank) in ranks.enumerated() { try #require(rank.process.terminationStatus == 0, "rank \(r): \(rank.stderr)") }
        let combined = try CLI.run(["train", "--data", "d.h5", "--run", "one"] + everyTerm + ["--set", "loader.batchSize=2"], in: scratch.url)
        try #require(combined.status == 0, "\(combined.stderr)")
        func columns(_ run: String) throws -> Set<String> {
            let header = try String(contentsOfFile: scratch.path(run) + "/metrics.csv", encoding: .utf8).split(separator: "\n")[0]
            return Set(header.split(separator: ",").map(String.init)).subtracting(["train.allreduceSeconds"])
        }
        let (twoRanks, oneProcess) = (try columns("r0"), try columns("one"))
        #expect(twoRanks == oneProcess, "only one process logs \(oneProcess.subtracting(twoRanks).sorted()), only two ranks \(twoRanks.subtracting(oneProcess).sorted())")
        let terms = Set(LossTerm.allCases.map { "train.loss." + $0.rawValue } + ["train.loss.attribution", "train.weight.classification"])
        #expect(terms.isSubset(of: oneProcess), "not logged: \(terms.subtracting(oneProcess).sorted())")
    }

    @Test func aKilledRankStopsTheOtherWithAnErrorWithinTheTimeout() throws {
        let scratch = try Scratch()
        try TrainCommandTests.dataset(in: scratch)
        let master = "127.0.0.1:\(try Self.freePort())"
        let timeout = 20.0
        let common = ["train", "--data", "d.h5", "--threads", "1"] + TrainCommandTests.small
            + ["--set", "train.epochs=500", "--world-size", "2", "--master", master, "--dist-timeout", "\(Int(timeout))"]
        let rank0 = try Rank(common + ["--run", "r0", "--rank", "0"], name: "rank0", in: scratch)
        let rank1 = try Rank(common + ["--run", "r1", "--rank", "1"], name: "rank1", in: scratch)
        // Kill rank 1 once training is under way (rank 0 wrote its first checkpoint).
        let deadline = Date().addingTimeInterval(240)
        while !FileManager.default.fileExists(atPath: scratch.path("r0/checkpoint_last.h5")), Date() < deadline, rank0.process.isRunning {
            Thread.sleep(forTimeInterval: 0.1)
        }
        try #require(rank0.process.isRunning && rank1.process.isRunning, "rank 0: \(rank0.stderr)\nrank 1: \(rank1.stderr)")
        Thread.sleep(forTimeInterval: 0.5)
        kill(rank1.process.processIdentifier, SIGKILL)
        let killed = Date()
        rank1.process.waitUntilExit()
        #expect(rank0.wait(seconds: timeout + 30), "rank 0 still ran \(timeout + 30) s after rank 1 was killed")
        #expect(Date().timeIntervalSince(killed) < timeout + 30)
        #expect(rank0.process.terminationStatus != 0)
        #expect(rank0.stderr.contains("training across processes stopped") && rank0.stderr.contains("Another rank stopped"), "\(rank0.stderr)")
    }

    @Test func aMissingRankMakesTheRendezvousFailWithinTheTimeout() throws {
        let scratch = try Scratch()
        try TrainCommandTests.dataset(in: scratch)
        let master = "127.0.0.1:\(try Self.freePort())"
        let started = Date()
        let rank0 = try Rank(["train", "--data", "d.h5", "--run", "r0", "--threads", "1"] + TrainCommandTests.small
                             + ["--world-size", "2", "--rank", "0", "--master", master, "--dist-timeout", "3"], name: "rank0", in: scratch)
        #expect(rank0.wait(seconds: 60), "rank 0 waited for the missing rank 1 for over 60 s")
        #expect(Date().timeIntervalSince(started) < 60)
        #expect(rank0.process.terminationStatus != 0)
        #expect(rank0.stderr.contains("rank 0 of 2 could not join the process group at \(master) within 3 s"), "\(rank0.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("r0")))
    }

    @Test(arguments: [
        (["--world-size", "2", "--rank", "2", "--master", "127.0.0.1:29500"], [String: String](), "--rank 2 is not in 0..<2"),
        (["--world-size", "0", "--rank", "0", "--master", "127.0.0.1:29500"], [:], "--world-size must be at least 1"),
        (["--world-size", "2", "--rank", "0", "--master", "127.0.0.1:http"], [:], "the port \"http\" is not a number in 1...65535"),
        (["--world-size", "2", "--rank", "0", "--master", "127.0.0.1"], [:], "--master 127.0.0.1: expected host:port"),
        (["--world-size", "2", "--rank", "0"], [:], "--master host:port (or MASTER_ADDR and MASTER_PORT)"),
        (["--world-size", "2", "--master", "127.0.0.1:29500"], [:], "give this process's rank with --rank"),
        (["--rank", "1"], [:], "--rank and --master need --world-size"),
        (["--world-size", "2", "--rank", "0", "--master", "127.0.0.1:29500", "--dist-timeout", "0"], [:], "--dist-timeout must be a positive number"),
        ([], ["WORLD_SIZE": "2", "RANK": "5", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"], "RANK 5 is not in 0..<2"),
        ([], ["WORLD_SIZE": "two", "RANK": "0"], "WORLD_SIZE=two (from the environment) is not an integer"),
        ([], ["WORLD_SIZE": "2", "RANK": "1", "MASTER_ADDR": "127.0.0.1"], "MASTER_ADDR is set but MASTER_PORT is not"),
        ([], ["WORLD_SIZE": "2", "RANK": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "70000"], "MASTER_PORT=70000: the port \"70000\" is not a number in 1...65535"),
    ])
    func badProcessGroupOptionsAreRejectedByName(arguments: [String], environment: [String: String], message: String) throws {
        let scratch = try Scratch()
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["train", "--data", "d.h5", "--run", "run"] + arguments
        process.currentDirectoryURL = scratch.url
        var env = ProcessInfo.processInfo.environment
        for key in ["WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT"] { env[key] = nil }
        process.environment = env.merging(environment) { $1 }
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)
        #expect(stderr.contains(message), "\(stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("run")))
    }
}
