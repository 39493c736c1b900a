import Foundation

/// `rachis attribution validate` as a library call: the decisions of every chosen subject attributed and checked
/// (`check`), then everything written at once (`write`), so that a failure half-way leaves no output behind.
public struct AttributionCheck {
    /// Where the decisions come from.
    public enum Regions {
        /// The decided vertebrae of a predictions folder, on their predicted regions (all subjects when `subjects`
        /// is empty).
        case predicted(PredictionFolder, subjects: [String])
        /// Every vertebra with a class and labelled voxels of the dataset's subjects, on its reference region.
        case reference(DatasetReader, subjects: [String])
    }

    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case gridMismatch(prediction: String, image: String, predicted: [Int], found: [Int])

        public var description: String {
            switch self {
            case let .gridMismatch(prediction, image, predicted, found):
                "\(prediction) lies on a grid of shape \(predicted), but its image \(image) reads as \(found): it was predicted by an older Rachis (label maps on the reoriented grid): rerun rachis predict"
            }
        }
    }

    /// One relevance map to write: `<subject>_<level>.nii.gz` on the subject's grid.
    public struct Map {
        public var name: String
        public var geometry: Geometry
        public var values: [Float]
    }

    /// Everything a check computed, before anything is written.
    public struct Result {
        public var summary: AttributionSummary
        public var maps: [Map]
        /// With `.predicted`: each prediction with its vertebrae's checks and flags, and its heat map.
        public var updated: [(prediction: SubjectPrediction, heat: [Float]?)]
    }

    public let validator: AttributionValidator
    /// The check fails when more than this fraction of the evaluated decisions fail.
    public var maxFailingFraction = 0.2

    public init(validator: AttributionValidator, maxFailingFraction: Double = 0.2) {
        (self.validator, self.maxFailingFraction) = (validator, maxFailingFraction)
    }

    /// Attributes and checks the decisions; writes nothing.
    public func check(_ regions: Regions, progress: (Int, Int) -> Void = { _, _ in }) throws -> Result {
        let predictor = validator.predictor
        var rows: [AttributionRow] = [], maps: [Map] = []
        var updated: [(prediction: SubjectPrediction, heat: [Float]?)] = []
        let started = Date()
        let source: String, kind: String
        switch regions {
        case let .predicted(folder, subjects):
            (source, kind) = (folder.url.path, "predicted")
            let all = try folder.subjectIDs()
            for id in subjects where !all.contains(id) { throw PredictionFolder.Error.missing(path: folder.json(id).path) }
            let ids = subjects.isEmpty ? all : subjects
            for (i, id) in ids.enumerated() {
                var prediction = try folder.read(id)
                let volumes = try folder.readVolumes(prediction)
                let input = try predictor.input(source: prediction.source)
                guard input.geometry.shape == prediction.geometry.shape else {
                    throw Error.gridMismatch(prediction: folder.json(id).path, image: prediction.source.paths.joined(separator: " + "),
                                             predicted: prediction.geometry.shape, found: input.geometry.shape)
                }
                let checked = try validator.check(image: input.image, geometry: prediction.geometry,
                                                  decisions: AttributionValidator.decisions(prediction, volumes: volumes))
                for (row, relevance) in checked {
                    rows.append(row)
                    maps.append(Map(name: "\(id)_\(row.level)", geometry: prediction.geometry, values: relevance))
                    guard let v = prediction.vertebrae.firstIndex(where: { $0.levelID == row.levelID }) else { continue }
                    prediction.vertebrae[v].attribution = VertebraAttribution(method: validator.settings.method, consistency: row.consistency, passed: row.passed)
                    prediction.vertebrae[v].flags.removeAll { $0 == .evidenceOutsideVertebra }
                    if row.passed == false { prediction.vertebrae[v].flags.append(.evidenceOutsideVertebra) }
                }
                updated.append((prediction, AttributionValidator.heat(checked.map(\.relevance))))
                progress(i + 1, ids.count)
            }
        case let .reference(reader, ids):
            (source, kind) = (reader.url.path, "reference")
            for (i, id) in ids.enumerated() {
                let input = try predictor.input(dataset: reader, subject: id)
                let checked = try validator.check(image: input.image, geometry: input.geometry,
                                                  decisions: AttributionValidator.referenceDecisions(reader, subject: id))
                rows += checked.map(\.row)
                maps += checked.map { Map(name: "\(id)_\($0.row.level)", geometry: input.geometry, values: $0.relevance) }
                progress(i + 1, ids.count)
            }
        }
        let summary = validator.summary(rows: rows, source: source, regions: kind, maxFailingFraction: maxFailingFraction,
                                        seconds: Date().timeIntervalSince(started))
        return Result(summary: summary, maps: maps, updated: updated)
    }

    /// Writes attribution.json and attribution.csv into `out` (created), with `maps` one NIfTI per decision under
    /// `out/maps`, and the updated predictions (JSON and heat map) into `predictions`.
    public static func write(_ result: Result, to out: URL, maps: Bool, predictions: PredictionFolder?) throws {
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        try AttributionOutput.write(result.summary, to: out)
        if maps {
            let mapsURL = out.appendingPathComponent("maps")
            try FileManager.default.createDirectory(at: mapsURL, withIntermediateDirectories: true)
            for map in result.maps {
                try ImageIO.write(ImageVolume(geometry: map.geometry, voxels: map.values), to: mapsURL.appendingPathComponent("\(map.name).nii.gz"))
            }
        }
        if let predictions {
            for (prediction, heat) in result.updated { try predictions.writeAttribution(prediction, heat: heat) }
        }
    }
}
