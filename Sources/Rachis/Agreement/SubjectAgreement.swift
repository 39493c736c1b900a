/// How one subject's raters agree: pairwise Dice per structure and per vertebra level, STAPLE per structure,
/// Cohen's kappa per pair and Fleiss' kappa on the per-vertebra classes.
///
/// - Structures: every foreground `StructureLabel`; Dice over the whole volume (`PairwiseDice`), STAPLE on the
///   binary mask "rater j labels the voxel with this structure" (`STAPLE`), skipped when no rater uses the label.
/// - Levels: every vertebra level some rater labels; Dice of the level's voxels (`PairwiseDice`).
/// - Classes: the vertebrae whose table row has one class per rater (`raterClasses`, none missing); Cohen's kappa for every
///   pair of raters over those vertebrae (`CohenKappa`), their NaN-aware mean, and Fleiss' kappa (`FleissKappa`).
public struct SubjectAgreement: Codable, Equatable, Sendable {
    public var subjectID: String
    public var annotationMode: String
    /// Raters with voxel labels (0 when the subject only has per-rater classes).
    public var raters: Int
    public var structures: [StructureAgreement]
    public var levels: [LevelAgreement]
    public var classes: ClassAgreement

    public struct StructureAgreement: Codable, Equatable, Sendable {
        public var label: Int
        public var name: String
        public var pairs: [PairwiseDice.Pair]
        /// NaN-aware mean over `pairs`.
        @NaNAsNull public var meanDice: Double
        /// Nil when no rater labels the structure.
        public var staple: STAPLESummary?
    }

    /// STAPLE's estimate for one structure.
    public struct STAPLESummary: Codable, Equatable, Sendable {
        /// p_j per rater.
        public var sensitivity: [Double]
        /// q_j per rater.
        public var specificity: [Double]
        public var iterations: Int
        public var converged: Bool
        public var priorForeground: Double
        /// Σ_i W_i · voxel volume: the expected volume of the consensus.
        public var consensusVolumeMM3: Double
        /// Voxels with W_i ≥ 0.5.
        public var consensusVoxels: Int
    }

    public struct LevelAgreement: Codable, Equatable, Sendable {
        public var levelID: Int
        public var level: String
        public var pairs: [PairwiseDice.Pair]
        @NaNAsNull public var meanDice: Double
    }

    public struct ClassAgreement: Codable, Equatable, Sendable {
        /// Vertebrae with one class per rater.
        public var vertebrae: Int
        public var raters: Int
        public var cohen: [CohenPair]
        @NaNAsNull public var meanCohenKappa: Double
        public var fleiss: FleissKappa
        /// The ratings the kappas are over: one row per vertebra, a class per rater (so that the dataset can pool).
        public var ratings: [[Int]]
    }

    public struct CohenPair: Codable, Equatable, Sendable {
        public var raters: [Int]
        public var kappa: CohenKappa
    }

    /// Whether the subject has anything to compare: voxel labels or classes from more than one source.
    public static func hasRaters(_ subject: Subject) -> Bool {
        !subject.raters.isEmpty || subject.vertebrae.contains { !$0.raterClasses.isEmpty }
    }

    public init(_ subject: Subject, staple: STAPLE = STAPLE()) throws {
        subjectID = subject.id
        annotationMode = subject.annotationMode.rawValue
        raters = subject.raters.count
        let voxelMM3 = subject.geometry.spacingMM.reduce(1, *)

        let structureVolumes = subject.raters.map(\.structureLabels)
        let foreground = StructureLabel.allCases.filter { $0 != .background }
        let structureDice = subject.raters.count >= 2 ? PairwiseDice.dice(structureVolumes, labels: foreground.map(\.rawValue)) : [:]
        structures = try foreground.map { label in
            let pairs = structureDice[label.rawValue] ?? []
            var summary: STAPLESummary?
            if structureVolumes.contains(where: { $0.contains(label.rawValue) }) {
                let result = try staple(structureVolumes.map { volume in volume.map { $0 == label.rawValue } })
                summary = STAPLESummary(
                    sensitivity: result.sensitivity, specificity: result.specificity, iterations: result.iterations,
                    converged: result.converged, priorForeground: result.priorForeground,
                    consensusVolumeMM3: result.consensus.reduce(0, +) * voxelMM3,
                    consensusVoxels: result.consensus.reduce(0) { $0 + ($1 >= 0.5 ? 1 : 0) })
            }
            return StructureAgreement(label: Int(label.rawValue), name: label.name, pairs: pairs,
                                      meanDice: nanMean(pairs.map(\.dice)).mean, staple: summary)
        }

        let levelVolumes = subject.raters.map(\.vertebraLabels)
        var present = Set<UInt8>()
        for volume in levelVolumes { present.formUnion(volume) }
        present.remove(0)
        let levelIDs = present.compactMap { try? VertebraLevel(id: Int($0)) }.sorted()
        let levelDice = levelVolumes.count >= 2 ? PairwiseDice.dice(levelVolumes, labels: levelIDs.map { UInt8($0.id) }) : [:]
        levels = levelIDs.map { level in
            let pairs = levelDice[UInt8(level.id)] ?? []
            return LevelAgreement(levelID: level.id, level: level.name, pairs: pairs, meanDice: nanMean(pairs.map(\.dice)).mean)
        }

        let classRaters = subject.raters.isEmpty ? subject.vertebrae.map(\.raterClasses.count).max() ?? 0 : subject.raters.count
        let ratings = subject.vertebrae.map(\.raterClasses).filter { $0.count == classRaters && classRaters > 0 && $0.allSatisfy { $0 >= 0 } }
        var cohen: [CohenPair] = []
        if classRaters >= 2 {
            for a in 0..<classRaters {
                for b in (a + 1)..<classRaters {
                    cohen.append(CohenPair(raters: [a, b], kappa: CohenKappa(ratings.map { $0[a] }, ratings.map { $0[b] })))
                }
            }
        }
        classes = ClassAgreement(vertebrae: ratings.count, raters: classRaters, cohen: cohen,
                                 meanCohenKappa: nanMean(cohen.map(\.kappa.kappa)).mean,
                                 fleiss: FleissKappa(ratings: ratings), ratings: ratings)
    }
}
