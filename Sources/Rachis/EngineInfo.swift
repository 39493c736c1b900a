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

    public static func current() -> EngineInfo {
        EngineInfo(
            rachisVersion: Rachis.version,
            libtorchVersion: Torch.version,
            hdf5Version: HDF5Library.version,
            threads: Torch.threads,
            devices: Torch.devices.map(\.description),
            libtorchBuildConfiguration: Torch.buildConfiguration,
            parallelInfo: Torch.parallelInfo)
    }
}
