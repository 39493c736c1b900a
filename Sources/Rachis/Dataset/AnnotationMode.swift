/// How a subject, or one vertebra of it, is annotated.
///
/// What a mode means to the rest of Rachis is said here once, by the capability properties below (which labels a
/// subject carries, which tasks it trains, whether its voxel labels are exact, whether a manifest can import it);
/// the writer, reader, importer, exporter, loader and evaluation ask these instead of naming modes. Adding a mode:
/// its case here (the order is the phantom generator's draw order: add at the end), one row in each switch below,
/// its degradation in `PhantomAnnotator`, and its name in the schemas' enums (`AnnotationModeTests` lists them).
public enum AnnotationMode: String, CaseIterable, Codable, Sendable {
    /// Exact voxel masks.
    case full
    /// Some vertebrae or structures left unlabelled; the annotation masks are 0 there. A vertebra left out
    /// has mode `.unlabelled` in the table.
    case partial
    /// Each vertebra's label is its axis-aligned bounding box; no structure labels.
    case box
    /// Masks shrunk in-plane.
    case eroded
    /// Masks grown in-plane (into the background).
    case dilated
    /// Several raters who disagree; the main labels are the per-voxel and per-vertebra majority.
    case raters
    /// A class per vertebra, no voxel labels.
    case classOnly
    /// Image only (subject) or no label at all (vertebra).
    case unlabelled
    /// No voxel labels: a few shape descriptors per structure (size, centroid, mean distance to the centroid,
    /// surface; `StructureDescriptorAnnotation`), vertebra centroids and classes.
    case descriptors

    /// What a subject stores besides its image and its vertebra table (levels, centroids, classes).
    public enum Label: String, CaseIterable, Sendable {
        /// Vertebra and structure label volumes with masks of where they are known (`labels/`, `annotated/`).
        case voxels
        /// The vertebra labels are each vertebra's axis-aligned bounding box (with `voxels`).
        case boxes
        /// Each rater's label volumes (`raters/<r>/`) and classes (`vertebrae/rater_classes`), with `voxels` holding
        /// their majority.
        case raters
        /// Per-structure shape descriptors instead of masks (`descriptors/`).
        case descriptors
    }

    /// Which labels a subject annotated this way carries.
    public var labels: Set<Label> {
        switch self {
        case .full, .partial, .eroded, .dilated: [.voxels]
        case .box: [.voxels, .boxes]
        case .raters: [.voxels, .raters]
        case .classOnly, .unlabelled: []
        case .descriptors: [.descriptors]
        }
    }

    /// The tasks a subject annotated this way trains (its `tasks` attribute).
    public var tasks: [LearningTask] {
        switch self {
        case .full, .partial, .eroded, .dilated, .raters: LearningTask.allCases
        case .box: [.localization, .identification, .classification, .autoencoding]
        case .classOnly: [.classification, .autoencoding]
        case .descriptors: [.localization, .classification, .autoencoding]
        case .unlabelled: [.autoencoding]
        }
    }

    /// Whether the labels a subject annotated this way carries are the exact labels on every voxel its annotation
    /// masks mark (so Dice and HD95 against them measure the model, not the annotation): `full`, and `partial`
    /// (vertebrae or structures left out are unannotated, the rest exact). Loose modes (boxes, eroded or dilated
    /// masks, the raters' majority) are not; modes without voxel labels have nothing to score.
    public var hasExactVoxelLabels: Bool {
        switch self {
        case .full, .partial: true
        case .box, .eroded, .dilated, .raters, .classOnly, .unlabelled, .descriptors: false
        }
    }

    /// Whether a voxel whose label is 0 is unannotated rather than background (an imported label file marks only
    /// what was labelled).
    public var leavesUnlabelledVoxelsUnannotated: Bool {
        switch self {
        case .partial: true
        case .full, .box, .eroded, .dilated, .raters, .classOnly, .unlabelled, .descriptors: false
        }
    }

    /// Whether a subject annotated this way stores voxel labels (`labels/`, `annotated/`).
    public var hasVoxelLabels: Bool { labels.contains(.voxels) }

    /// Whether its vertebra labels are boxes (what `BoxLoss` supervises).
    public var hasBoxLabels: Bool { labels.contains(.boxes) }

    /// Whether it stores each rater's labels (what the STAPLE consensus needs).
    public var hasRaterLabels: Bool { labels.contains(.raters) }

    /// Whether it stores structure shape descriptors.
    public var hasStructureDescriptors: Bool { labels.contains(.descriptors) }

    /// Whether an import manifest can describe a subject annotated this way: one label volume per kind (or none)
    /// and a class table, nothing per rater and no descriptors.
    public var isImportable: Bool { !hasRaterLabels && !hasStructureDescriptors }
}
