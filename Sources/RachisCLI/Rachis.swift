import ArgumentParser
import Rachis

@main
struct RachisCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rachis",
        abstract: "Multitask deep learning on 3D spine MRI.",
        discussion: """
            Rachis trains one model with a shared 3D encoder and heads for vertebra localization, identification, \
            per-vertebra spondyloarthritis classification, auxiliary segmentation and autoencoding, and checks with \
            voxel attributions that every per-vertebra decision comes from that vertebra.
            """,
        version: Rachis.version,
        subcommands: [Info.self, Dataset.self, Model.self, Train.self, Predict.self, Relabel.self, Evaluate.self, Report.self, Attribution.self, Bench.self, SelfTest.self]
    )
}
