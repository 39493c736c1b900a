import ArgumentParser
import Foundation
import Rachis

extension RachisCommand {
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Benchmarks (run them on a release build: swift build -c release).",
            subcommands: [Read.self])
    }
}

extension RachisCommand.Bench {
    struct Read: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Dataset read speed: whole subjects, and random crops read as hyperslabs (MB/s).")

        @Argument(help: "Dataset file (.h5).")
        var data: String

        @Option(help: "Crop shape D,H,W in voxels.")
        var crop: String = "16,64,64"

        @Option(help: "Number of random crops.")
        var crops: Int = 200

        @Option(help: "Seed for the crop positions.")
        var seed: UInt64 = 0

        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            let shape = try parseShape(crop, option: "--crop")
            let result = try ReadBenchmark(cropShape: shape, crops: crops, seed: seed).run(URL(fileURLWithPath: data))
            if json {
                try printJSON(result)
                return
            }
            print(String(format: "whole subjects: %d in %.2f s, %.1f MB, %.1f MB/s", result.wholeSubjects, result.wholeSeconds, result.wholeMB, result.wholeMBPerSecond))
            print(String(format: "crops %@: %d in %.2f s, %.1f MB, %.1f MB/s, %.0f crops/s", shape.map(String.init).joined(separator: "x"),
                         result.crops, result.cropSeconds, result.cropMB, result.cropMBPerSecond, result.cropsPerSecond))
        }
    }
}
