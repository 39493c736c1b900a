import ArgumentParser
import Foundation
import Rachis
import Torch

extension Device: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

/// Threads, device and seed: shared by every command that computes.
struct EngineOptions: ParsableArguments {
    @Option(help: "libtorch intra-op threads (default: all cores).")
    var threads: Int?

    @Option(help: "Device: cpu, cuda or cuda:N.")
    var device: Device = .cpu

    @Option(help: "Seed for every random choice.")
    var seed: UInt64 = 0

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads).") }
        if case let .cuda(index) = device, index >= Torch.cudaDeviceCount {
            throw ValidationError(Torch.cudaDeviceCount == 0
                ? "--device \(device): this libtorch has no CUDA device. Use --device cpu, or build with LIBTORCH pointing at a CUDA libtorch."
                : "--device \(device): only \(Torch.cudaDeviceCount) CUDA device(s) are present.")
        }
    }

    /// Applies the thread count to libtorch.
    func apply() throws {
        Torch.tuneAllocator()
        try Torch.setThreads(threads ?? ProcessInfo.processInfo.activeProcessorCount)
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
