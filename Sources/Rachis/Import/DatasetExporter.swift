import Foundation

/// A volume of a dataset subject that `rachis dataset export` writes.
public enum ExportVolume: String, CaseIterable, Sendable {
    case image, vertebrae, structures, annotatedVertebrae = "annotated-vertebrae", annotatedStructures = "annotated-structures"
    /// The exact truth of a phantom subject (`/subjects/<id>/truth/labels/...`).
    case truthVertebrae = "truth-vertebrae", truthStructures = "truth-structures"

    /// The subject's HDF5 dataset that holds it, relative to its group.
    var datasetPath: String {
        switch self {
        case .image: "image"
        case .vertebrae: "labels/vertebrae"
        case .structures: "labels/structures"
        case .annotatedVertebrae: "annotated/vertebrae"
        case .annotatedStructures: "annotated/structures"
        case .truthVertebrae: "truth/labels/vertebrae"
        case .truthStructures: "truth/labels/structures"
        }
    }
}

public enum ExportError: LocalizedError, Equatable, CustomStringConvertible {
    case unknownChannel(file: String, subject: String, channel: String, channels: [String])
    case channelNeeded(file: String, channels: [String])
    case noVoxelLabels(file: String, subject: String, annotation: String)
    case noTruth(file: String, subject: String)

    public var errorDescription: String? { description }

    public var description: String {
        switch self {
        case let .unknownChannel(file, subject, channel, channels):
            "\(file) subject \(subject): no channel \"\(channel)\"; channels: \(channels.joined(separator: ", "))"
        case let .channelNeeded(file, channels):
            "\(file): the image has channels \(channels.joined(separator: ", ")); pick one with --channel"
        case let .noVoxelLabels(file, subject, annotation):
            "\(file) subject \(subject) is annotated \(annotation) and has no voxel labels to export"
        case let .noTruth(file, subject):
            "\(file) subject \(subject) has no exact truth (/subjects/\(subject)/truth: phantom subjects only)"
        }
    }
}

/// Writes one volume of a dataset subject as an image file (NIfTI or MetaImage) on the subject's own grid, so
/// that it opens at the same world position and `ImageIO.read` gives back the same array and geometry.
/// Images are written as float32, labels and annotation masks as uint8.
public enum DatasetExporter {
    /// The volume as an `ImageVolume`. `channel` picks an image channel; it may be left out when there is one.
    public static func volume(_ reader: DatasetReader, subject id: String, _ volume: ExportVolume, channel: String? = nil) throws -> ImageVolume {
        let geometry = try reader.geometry(of: id)
        let file = reader.url.path
        let all = [0, 0, 0], shape = geometry.shape
        switch volume {
        case .image:
            let channels = reader.header.channelNames
            guard let name = channel ?? (channels.count == 1 ? channels[0] : nil) else { throw ExportError.channelNeeded(file: file, channels: channels) }
            guard let c = channels.firstIndex(of: name) else {
                throw ExportError.unknownChannel(file: file, subject: id, channel: name, channels: channels)
            }
            let voxels = try reader.imageCrop(id, offset: all, size: shape)
            let n = geometry.voxelCount
            return ImageVolume(geometry: geometry, voxels: Array(voxels[(c * n)..<((c + 1) * n)]), voxelType: .float32)
        case .truthVertebrae, .truthStructures:
            guard try reader.hasTruth(id) else { throw ExportError.noTruth(file: file, subject: id) }
            let values = try reader.volumeCrop(id, volume.datasetPath, offset: all, size: shape)
            return ImageVolume(geometry: geometry, voxels: values.map(Float.init), voxelType: .uint8)
        default:
            let mode = try reader.annotationMode(of: id)
            guard mode.hasVoxelLabels else { throw ExportError.noVoxelLabels(file: file, subject: id, annotation: mode.rawValue) }
            let values = try reader.volumeCrop(id, volume.datasetPath, offset: all, size: shape)
            return ImageVolume(geometry: geometry, voxels: values.map(Float.init), voxelType: .uint8)
        }
    }

    /// Writes the volume to `output` (format by extension). An existing file is replaced only with `overwrite`, and
    /// atomically.
    public static func export(_ reader: DatasetReader, subject id: String, _ volume: ExportVolume, channel: String? = nil,
                              to output: URL, overwrite: Bool) throws {
        if FileManager.default.fileExists(atPath: output.path), !overwrite { throw DatasetError.fileExists(output.relativePath) }
        _ = try ImageFormat(url: output)
        try ImageIO.write(try Self.volume(reader, subject: id, volume, channel: channel), to: output, compressed: true)
    }
}
