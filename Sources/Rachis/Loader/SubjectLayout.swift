/// What the loader keeps in memory about one subject (geometry, vertebra table, tasks, and a voxel box per vertebra),
/// so that choosing a crop reads no volume.
struct SubjectLayout: Sendable {
    /// Inclusive voxel bounds [d, h, w] of a vertebra.
    struct Box: Sendable {
        var lo: [Int], hi: [Int]

        func intersects(offset: [Int], size: [Int]) -> Bool {
            (0..<3).allSatisfy { hi[$0] >= offset[$0] && lo[$0] < offset[$0] + size[$0] }
        }

        func isInside(offset: [Int], size: [Int]) -> Bool {
            (0..<3).allSatisfy { lo[$0] >= offset[$0] && hi[$0] < offset[$0] + size[$0] }
        }
    }

    let id: String
    let geometry: Geometry
    let vertebrae: [VertebraRecord]
    let tasks: [LearningTask]
    /// Per table row: the box of its label voxels; without labels, a box of the subject's typical vertebra size around
    /// the centroid; nil when its position is unknown.
    let boxes: [Box?]
    let annotationMode: AnnotationMode
    /// Raters with stored voxel labels (`raters/<r>/structures`).
    let raterCount: Int
    /// Shape descriptors of the subject's structures (only when asked for, and only from complete structure labels).
    let structureDescriptors: [StructureDescriptor]

    var isUnlabelled: Bool { tasks.allSatisfy { $0 == .autoencoding } }
    var shape: [Int] { geometry.shape }

    /// Vertebra size used around a centroid when no vertebra of the subject has labels, [D, H, W] in millimetres.
    static let typicalSizeMM = [40.0, 25.0, 60.0]

    /// - Parameter descriptors: compute `structureDescriptors` (structure classes 0..<descriptors).
    init(reader: DatasetReader, id: String, descriptors: Int? = nil) throws {
        self.id = id
        geometry = try reader.geometry(of: id)
        vertebrae = try reader.vertebrae(of: id)
        tasks = try reader.tasks(of: id)
        let mode = try reader.annotationMode(of: id)
        annotationMode = mode
        raterCount = try reader.raterCount(of: id)
        if let descriptors {
            structureDescriptors = try Self.descriptors(reader: reader, id: id, mode: mode, structures: descriptors)
        } else {
            structureDescriptors = []
        }
        let (geometry, shape) = (geometry, geometry.shape)
        let labels = try reader.volumeCrop(id, "labels/vertebrae", offset: [0, 0, 0], size: shape)
        var lo = [[Int]](repeating: shape, count: 256), hi = [[Int]](repeating: [-1, -1, -1], count: 256)
        var i = 0
        for d in 0..<shape[0] {
            for h in 0..<shape[1] {
                for w in 0..<shape[2] {
                    let l = Int(labels[i])
                    i += 1
                    guard l != 0 else { continue }
                    lo[l] = [min(lo[l][0], d), min(lo[l][1], h), min(lo[l][2], w)]
                    hi[l] = [max(hi[l][0], d), max(hi[l][1], h), max(hi[l][2], w)]
                }
            }
        }
        let vertebrae = vertebrae
        let labelled = vertebrae.map(\.level.id).filter { hi[$0][0] >= 0 }
        let size: [Int] = (0..<3).map { axis in
            let sizes = labelled.map { hi[$0][axis] - lo[$0][axis] + 1 }.sorted()
            return sizes.isEmpty ? Int((Self.typicalSizeMM[axis] / geometry.spacingMM[axis]).rounded()) : sizes[sizes.count / 2]
        }
        boxes = vertebrae.map { record in
            let l = record.level.id
            if hi[l][0] >= 0 { return Box(lo: lo[l], hi: hi[l]) }
            guard let centroid = record.centroidMM else { return nil }
            let c = geometry.index(worldMM: centroid).map { Int($0.rounded()) }
            return Box(lo: (0..<3).map { max(0, c[$0] - size[$0] / 2) },
                       hi: (0..<3).map { min(shape[$0] - 1, c[$0] + (size[$0] - 1) / 2) })
        }
    }

