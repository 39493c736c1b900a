import Foundation
import HDF5
import Torch

/// What this build of Rachis runs on: versions, threads, devices. `rachis info` prints it.
public struct EngineInfo: Codable, Sendable {
    public var rachisVersion: String
    public var libtorchVersion: String
    public var hdf5Version: String
    public var threads: Int
    public var devices: [String]
    public var libtorchBuildConfiguration: String
    public var parallelInfo: String
    /// The BLAS library libtorch calls, as loaded into this process (nil where it cannot be read).
    public var blas: BLASLibrary?

    public static func current() -> EngineInfo {
        EngineInfo(
            rachisVersion: Rachis.version,
            libtorchVersion: Torch.version,
            hdf5Version: HDF5Library.version,
            threads: Torch.threads,
            devices: Torch.devices.map(\.description),
            libtorchBuildConfiguration: Torch.buildConfiguration,
            parallelInfo: Torch.parallelInfo,
            blas: BLASLibrary.loaded())
    }
}

/// Which BLAS this process runs on. Debian's libtorch calls the generic `libblas.so.3`, which the system's
/// alternatives point at netlib's reference implementation unless an optimised one (OpenBLAS, BLIS, ATLAS, MKL) is
/// installed, and the reference one is unoptimised (README, "Benchmarks": inference a quarter slower there).
public struct BLASLibrary: Codable, Equatable, Sendable {
    /// The file mapped into the process (symbolic links resolved by the kernel).
    public var path: String
    /// `OpenBLAS`, `BLIS`, `ATLAS`, `MKL` or `reference` (netlib's), from the path; `unknown` otherwise.
    public var implementation: String

    /// Whether it is netlib's unoptimised reference implementation.
    public var isReference: Bool { implementation == "reference" }

    public init(path: String) {
        self.path = path
        let p = path.lowercased()
        implementation = p.contains("openblas") ? "OpenBLAS" : p.contains("blis") ? "BLIS" : p.contains("atlas") ? "ATLAS"
            : p.contains("mkl") ? "MKL" : p.contains("/blas/libblas.so") ? "reference" : "unknown"
    }

    /// The BLAS in this process's memory map (`/proc/self/maps`): the mapped `libblas.so`, which libtorch's calls
    /// resolve to (the LAPACK of some alternatives maps `libopenblas` beside the reference `libblas`); else the first
    /// file named like another BLAS library.
    public static func loaded(maps: String? = processMaps()) -> BLASLibrary? {
        guard let maps else { return nil }
        let paths = maps.split(separator: "\n").compactMap { line in line.firstIndex(of: "/").map { String(line[$0...]) } }
        let file = { (path: String) in path.split(separator: "/").last.map(String.init) ?? "" }
        let path = paths.first { file($0).hasPrefix("libblas.so") }
            ?? paths.first { p in ["libopenblas", "libblis", "libmkl_rt"].contains { file(p).hasPrefix($0) } }
        return path.map(BLASLibrary.init(path:))
    }

    /// `/proc/self/maps`, read to its end (it reports a size of 0, so a reader that trusts the size gets nothing).
    public static func processMaps() -> String? {
        guard let handle = FileHandle(forReadingAtPath: "/proc/self/maps") else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.readToEnd() else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
