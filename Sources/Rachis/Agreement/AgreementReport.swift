import Foundation

/// Rater agreement over a dataset: `SubjectAgreement` for every subject with raters, and aggregates
/// (`rachis dataset agreement`; `schemas/agreement.schema.json`). Undefined values are NaN and written as `null`.
///
/// Aggregates:
/// - per structure and per level: the NaN-aware mean over subjects of each subject's mean pairwise Dice
///   (`subjects` counts the subjects with a defined value); per structure also the mean of STAPLE's p_j and q_j
///   over every (subject, rater) pair;
/// - classes: Fleiss' kappa pooled over every vertebra of every subject with raters (Fleiss' kappa does not
///   assume that rater j is the same person in every subject), over the vertebrae rated by the most common number
///   of raters; and the NaN-aware mean over subjects of their mean pairwise Cohen's kappa (Cohen's kappa needs
///   the same two raters, so it is not pooled across subjects whose raters may differ).
public struct AgreementReport: Codable, Equatable, Sendable {
    public static let format = "rachis-agreement"
    public static let schemaVersion = 1

    public var format = Self.format
    public var schemaVersion = Self.schemaVersion
    public var created: String
    public var rachisVersion: String
    public var dataset: String
    public var classNames: [String]
    public var settings: Settings
    public var subjects: [SubjectAgreement]
    /// Subjects without raters, not compared.
    public var skippedSubjects: [String]
    public var aggregate: Aggregate

    public struct Settings: Codable, Equatable, Sendable {
        /// "raterMean" or "global".
        public var staplePrior: String
        public var stapleGlobalPrior: Double?
        public var stapleTolerance: Double
        public var stapleMaxIterations: Int
    }

    public struct Aggregate: Codable, Equatable, Sendable {
        public var subjects: Int
        public var skipped: Int
        public var structures: [StructureSummary]
        public var levels: [LevelSummary]
        public var classes: ClassSummary
    }

    public struct StructureSummary: Codable, Equatable, Sendable {
        public var label: Int
        public var name: String
        @NaNAsNull public var meanDice: Double
        public var subjects: Int
        @NaNAsNull public var meanSensitivity: Double
        @NaNAsNull public var meanSpecificity: Double
        /// (subject, rater) pairs the STAPLE means are over.
        public var staplePairs: Int
    }

    public struct LevelSummary: Codable, Equatable, Sendable {
        public var levelID: Int
        public var level: String
        @NaNAsNull public var meanDice: Double
        public var subjects: Int
    }

    public struct ClassSummary: Codable, Equatable, Sendable {
        public var vertebrae: Int
        public var fleiss: FleissKappa
        @NaNAsNull public var meanCohenKappa: Double
        public var subjects: Int
    }

    /// Reads every subject of `reader` that has raters (per-rater voxel labels or per-rater classes), others skipped.
    public init(reader: DatasetReader, staple: STAPLE = STAPLE(), progress: ((Int, Int) -> Void)? = nil) throws {
        var subjects: [SubjectAgreement] = [], skipped: [String] = []
        for (k, id) in reader.subjectIDs.enumerated() {
            if try reader.hasRaters(id) {
                let subject = try reader.subject(id)
                if SubjectAgreement.hasRaters(subject) {
                    subjects.append(try SubjectAgreement(subject, staple: staple))
                } else {
                    skipped.append(id)
                }
            } else {
                skipped.append(id)
            }
            progress?(k + 1, reader.subjectIDs.count)
        }
        let settings: Settings
        switch staple.prior {
        case .raterMean, .perVoxel: settings = Settings(staplePrior: "raterMean", stapleGlobalPrior: nil, stapleTolerance: staple.tolerance, stapleMaxIterations: staple.maxIterations)
        case let .global(g): settings = Settings(staplePrior: "global", stapleGlobalPrior: g, stapleTolerance: staple.tolerance, stapleMaxIterations: staple.maxIterations)
        }
        self.init(dataset: reader.url.path, classNames: reader.header.classNames, settings: settings, subjects: subjects, skipped: skipped)
    }

    public init(dataset: String, classNames: [String], settings: Settings, subjects: [SubjectAgreement], skipped: [String]) {
        created = DatasetFile.timestamp()
        rachisVersion = Rachis.version
        self.dataset = dataset
        self.classNames = classNames
        self.settings = settings
        self.subjects = subjects
        skippedSubjects = skipped
        aggregate = Self.aggregate(subjects, skipped: skipped.count)
    }

    static func aggregate(_ subjects: [SubjectAgreement], skipped: Int) -> Aggregate {
        let structures = StructureLabel.allCases.filter { $0 != .background }.map { label in
            let rows = subjects.compactMap { $0.structures.first { $0.label == Int(label.rawValue) } }
            let dice = nanMean(rows.map(\.meanDice))
            let staples = rows.compactMap(\.staple)
            return StructureSummary(label: Int(label.rawValue), name: label.name, meanDice: dice.mean, subjects: dice.count,
                                    meanSensitivity: nanMean(staples.flatMap(\.sensitivity)).mean,
                                    meanSpecificity: nanMean(staples.flatMap(\.specificity)).mean,
                                    staplePairs: staples.reduce(0) { $0 + $1.sensitivity.count })
        }
        let levelIDs = Set(subjects.flatMap { $0.levels.map(\.levelID) }).compactMap { try? VertebraLevel(id: $0) }.sorted()
        let levels = levelIDs.map { level in
            let dice = nanMean(subjects.compactMap { $0.levels.first { $0.levelID == level.id }?.meanDice })
            return LevelSummary(levelID: level.id, level: level.name, meanDice: dice.mean, subjects: dice.count)
        }
        // Fleiss needs the same number of ratings per item: pool the vertebrae rated by the most common count.
        let rows = subjects.flatMap(\.classes.ratings)
        var byCount: [Int: Int] = [:]
        for row in rows { byCount[row.count, default: 0] += 1 }
        let n = byCount.max { ($0.value, -$0.key) < ($1.value, -$1.key) }?.key ?? 0
        let pooled = rows.filter { $0.count == n }
        let cohen = nanMean(subjects.map(\.classes.meanCohenKappa))
        return Aggregate(subjects: subjects.count, skipped: skipped, structures: structures, levels: levels,
                         classes: ClassSummary(vertebrae: pooled.count, fleiss: FleissKappa(ratings: pooled),
                                               meanCohenKappa: cohen.mean, subjects: cohen.count))
    }

    /// Indented, key-sorted JSON.
    public func encoded() throws -> Data {
        try prettyJSON()
    }

    /// Writes the JSON atomically.
    public func write(to url: URL) throws { try AtomicFile.write(try encoded(), to: url) }
}

extension DatasetReader {
    /// Whether subject `id` stores per-rater voxel labels or a per-rater class column, without reading its volumes.
    func hasRaters(_ id: String) throws -> Bool {
        let g = try group(id)
        return g.exists("raters") || g.exists("vertebrae/rater_classes")
    }
}