    /// Descriptors given by a descriptor-only annotation, or descriptors from the structure labels when they are complete (every voxel annotated, and a mode with true
    /// structure masks: not boxes, class-only or unlabelled subjects).
    static func descriptors(reader: DatasetReader, id: String, mode: AnnotationMode, structures: Int) throws -> [StructureDescriptor] {
        let geometry = try reader.geometry(of: id), shape = geometry.shape
        if mode.hasStructureDescriptors {
            // Given numbers: the centroid moves from world millimetres to the array frame; no extent is known.
            return try reader.structureDescriptors(of: id).filter { $0.structure > 0 && $0.structure < structures }.map { d in
                let centroid = d.centroidMM.map { zip(geometry.index(worldMM: $0), geometry.spacingMM).map { $0 * $1 } } ?? [.nan, .nan, .nan]
                return StructureDescriptor(structure: d.structure, values: [d.sizeMM3 ?? .nan] + centroid + [d.meanDistanceMM ?? .nan, d.surfaceMM2 ?? .nan])
            }
        }
        guard mode.tasks.contains(.segmentation) else { return [] }
        let known = try reader.volumeCrop(id, "annotated/structures", offset: [0, 0, 0], size: shape)
        guard known.allSatisfy({ $0 != 0 }) else { return [] }
        let labels = try reader.volumeCrop(id, "labels/structures", offset: [0, 0, 0], size: shape)
        return StructureDescriptor.fromLabels(labels, shape: shape, spacingMM: geometry.spacingMM, structures: structures)
    }

    /// The extent of the spine along `axis` (union of the vertebra boxes), nil when no position is known.
    func spineSpan(_ axis: Int) -> ClosedRange<Int>? {
        let known = boxes.compactMap { $0 }
        guard let lo = known.map({ $0.lo[axis] }).min(), let hi = known.map({ $0.hi[axis] }).max() else { return nil }
        return lo...hi
    }

    /// A seeded crop origin (may be negative: centred padding where the volume is smaller than the crop).
    ///
    /// D and W: the window is centred on the spine's extent, jittered by up to half the room the crop leaves around it.
    /// H: among the windows that cut the fewest classified vertebrae (a vertebra longer than the crop cannot be kept
    /// whole and is not counted), the ones that hold at least one classified vertebra whole are preferred; one of
    /// them is drawn uniformly.
    func cropOffset(size: [Int], rng: inout SplitMix64) -> [Int] {
        [centredWindow(axis: 0, size: size[0], rng: &rng), heightWindow(size: size[1], rng: &rng),
         centredWindow(axis: 2, size: size[2], rng: &rng)]
    }

    private func centredWindow(axis: Int, size: Int, rng: inout SplitMix64) -> Int {
        let length = shape[axis]
        guard length > size else { return -((size - length) / 2) }
        let maxOffset = length - size
        guard let span = spineSpan(axis) else { return Int(rng.next() % UInt64(maxOffset + 1)) }
        let room = Double(max(0, size - span.count)) / 2
        let centre = Double(span.lowerBound + span.upperBound) / 2 + rng.uniform(-room, room)
        return min(max(Int((centre - Double(size - 1) / 2).rounded()), 0), maxOffset)
    }

    private func heightWindow(size: Int, rng: inout SplitMix64) -> Int {
        let length = shape[1]
        guard length > size else { return -((size - length) / 2) }
        let classified = zip(vertebrae, boxes).compactMap { record, box -> (Int, Int)? in
            guard let box, record.classIndex != nil || !record.raterClasses.isEmpty, box.hi[1] - box.lo[1] < size else { return nil }
            return (box.lo[1], box.hi[1])
        }
        var best: [Int] = [], bestScore = (Int.max, Int.max)
        for offset in 0...(length - size) {
            let inside = classified.filter { $0.0 >= offset && $0.1 < offset + size }.count
            let cut = classified.filter { $0.1 >= offset && $0.0 < offset + size }.count - inside
            let score = (cut, inside > 0 || classified.isEmpty ? 0 : 1)
            if score < bestScore { (best, bestScore) = ([offset], score) } else if score == bestScore { best.append(offset) }
        }
        return best[Int(rng.next() % UInt64(best.count))]
    }
}
