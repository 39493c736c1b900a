import ArgumentParser
import Foundation
import Rachis
import Torch

extension Device: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

/// Threads, device and seed: shared by every command that computes.
struct EngineOptions: ParsableArguments {
    @Option(help: "libtorch intra-op threads, at most the machine's cores (default: all cores).")
    var threads: Int?

    @Option(help: "Device: cpu, cuda or cuda:N.")
    var device: Device = .cpu

    @Option(name: .customLong("seed"), help: "Seed for every random choice (default: 0; train --resume: the run's).")
    var givenSeed: UInt64?

    var seed: UInt64 { givenSeed ?? 0 }

    func validate() throws {
        try ThreadsOption.validate(threads)
        if case let .cuda(index) = device, index >= Torch.cudaDeviceCount {
            throw ValidationError(Torch.cudaDeviceCount == 0
                ? "--device \(device): this libtorch has no CUDA device. Use --device cpu, or build with LIBTORCH pointing at a CUDA libtorch."
                : "--device \(device): only \(Torch.cudaDeviceCount) CUDA device(s) are present.")
        }
    }

    /// The thread count libtorch gets: `--threads`, capped at the machine's cores (more only oversubscribes them:
    /// a run with --threads 100000 made no progress at all).
    var threadCount: Int { ThreadsOption.count(threads) }

    /// Applies the thread count to libtorch: `--threads`, else `fallback` (a resumed run's), else all cores.
    func apply(fallback: Int? = nil) throws {
        Torch.tuneAllocator()
        var options = self
        if threads == nil, let fallback { options.threads = fallback }
        try Torch.setThreads(options.threadCount)
    }
}

/// `--threads` alone, for a command that computes on several threads without libtorch (`dataset synth`, whose own
/// `--seed` is the recipe's).
struct ThreadsOption: ParsableArguments {
    @Option(help: "Threads, at most the machine's cores (default: all cores).")
    var threads: Int?

    func validate() throws { try Self.validate(threads) }

    /// The thread count to use: `--threads` capped at the machine's cores, with a warning.
    var count: Int { Self.count(threads) }

    static func validate(_ threads: Int?) throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads).") }
    }

    /// `threads`, capped at the machine's cores (more only oversubscribes them: a run with --threads 100000 made no
    /// progress at all); all cores when nil.
    static func count(_ threads: Int?) -> Int {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        guard let threads else { return cores }
        if threads > cores { printError("warning: --threads \(threads) is more than the \(cores) cores of this machine; using \(cores).") }
        return Swift.min(threads, cores)
    }
}

/// Writes a line to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Prints a value as indented, key-sorted JSON on stdout (the `--json` output of every command).
func printJSON<T: Encodable>(_ value: T) throws {
    print(String(decoding: try value.prettyJSON(), as: UTF8.self))
}

/// Parses "D,H,W": three positive integers (a crop or volume shape given on the command line).
func parseShape(_ text: String, option: String) throws -> [Int] {
    let values = text.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard values.count == 3, values.allSatisfy({ $0 > 0 }) else {
        throw ValidationError("\(option) takes three positive integers D,H,W, got \"\(text)\"")
    }
    return values
}

/// Subjects of a dataset file: a part of a split, or named subjects.
struct DatasetSubjects: ParsableArguments {
    @Option(help: "Dataset file (.h5).")
    var data: String?

    @Option(help: "Split of --data (default: the split the model was trained with).")
    var split: String?

    @Option(help: "Part of the split: train, val, test or all (every subject of the file).")
    var part: SubjectSelection.Part = .test

    @Option(help: "A subject (repeatable; overrides --part).")
    var subject: [String] = []

    /// The chosen subjects of `reader`.
    func ids(_ reader: DatasetReader, defaultSplit: String) throws -> [String] {
        try SubjectSelection.ids(reader, split: split ?? defaultSplit, part: part, subjects: subject)
    }
}

extension SubjectSelection.Part: ExpressibleByArgument {}

/// Locks an output for the life of the command (a second command writing it is refused with this one's pid) and
/// removes the temporary files an interrupted run left in it. Hold the result until the output is written.
enum OutputGuard {
    static func file(_ path: String) throws -> OutputLock {
        let url = URL(fileURLWithPath: path)
        let lock = try OutputLock.file(url)
        for leftover in TemporaryFiles.removeLeftovers(of: url) { printError("removed \(leftover.path), left by an interrupted run") }
        return lock
    }

    static func folder(_ path: String) throws -> OutputLock {
        let url = URL(fileURLWithPath: path)
        let lock = try OutputLock.folder(url)
        for leftover in TemporaryFiles.removeLeftovers(in: url) { printError("removed \(leftover.path), left by an interrupted run") }
        return lock
    }

    /// Runs `body` holding the folder's lock; a folder this created is removed again when `body` fails before writing
    /// anything into it.
    static func withFolder<T>(_ path: String, _ body: () throws -> T) throws -> T {
        let fresh = !FileManager.default.fileExists(atPath: path)
        let lock = try folder(path)
        defer { lock.release() }
        do {
            return try body()
        } catch {
            lock.release()
            if fresh, (try? FileManager.default.contentsOfDirectory(atPath: path))?.isEmpty == true { try? FileManager.default.removeItem(atPath: path) }
            throw error
        }
    }
}

extension PredictionFolder {
    /// The help of `--allow-no-manifest`, the flag of every command that reads a predictions folder.
    static let allowNoManifestHelp: ArgumentHelp = "Read a predictions folder that has no manifest.json (written by another tool or by hand): its completeness and origin are then not checked."

    /// Refuses a folder that a predict did not finish or that mixes subjects (`requireComplete()`), and one without
    /// a manifest unless `allowNoManifest` (then read with a warning): nothing says which subjects it should hold or
    /// from which checkpoint they come.
    func requireComplete(allowNoManifest: Bool) throws {
        guard try requireComplete() == nil else { return }
        guard allowNoManifest else {
            throw OneLineError(description: "\(url.path) has no manifest.json, so whether it is complete and from one checkpoint cannot be checked: write it with rachis predict, or pass --allow-no-manifest to read it as it is.")
        }
        printError("warning: \(url.path) has no manifest.json (not written by rachis predict): read unchecked (--allow-no-manifest)")
    }
}
