import ArgumentParser
import Foundation
import Rachis

extension RachisCommand {
    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the libtorch and HDF5 versions, libtorch's build configuration, threads and devices.")

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
            print("""
                rachis    \(info.rachisVersion)
                libtorch  \(info.libtorchVersion) (as its headers say: torch/version.h)
                HDF5      \(info.hdf5Version)
                threads   \(info.threads)
                devices   \(info.devices.joined(separator: ", "))

                libtorch build configuration:
                \(info.libtorchBuildConfiguration)

                \(info.parallelInfo)
                """)
        }
    }
}
