import Foundation

/// The image a prediction was made from, read again from its source: a dataset subject (the whole volume) or the
/// image files (each reoriented to the canonical grid), `[C, D, H, W]` on the prediction's grid.
public struct SubjectImage: Sendable {
    public var voxels: [Float]
    public var channels: Int
    public var shape: [Int]

    /// The voxels of channel `c`, `[D, H, W]`.
    public func channel(_ c: Int) -> ArraySlice<Float> {
        let n = shape.reduce(1, *)
        return voxels[(c * n)..<((c + 1) * n)]
    }

    /// Reads the image of `prediction` (whose JSON is `predictionFile`, named in errors). Relative source paths are
    /// resolved against the current folder.
    public static func read(_ prediction: SubjectPrediction, predictionFile: URL) throws -> SubjectImage {
        let expected = prediction.geometry.shape
        let jsonPath = predictionFile.path
        func resolve(_ path: String) throws -> URL {
            let url = URL(fileURLWithPath: path)
            guard FileManager.default.fileExists(atPath: url.path) else { throw ReportError.sourceMissing(prediction: jsonPath, source: path) }
            return url
        }
        switch prediction.source.kind {
        case "dataset":
            guard let path = prediction.source.paths.first, let subject = prediction.source.subject else {
                throw PredictionFolder.Error.invalid(path: jsonPath, reason: "source kind \"dataset\" needs a path and a subject")
            }
            let reader = try DatasetReader(url: try resolve(path))
            guard reader.subjectIDs.contains(subject) else {
                throw ReportError.unknownSubject(prediction: jsonPath, dataset: path, subject: subject)
            }
            // As every command that reads a dataset: what validate refuses is refused here too.
            try reader.requireValid(subjects: [subject])
            let geometry = try reader.geometry(of: subject)
            guard geometry.shape == expected else {
                throw ReportError.geometryMismatch(prediction: jsonPath, image: "\(path) subject \(subject)", found: geometry.shape, expected: expected)
            }
            let voxels = try reader.imageCrop(subject, offset: [0, 0, 0], size: geometry.shape)
            return SubjectImage(voxels: voxels, channels: voxels.count / Swift.max(1, geometry.voxelCount), shape: geometry.shape)
        case "files":
            guard !prediction.source.paths.isEmpty else {
                throw PredictionFolder.Error.invalid(path: jsonPath, reason: "source kind \"files\" lists no image files")
            }
            var voxels: [Float] = [], channels = 0
            for path in prediction.source.paths {
                let volume = try ImageIO.read(try resolve(path))
                guard volume.geometry.shape == expected else {
                    throw ReportError.geometryMismatch(prediction: jsonPath, image: path, found: volume.geometry.shape, expected: expected)
                }
                voxels += volume.voxels
                channels += volume.channels
            }
            return SubjectImage(voxels: voxels, channels: channels, shape: expected)
        default:
            throw PredictionFolder.Error.invalid(path: jsonPath, reason: "unknown source kind \"\(prediction.source.kind)\"")
        }
    }
}
