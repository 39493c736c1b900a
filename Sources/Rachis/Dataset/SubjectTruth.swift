/// The exact anatomy of a subject, whatever its annotators delivered: stored under `/subjects/<id>/truth` for
/// phantom subjects (`rachis dataset synth`), read by `rachis evaluate` only. Training, the data loader, relabelling
/// and `DatasetReader.subject(_:)` never read it, so a model cannot learn from it.
///
/// Layout (`schemas/dataset.schema.json`), mirroring the subject's own `labels/` and `vertebrae/`:
///
///     /subjects/<id>/truth/                 @source = "phantom"
///         labels/vertebrae      [D, H, W] uint8   exact VerSe level per voxel (body and posterior elements)
///         labels/structures     [D, H, W] uint8   exact StructureLabel per voxel
///         vertebrae/level_id    [V] int32         every vertebra in the image, cranial to caudal
///         vertebrae/centroid_mm [V, 3] float64    centroid of the vertebra's voxels in labels/vertebrae, RAS+ mm
///         vertebrae/class       [V] int32         true class (index into class_names)
public struct SubjectTruth: Equatable, Sendable {
    /// One vertebra of the truth table.
    public struct Vertebra: Equatable, Sendable {
        public var level: VertebraLevel
        /// Centroid of all the vertebra's voxels (body and posterior elements, as VerSe), RAS+ world mm.
        public var centroidMM: [Double]
        public var classIndex: Int

        public init(level: VertebraLevel, centroidMM: [Double], classIndex: Int) {
            (self.level, self.centroidMM, self.classIndex) = (level, centroidMM, classIndex)
        }
    }

    /// `[D, H, W]` exact VerSe level per voxel.
    public var vertebraLabels: [UInt8]
    /// `[D, H, W]` exact `StructureLabel` per voxel.
    public var structureLabels: [UInt8]
    /// Cranial to caudal.
    public var vertebrae: [Vertebra]
    /// Where the truth comes from ("phantom").
    public var source: String

    public init(vertebraLabels: [UInt8], structureLabels: [UInt8], vertebrae: [Vertebra], source: String = "phantom") {
        (self.vertebraLabels, self.structureLabels, self.vertebrae, self.source) = (vertebraLabels, structureLabels, vertebrae, source)
    }

    /// The truth table as vertebra records (annotation `.full`, every class and centroid known), for the metrics.
    public var records: [VertebraRecord] {
        vertebrae.map { VertebraRecord(level: $0.level, centroidMM: $0.centroidMM, classIndex: $0.classIndex, annotation: .full, cutByFieldOfView: false) }
    }

    /// The group and its members, relative to the subject's group.
    static let group = "truth"
}
