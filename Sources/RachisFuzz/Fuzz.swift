import Foundation
import Rachis

/// Fuzz targets for the readers of user files (issue 17): each takes the bytes of one file, reads them as Rachis
/// reads that kind of file, and must return or throw; a trap, a signal or a hang is a bug.
///
/// Built two ways (scripts/fuzz.sh):
/// - `swift build --product rachis-fuzz -Xswiftc -sanitize=fuzzer -Xswiftc -DRACHIS_FUZZ`: libFuzzer with coverage,
///   `rachis-fuzz TARGET [libFuzzer options] [CORPUS...]`.
/// - a plain build: a replayer, `rachis-fuzz TARGET FILE...`, that reads each file and prints what it threw (to
///   reproduce a crash without the fuzzing build).
enum FuzzTarget: String, CaseIterable {
    case nifti, metaimage, manifestYAML = "manifest-yaml", manifestCSV = "manifest-csv", centroids, config

    /// The file name the bytes are written to: readers choose their format by extension.
    var fileName: String {
        switch self {
        case .nifti: "input.nii"
        case .metaimage: "input.mha"
        case .manifestYAML: "manifest.yaml"
        case .manifestCSV: "manifest.csv"
        case .centroids: "centroids.json"
        case .config: "config.yaml"
        }
    }

    /// A folder of this process's own for the input file.
    static let folder: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("rachis-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    /// Removes `folder` once the inputs are read (a crash leaves it, with the input that crashed).
    static func removeFolder() { try? FileManager.default.removeItem(at: folder) }

    static let centroidGeometry = Geometry(shape: [16, 24, 20], spacingMM: [2, 1.5, 1.5], originMM: [-10, 20, 5])

    /// Reads `bytes` as this target's file.
    func run(_ bytes: Data) throws {
        let url = Self.folder.appendingPathComponent(fileName)
        try bytes.write(to: url)
        switch self {
        case .nifti, .metaimage: _ = try ImageIO.read(url)
        case .manifestYAML: _ = try ImportManifest.load(contentsOf: url)
        case .manifestCSV: _ = try ImportManifest.load(contentsOf: url, classNames: ["healthy", "spa"])
        case .centroids: _ = try VerSeCentroids.load(contentsOf: url, geometry: Self.centroidGeometry)
        case .config: _ = try TrainingConfig.load(url)
        }
    }
}

nonisolated(unsafe) var selected = FuzzTarget.nifti

func usage() -> Never {
    FileHandle.standardError.write(Data("usage: rachis-fuzz TARGET [FILE... | libFuzzer options and corpus folders]; targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
    exit(2)
}

#if RACHIS_FUZZ
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// One input: what both this file's `main` (through `LLVMFuzzerRunDriver`) and libFuzzer's own `main` call.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = data.map { Data(bytes: $0, count: count) } ?? Data()
    _ = try? selected.run(bytes)
    return 0
}

@main
struct Fuzz {
    static func main() {
        let arguments = CommandLine.arguments
        guard arguments.count >= 2, let target = FuzzTarget(rawValue: arguments[1]) else { usage() }
        selected = target
        // libFuzzer sees the program name and everything after the target.
        var kept = ([arguments[0]] + arguments.dropFirst(2)).map { strdup($0) }
        kept.append(nil)
        var argc = CInt(kept.count - 1)
        let status = kept.withUnsafeMutableBufferPointer { buffer -> CInt in
            var argv = buffer.baseAddress
            return LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput)
        }
        FuzzTarget.removeFolder()
        exit(status)
    }
}
#else
@main
struct Replay {
    static func main() {
        let arguments = CommandLine.arguments
        guard arguments.count >= 3, let target = FuzzTarget(rawValue: arguments[1]) else { usage() }
        for path in arguments.dropFirst(2) {
            guard let bytes = FileManager.default.contents(atPath: path) else { print("\(path): cannot read"); FuzzTarget.removeFolder(); exit(1) }
            do {
                try target.run(bytes)
                print("\(path): read")
            } catch {
                print("\(path): threw: \(error)")
            }
        }
        FuzzTarget.removeFolder()
    }
}
#endif
