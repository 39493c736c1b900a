import ArgumentParser
import Foundation
import Rachis

extension RachisCommand {
    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the libtorch and HDF5 versions, libtorch's build configuration, the BLAS, threads and devices.")

        @Flag(help: "Print JSON instead of text.")
        var json = false

        @OptionGroup var engine: EngineOptions

        func run() throws {
            try engine.apply()
            let info = EngineInfo.current()
            if json {
                try printJSON(info)
                return
            }
            let blas = info.blas.map { "\($0.implementation) (\($0.path))" + ($0.isReference
                ? "\n          netlib's unoptimised reference BLAS (one-volume inference on the README's machine: 0.24 s, against 0.18 s on OpenBLAS); scripts/setup.sh installs libopenblas0-openmp"
                : "") } ?? "not found in this process's memory map"
            print("""
                rachis    \(info.rachisVersion)
                libtorch  \(info.libtorchVersion) (as its headers say: torch/version.h)
                HDF5      \(info.hdf5Version)
                BLAS      \(blas)
                threads   \(info.threads)
                devices   \(info.devices.joined(separator: ", "))

                libtorch build configuration:
                \(info.libtorchBuildConfiguration)

                \(info.parallelInfo)
                """)
        }
    }
}
