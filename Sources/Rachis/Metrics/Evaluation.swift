import Foundation

/// The evaluation of a predictions folder against the ground truth of a dataset, per subject and aggregated:
/// `evaluation.json` (`schemas/evaluation.schema.json`). Undefined values are NaN and written as `null`.
public struct Evaluation: Codable, Equatable, Sendable {
    public static let format = "rachis-evaluation"
    /// 2: identification rate by VerSe's `get_hits`, the strict rate, both HD95 definitions, the reference used.
    /// 3: localization.whole (identification and distance over the vertebrae the field of view does not cut).
    public static let schemaVersion = 3

    public var format = Self.format
    public var schemaVersion = Self.schemaVersion
    public var created: String
    public var rachisVersion: String
    /// The dataset file.
    public var dataset: String
    /// The predictions folder.
    public var predictions: String
    /// The dataset's class names (the order of every confusion matrix).
    public var classNames: [String]
    /// Each reported figure's definition, by field name (`Evaluation.definitions(hd95:)`).
    public var definitions: [String: String]
    public var subjects: [SubjectEvaluation]
    public var aggregate: Aggregate

    public struct Aggregate: Codable, Equatable, Sendable {
        public var subjects: Int
        /// Subjects scored against their exact truth and against their labels (`EvaluationReference`).
        public var references: ReferenceCounts
        /// Subjects whose structures were predicted but not scored, and why.
        public var segmentationLeftOut: [LeftOut]
        public var localization: LocalizationResult
        public var classification: ClassificationSummary
        public var segmentation: SegmentationResult
        public var reconstructionPSNR: PSNRSummary
    }

    /// Classification of the ground-truth vertebrae paired with a prediction, over all levels and per level.
    public struct ClassificationSummary: Codable, Equatable, Sendable {
        /// Ground-truth vertebrae with a class that were paired with a predicted vertebra (the metrics are over these).
        public var paired: Int
        /// Ground-truth vertebrae with a class and no predicted vertebra with a class decision within the pairing
        /// distance (none found there, or one without a decision: `VertebraFlag.emptyClassRegion`,
        /// `.partialClassRegion`), or no centroid.
        public var missed: Int
        /// Of `missed`, those found without a class decision (`SubjectClassification.undecided`). Nil in evaluations
        /// written before it.
        public var undecided: Int?
        public var overall: ClassificationResult
        /// ", K of them found without a class decision" when K > 0, else "": what `evaluate` and the report add to
        /// the missed count.
        public var undecidedNote: String { (undecided ?? 0) > 0 ? ", \(undecided!) of them found without a class decision" : "" }
        /// By ground-truth level, cranial to caudal; only levels with a paired vertebra.
        public var perLevel: [LevelClassification]
    }

    public struct LevelClassification: Codable, Equatable, Sendable {
        public var levelID: Int
        public var level: String
        public var result: ClassificationResult
    }

    public struct ReferenceCounts: Codable, Equatable, Sendable {
        public var truth: Int
        public var labels: Int
    }

    public struct LeftOut: Codable, Equatable, Sendable {
        public var subjectID: String
        public var annotation: String
        public var reason: String
    }

    /// The definitions written into every evaluation.json.
    public static func definitions(hd95: HD95Definition) -> [String: String] {
        [
            "reference": "truth: the subject's exact anatomy (/subjects/<id>/truth, written for phantoms) gives the vertebra table (level, centroid, class) and the structure labels, every voxel; labels: the subject's vertebra table and, for annotation modes whose voxel labels are exact (full, partial), its structure labels over the annotated voxels; subjects with loose voxel labels (box, eroded, dilated, raters) and no truth are left out of Dice and HD95",
            "identificationRate": "VerSe's get_hits (utils/eval_utilities.py, github.com/anjany/verse): with one centroid per level on each side and L the levels in both truth and prediction, the predicted vertebra of level l in L is a hit when the nearest true centroid among the levels in L is that of l (ties to the lower level id) and it is at most 20 mm away; rate = hits / true vertebrae with a centroid, pooled over subjects",
            "strictIdentificationRate": "as identificationRate, but the nearest true centroid is searched among all true levels, not only those the prediction names",
            "localization": "for each true vertebra with a predicted vertebra of its level, the Euclidean distance between the centroids in mm (mean and median)",
            "whole": "identificationRate and the mean localization distance over the true vertebrae the field of view does not cut (cut_by_field_of_view 0 in the vertebra table); hits are counted as for identificationRate, among all true vertebrae",
            "hd95MM": "HD95 by the definition in segmentation.hd95Definition (\(hd95.rawValue)): \(hd95.text)",
            "hd95MonaiMM": HD95Definition.monai.text,
            "hd95MedpyMM": HD95Definition.medpy.text,
            "dice": "2|P ∩ R| / (|P| + |R|) over the reference's voxels (all voxels with a truth group, the annotated ones otherwise); null when both are empty",
        ]
    }

