// swift-tools-version:6.0
// Rachis: multitask deep learning on 3D spine MRI.
//
// libtorch is found here, when the manifest is evaluated:
//   - default: Debian 12's `libtorch-dev` (1.13.1) under /usr;
//   - `LIBTORCH=/path`: a libtorch folder (include/ and lib/) or the `torch/` folder of a PyTorch install.
// The C++ standard follows the libtorch version (1.x: C++17, 2.x: C++20) and the C++ ABI follows the
// libtorch's TorchConfig.cmake. A libtorch outside the system folders gets an rpath.
import Foundation
import PackageDescription

struct LibTorch {
    var root: String
    var includeDirs: [String]
    var libDir: String
    var major: Int
    var minor: Int
    var cxx11ABI: Int?
    var hasCUDA: Bool
    var isSystem: Bool
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("\nerror: \(message)\n\n".utf8))
    fatalError(message)
}

func readVersion(_ header: String) -> (Int, Int)? {
    guard let text = try? String(contentsOfFile: header, encoding: .utf8) else { return nil }
    func value(_ key: String) -> Int? {
        for line in text.split(separator: "\n") where line.contains("#define \(key) ") {
            if let last = line.split(separator: " ").last, let v = Int(last) { return v }
        }
        return nil
    }
    guard let major = value("TORCH_VERSION_MAJOR"), let minor = value("TORCH_VERSION_MINOR") else { return nil }
    return (major, minor)
}

func readABI(_ cmakeDirs: [String]) -> Int? {
    for dir in cmakeDirs {
        guard let text = try? String(contentsOfFile: dir + "/TorchConfig.cmake", encoding: .utf8) else { continue }
        if text.contains("_GLIBCXX_USE_CXX11_ABI=0") { return 0 }
        if text.contains("_GLIBCXX_USE_CXX11_ABI=1") { return 1 }
    }
    return nil
}

func findLibTorch() -> LibTorch {
    let fm = FileManager.default
    let env = ProcessInfo.processInfo.environment
    if let root = env["LIBTORCH"], !root.isEmpty {
        let include = root + "/include"
        let header = include + "/torch/csrc/api/include/torch/version.h"
        guard fm.fileExists(atPath: header) else {
            fail("LIBTORCH=\(root) has no include/torch/csrc/api/include/torch/version.h. Point LIBTORCH at a libtorch folder (with include/ and lib/) or at a PyTorch install's torch/ folder (python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))'), or unset it to use Debian's libtorch-dev.")
        }
        let lib = root + "/lib"
        guard fm.fileExists(atPath: lib + "/libtorch_cpu.so") || fm.fileExists(atPath: lib + "/libtorch.so") else {
            fail("LIBTORCH=\(root) has no lib/libtorch.so or lib/libtorch_cpu.so: the folder is not a usable libtorch.")
        }
        // torch 2.9 and later moved the numbers to torch/headeronly/version.h.
        guard let (major, minor) = readVersion(header) ?? readVersion(include + "/torch/headeronly/version.h") else {
            fail("cannot read the libtorch version from \(header)")
        }
        guard major >= 2 || (major == 1 && minor >= 13) else {
            fail("LIBTORCH=\(root) is libtorch \(major).\(minor); Rachis needs 1.13 or 2.x.")
        }
        return LibTorch(
            root: root, includeDirs: [include, include + "/torch/csrc/api/include"], libDir: lib,
            major: major, minor: minor, cxx11ABI: readABI([root + "/share/cmake/Torch"]),
            hasCUDA: fm.fileExists(atPath: lib + "/libtorch_cuda.so"), isSystem: false)
    }
    let header = "/usr/include/torch/csrc/api/include/torch/version.h"
    guard fm.fileExists(atPath: header), let (major, minor) = readVersion(header) else {
        fail("libtorch not found. Install Debian's libtorch-dev (apt-get install libtorch-dev libhdf5-dev, or run scripts/setup.sh) or set LIBTORCH=/path/to/libtorch.")
    }
    let libDir = "/usr/lib/x86_64-linux-gnu"
    return LibTorch(
        root: "/usr", includeDirs: ["/usr/include/torch/csrc/api/include"], libDir: libDir,
        major: major, minor: minor, cxx11ABI: readABI([libDir + "/cmake/Torch"]),
        hasCUDA: fm.fileExists(atPath: libDir + "/libtorch_cuda.so"), isSystem: true)
}

let torch = findLibTorch()

var torchCXXFlags: [String] = torch.includeDirs.flatMap { ["-isystem", $0] }
torchCXXFlags += ["-Wno-deprecated-declarations", "-Wno-unused-parameter"]
if let abi = torch.cxx11ABI { torchCXXFlags.append("-D_GLIBCXX_USE_CXX11_ABI=\(abi)") }
torchCXXFlags.append("-DCT_TORCH_VERSION_MAJOR=\(torch.major)")
if torch.hasCUDA { torchCXXFlags.append("-DCT_HAS_CUDA=1") }

var torchLinkerFlags: [String] = ["-L\(torch.libDir)"]
if !torch.isSystem { torchLinkerFlags += ["-Xlinker", "-rpath", "-Xlinker", torch.libDir] }
// CUDA kernels register themselves from libtorch_cuda.so: keep it linked even though no symbol is used.
if torch.hasCUDA { torchLinkerFlags += ["-Xlinker", "--no-as-needed", "-ltorch_cuda", "-Xlinker", "--as-needed"] }

let package = Package(
    name: "Rachis",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "rachis", targets: ["RachisCLI"]),
        .executable(name: "rachis-fuzz", targets: ["RachisFuzz"]),
        .library(name: "Rachis", targets: ["Rachis"]),
        .library(name: "Torch", targets: ["Torch"]),
        .library(name: "HDF5", targets: ["HDF5"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        .target(
            name: "CTorch",
            cxxSettings: [.unsafeFlags(torchCXXFlags)],
            linkerSettings: [
                .unsafeFlags(torchLinkerFlags),
                .linkedLibrary("torch"), .linkedLibrary("torch_cpu"), .linkedLibrary("c10"),
            ]
        ),
        .target(name: "Torch", dependencies: ["CTorch"]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .target(name: "HDF5", dependencies: ["CHDF5"]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .target(
            name: "Rachis",
            dependencies: [
                "Torch", "HDF5", "CZlib", .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .executableTarget(
            name: "RachisCLI",
            dependencies: ["Rachis", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Fuzz targets of the file readers (scripts/fuzz.sh); a plain build is a replayer of inputs.
        .executableTarget(name: "RachisFuzz", dependencies: ["Rachis"]),
        .testTarget(name: "TorchTests", dependencies: ["Torch"]),
        .testTarget(name: "HDF5Tests", dependencies: ["HDF5"]),
        .testTarget(name: "RachisTests", dependencies: ["Rachis"]),
        // Runs the built `rachis` binary end to end; depends on it so that it is built first.
        .testTarget(name: "RachisCLITests", dependencies: ["RachisCLI", "Rachis"]),
    ],
    cxxLanguageStandard: torch.major >= 2 ? .cxx20 : .cxx17
)
