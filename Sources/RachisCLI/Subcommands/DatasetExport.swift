import ArgumentParser
import Foundation
import Rachis

extension ExportVolume: ExpressibleByArgument {}

extension RachisCommand.Dataset {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write one volume of a subject as NIfTI (or MetaImage) on the subject's grid.",
            discussion: "Images are written as float32, labels and annotation masks as uint8; the file opens at the subject's world position.")

        @Argument(help: "The dataset file (.h5).")
        var dataset: String

        @Option(help: "The subject id.")
        var subject: String

        @Option(help: "The volume: \(ExportVolume.allCases.map(\.rawValue).joined(separator: ", ")).")
        var volume: ExportVolume

        @Option(help: "The image channel (needed for --volume image when the dataset has several).")
        var channel: String?

        @Option(help: "The file to write (.nii.gz, .nii, .mha or .mhd).")
        var out: String

        @Flag(help: "Overwrite an existing output file.")
        var force = false

        func validate() throws {
            if channel != nil, volume != .image { throw ValidationError("--channel applies to --volume image only.") }
        }

        func run() throws {
            let lock = try OutputGuard.file(out)
            defer { lock.release() }
            let reader = try DatasetReader(url: URL(fileURLWithPath: dataset))
            try reader.requireValid(subjects: reader.subjectIDs.contains(subject) ? [subject] : [])
            try DatasetExporter.export(reader, subject: subject, volume, channel: channel,
                                       to: URL(fileURLWithPath: out), overwrite: force)
            print("wrote \(out): subject \(subject), \(volume.rawValue)\(channel.map { " (\($0))" } ?? "")")
        }
    }
}