    /// Mean of `reconstructionPSNR` over the subjects that have one.
    public struct PSNRSummary: Codable, Equatable, Sendable {
        @NaNAsNull public var meanDB: Double
        public var count: Int
    }

    /// Indented, key-sorted JSON.
    public func encoded() throws -> Data {
        try prettyJSON()
    }

    /// Writes the JSON atomically.
    public func write(to url: URL) throws { try AtomicFile.write(try encoded(), to: url) }
}

/// One subject's evaluation.
public struct SubjectEvaluation: Codable, Equatable, Sendable {
    /// The prediction's subject id (`<id>.json`).
    public var subjectID: String
    /// The subject of the dataset it was compared with.
    public var datasetSubject: String
    /// What the prediction was scored against.
    public var reference: EvaluationReference
    /// The subject's annotation mode.
    public var annotation: String
    public var localization: LocalizationResult
    /// Nil when the prediction has no class probabilities.
    public var classification: SubjectClassification?
    /// One per foreground structure; nil when the prediction has no structure map or the subject no annotated voxel.
    public var segmentation: [StructureScore]?
    /// Why a predicted structure map was not scored; nil when it was, or when there was none.
    public var segmentationLeftOut: String?
    @NaNAsNullOptional public var reconstructionPSNR: Double?
}

/// What a subject's prediction is scored against.
public enum EvaluationReference: String, Codable, Sendable {
    /// The subject's exact anatomy (`SubjectTruth`, `/subjects/<id>/truth`).
    case truth
    /// The subject's annotation: its vertebra table and, when exact (`AnnotationMode.hasExactVoxelLabels`), its labels.
    case labels
}

public struct SubjectClassification: Codable, Equatable, Sendable {
    public var pairs: [ClassificationPair]
    /// Levels of the ground-truth vertebrae with a class left unpaired (no predicted vertebra with a class decision
    /// within the pairing distance, or no ground-truth centroid), cranial to caudal.
    public var missed: [String]
    /// Those of `missed` whose nearest predicted vertebra lies within the pairing distance and has no class
    /// decision (`VertebraFlag.emptyClassRegion`, `.partialClassRegion`): found, but not classified. Nil in evaluations written before it.
    public var undecided: [String]?
}

/// A ground-truth vertebra with a class and the predicted vertebra paired with it.
public struct ClassificationPair: Codable, Equatable, Sendable {
    public var levelID: Int
    public var level: String
    public var trueClass: Int
    public var predictedLevel: String
    public var decision: Int
    public var classProbabilities: [Double]
    public var distanceMM: Double
}

public enum EvaluationError: Swift.Error, Equatable, CustomStringConvertible {
    case unknownSubject(prediction: String, subject: String, dataset: String)
    case shapeMismatch(prediction: String, predicted: [Int], dataset: String, subject: String, expected: [Int])
    case classNamesMismatch(prediction: String, predicted: [String], dataset: String, expected: [String])
    case classProbabilities(prediction: String, vertebra: Int, found: Int, expected: Int)

    public var description: String {
        switch self {
        case let .unknownSubject(prediction, subject, dataset):
            "\(prediction): subject \"\(subject)\" (source.subject, else subjectID) is not in \(dataset); evaluate against the dataset the predictions were made from"
        case let .shapeMismatch(prediction, predicted, dataset, subject, expected):
            "\(prediction): geometry.shape \(predicted) differs from the shape \(expected) of subject \(subject) in \(dataset); the prediction was made on another grid"
        case let .classNamesMismatch(prediction, predicted, dataset, expected):
            "\(prediction): classNames \(predicted) differ from the class_names \(expected) of \(dataset)"
        case let .classProbabilities(prediction, vertebra, found, expected):
            "\(prediction): vertebrae[\(vertebra)].classProbabilities has \(found) values for \(expected) classes"
        }
    }
}

/// Evaluates every subject of a predictions folder against a dataset, each against its exact truth
/// (`SubjectTruth`, phantom subjects) when it has one, else against its annotation (`EvaluationReference`):
///
/// - localization and identification: `LocalizationMetric` (VerSe's `get_hits`, 20 mm, and the strict rule) on the
///   centroids in world mm;
/// - classification: each ground-truth vertebra with a class is paired with the nearest predicted vertebra with
///   class probabilities within `pairingDistanceMM` (one-to-one, greedy by increasing distance, regardless of level);
///   unpaired ones are reported as missed and left out of the metrics (`ClassificationMetric`, overall and per
///   ground-truth level);
/// - structures: `SegmentationMetric` (Dice, HD95 by both definitions) over every voxel against the truth, else over
///   the annotated voxels of subjects whose labels are exact (`AnnotationMode.hasExactVoxelLabels`); the others are
///   left out and listed with the reason;
/// - autoencoder: the mean of the predictions' `reconstructionPSNR`.
public struct Evaluator {
    public let folder: PredictionFolder
    public let reader: DatasetReader
    public var pairingDistanceMM: Double = 20
    public var identificationDistanceMM: Double = 20
    /// The HD95 definition of `hd95MM` and its means (both are always reported under their own names).
    public var hd95: HD95Definition = .monai

