import ArgumentParser
import Rachis

@main
struct RachisCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rachis", abstract: "Multitask deep learning on 3D spine MRI.", version: Rachis.version)
}