    public init(folder: PredictionFolder, reader: DatasetReader) { (self.folder, self.reader) = (folder, reader) }

    public func evaluate(onProgress: (Int, Int) -> Void = { _, _ in }) throws -> Evaluation {
        let ids = try folder.subjectIDs()
        let classNames = reader.header.classNames
        var localization = LocalizationMetric(maximumDistanceMM: identificationDistanceMM)
        var classification = ClassificationMetric(classNames: classNames)
        var perLevel: [VertebraLevel: ClassificationMetric] = [:]
        var segmentation = SegmentationMetric(hd95: hd95)
        var (paired, missed, undecided) = (0, 0, 0)
        var references = Evaluation.ReferenceCounts(truth: 0, labels: 0)
        var leftOut: [Evaluation.LeftOut] = []
        var subjects: [SubjectEvaluation] = []
        onProgress(0, ids.count)
        for (n, id) in ids.enumerated() {
            let prediction = try folder.read(id)
            let file = folder.json(id).path
            let subject = prediction.source.subject ?? prediction.subjectID
            guard reader.subjectIDs.contains(subject) else {
                throw EvaluationError.unknownSubject(prediction: file, subject: subject, dataset: reader.url.path)
            }
            let geometry = try reader.geometry(of: subject)
            guard prediction.geometry.shape == geometry.shape else {
                throw EvaluationError.shapeMismatch(prediction: file, predicted: prediction.geometry.shape, dataset: reader.url.path,
                                                    subject: subject, expected: geometry.shape)
            }
            let exact = try reader.truth(of: subject)
            let mode = try reader.annotationMode(of: subject)
            let reference: EvaluationReference = exact == nil ? .labels : .truth
            if exact == nil { references.labels += 1 } else { references.truth += 1 }
            let table = try reader.vertebrae(of: subject)
            let truth = exact?.records ?? table
            // The vertebra table says which vertebrae the field of view cuts (the truth group keeps the anatomy only).
            let cutLevels = Set(table.filter(\.cutByFieldOfView).map(\.level.id))

            var subjectLocalization = LocalizationMetric(maximumDistanceMM: identificationDistanceMM)
            let truthPoints = truth.compactMap { v in v.centroidMM.map { VertebraPoint(levelID: v.level.id, centroidMM: $0) } }
            let predictedPoints = prediction.vertebrae.map { VertebraPoint(levelID: $0.levelID, centroidMM: $0.centroidMM) }
            subjectLocalization.add(predicted: predictedPoints, truth: truthPoints, cutLevels: cutLevels)
            localization.add(predicted: predictedPoints, truth: truthPoints, cutLevels: cutLevels)

            var subjectClassification: SubjectClassification?
            if !prediction.classNames.isEmpty {
                guard prediction.classNames == classNames else {
                    throw EvaluationError.classNamesMismatch(prediction: file, predicted: prediction.classNames, dataset: reader.url.path, expected: classNames)
                }
                for (i, v) in prediction.vertebrae.enumerated() {
                    if let p = v.classProbabilities, p.count != classNames.count {
                        throw EvaluationError.classProbabilities(prediction: file, vertebra: i, found: p.count, expected: classNames.count)
                    }
                }
                let result = Self.classificationPairs(truth: truth, predicted: prediction.vertebrae, maximumDistanceMM: pairingDistanceMM)
                for pair in result.pairs {
                    try classification.add(probabilities: [pair.classProbabilities], labels: [pair.trueClass])
                    let level = try VertebraLevel(id: pair.levelID)
                    try perLevel[level, default: ClassificationMetric(classNames: classNames)].add(probabilities: [pair.classProbabilities], labels: [pair.trueClass])
                }
                paired += result.pairs.count
                missed += result.missed.count
                undecided += result.undecided?.count ?? 0
                subjectClassification = result
            }

            var structures: [StructureScore]?, notScored: String?
            if let predicted = try folder.readVolumes(prediction).structures {
                if let exact {
                    segmentation.add(id: id, prediction: predicted, target: exact.structureLabels, known: nil, shape: geometry.shape, spacingMM: geometry.spacingMM)
                    structures = segmentation.cases.last?.structures
                } else if mode.hasExactVoxelLabels {
                    let all = (offset: [0, 0, 0], size: geometry.shape)
                    let known = try reader.volumeCrop(subject, "annotated/structures", offset: all.offset, size: all.size).map { $0 != 0 }
                    if known.contains(true) {
                        let target = try reader.volumeCrop(subject, "labels/structures", offset: all.offset, size: all.size)
                        segmentation.add(id: id, prediction: predicted, target: target, known: known, shape: geometry.shape, spacingMM: geometry.spacingMM)
                        structures = segmentation.cases.last?.structures
                    } else {
                        notScored = "no structure voxel is annotated"
                    }
                } else if mode.hasVoxelLabels {
                    notScored = "its \(mode.rawValue) labels are not voxel-exact and it has no truth group"
                } else {
                    notScored = "annotation \(mode.rawValue) has no voxel labels and it has no truth group"
                }
                if let notScored { leftOut.append(Evaluation.LeftOut(subjectID: id, annotation: mode.rawValue, reason: notScored)) }
            }
            subjects.append(SubjectEvaluation(subjectID: id, datasetSubject: subject, reference: reference, annotation: mode.rawValue,
                                              localization: subjectLocalization.aggregate(),
                                              classification: subjectClassification, segmentation: structures, segmentationLeftOut: notScored,
                                              reconstructionPSNR: prediction.reconstructionPSNR))
            onProgress(n + 1, ids.count)
        }
        let psnr = nanMean(subjects.compactMap(\.reconstructionPSNR))
        let aggregate = Evaluation.Aggregate(
            subjects: subjects.count, references: references, segmentationLeftOut: leftOut, localization: localization.aggregate(),
            classification: Evaluation.ClassificationSummary(
                paired: paired, missed: missed, undecided: undecided, overall: classification.aggregate(),
                perLevel: perLevel.keys.sorted().map { Evaluation.LevelClassification(levelID: $0.id, level: $0.name, result: perLevel[$0]!.aggregate()) }),
            segmentation: segmentation.aggregate(),
            reconstructionPSNR: Evaluation.PSNRSummary(meanDB: psnr.mean, count: psnr.count))
        return Evaluation(created: DatasetFile.timestamp(), rachisVersion: Rachis.version, dataset: reader.url.path,
                          predictions: folder.url.path, classNames: classNames, definitions: Evaluation.definitions(hd95: hd95),
                          subjects: subjects, aggregate: aggregate)
    }

    /// Pairs each ground-truth vertebra that has a class and a centroid with a predicted vertebra that has class
    /// probabilities: all (truth, prediction) pairs within `maximumDistanceMM` taken by increasing distance, each
    /// vertebra at most once, regardless of level. The rest of the classed truth is `missed`.
    public static func classificationPairs(truth: [VertebraRecord], predicted: [VertebraPrediction], maximumDistanceMM: Double) -> SubjectClassification {
        func separation(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot() }
        var candidates: [(distance: Double, t: Int, p: Int)] = []
        for (t, v) in truth.enumerated() where v.classIndex != nil {
            guard let c = v.centroidMM else { continue }
            for (p, u) in predicted.enumerated() where u.classProbabilities != nil {
                let d = separation(c, u.centroidMM)
                if d <= maximumDistanceMM { candidates.append((d, t, p)) }
            }
        }
        // Ties broken by truth then prediction order, so the pairing does not depend on the sort's stability.
        candidates.sort { ($0.distance, $0.t, $0.p) < ($1.distance, $1.t, $1.p) }
        var pairOf: [Int: (p: Int, distance: Double)] = [:]
        var used = Set<Int>()
        for c in candidates where pairOf[c.t] == nil && !used.contains(c.p) {
            pairOf[c.t] = (c.p, c.distance)
            used.insert(c.p)
        }
        var pairs: [ClassificationPair] = [], missed: [String] = [], undecided: [String] = []
        for (t, v) in truth.enumerated() {
            guard let trueClass = v.classIndex else { continue }
            guard let (p, distance) = pairOf[t] else {
                missed.append(v.level.name)
                if let c = v.centroidMM, let nearest = predicted.min(by: { separation(c, $0.centroidMM) < separation(c, $1.centroidMM) }),
                   nearest.classProbabilities == nil, separation(c, nearest.centroidMM) <= maximumDistanceMM {
                    undecided.append(v.level.name)
                }
                continue
            }
            let u = predicted[p]
            pairs.append(ClassificationPair(levelID: v.level.id, level: v.level.name, trueClass: trueClass, predictedLevel: u.level,
                                            decision: u.decision ?? 0, classProbabilities: u.classProbabilities ?? [], distanceMM: distance))
        }
        return SubjectClassification(pairs: pairs, missed: missed, undecided: undecided)
    }
}
