import Foundation
import HDF5

/// Reads a Rachis dataset file: the header, whole subjects, or crops of a subject's volumes (hyperslabs, so a crop
/// reads only the chunks it touches). Safe to share between threads (libhdf5 calls are serialised).
public final class DatasetReader: @unchecked Sendable {
    public let url: URL
    public let header: DatasetHeader
    /// Subject ids in file order (sorted by name).
    public let subjectIDs: [String]
    let file: File
    /// What `requireValid` has checked.
    let validation = ValidationMemo()
    /// Whole decoded volumes for the crop reads, when `cacheVolumes(upToBytes:)` turned it on.
    private var cache: VolumeCache? {
        cacheLock.lock()
        defer { cacheLock.unlock() }
        return _cache
    }
    private var _cache: VolumeCache?
    private let cacheLock = NSLock()

    /// Keeps whole decoded volumes in memory, up to `bytes`, and cuts `imageCrop` and `volumeCrop` from them (0 turns
    /// it off). For a reader that cuts many crops (the training loader). A cache of the same size is kept as it is.
    public func cacheVolumes(upToBytes bytes: Int) {
        cacheLock.lock()
        defer { cacheLock.unlock() }
        guard _cache?.capacity ?? 0 != bytes else { return }
        _cache = bytes > 0 ? VolumeCache(capacity: bytes) : nil
    }

    /// Bytes the volume cache holds now.
    public var cachedBytes: Int { cache?.bytes ?? 0 }

    /// How `geometry(of:)`, `imageCrop` and `volumeCrop` present the subjects: as stored (the default), or, for the
    /// training loader, resampled to one spacing and/or with some channels only. The file is never changed.
    public struct View: Equatable, Sendable {
        /// Every subject resampled over its field of view to this spacing [D, H, W] (`Geometry.resampled`): images
        /// linear (nearest along a thick-slice axis, `SpacingRule`), label and mask volumes per label. nil: as stored.
        public var spacingMM: [Double]?
        /// Indices into `header.channelNames` of the channels `imageCrop` gives, in that order; nil: all.
        public var channels: [Int]?
        public init(spacingMM: [Double]? = nil, channels: [Int]? = nil) { (self.spacingMM, self.channels) = (spacingMM, channels) }
        var isStored: Bool { spacingMM == nil && channels == nil }
    }

    public var view: View {
        cacheLock.lock()
        defer { cacheLock.unlock() }
        return _view
    }
    private var _view = View()

    /// Sets the view (and empties the volume cache, which holds volumes as the old view gave them).
    public func setView(_ view: View) {
        cacheLock.lock()
        defer { cacheLock.unlock() }
        guard view != _view else { return }
        _view = view
        if let capacity = _cache?.capacity { _cache = VolumeCache(capacity: capacity) }
    }

    public init(url: URL) throws {
        self.url = url
        let file: File
        do {
            file = try File.open(url, mode: .readOnly)
        } catch let error as HDF5Error {
            switch error.kind {
            case .fileNotFound: throw DatasetError.fileNotFound(url.path)
            case .notHDF5: throw DatasetError.notADataset(file: url.path, reason: "the file is not HDF5")
            default: throw DatasetError.notADataset(file: url.path, reason: "HDF5 cannot open it (\(error.frames.last?.description ?? error.description))")
            }
        }
        let path = url.path
        func attribute(_ name: String) throws -> String {
            guard file.hasAttribute(name) else { throw DatasetError.notADataset(file: path, reason: "the root attribute \(name) is missing") }
            return try file.readAttribute(name, as: String.self)
        }
        let format = try attribute("format")
        guard format == DatasetFile.format else {
            throw DatasetError.notADataset(file: path, reason: "format is \"\(format)\", expected \"\(DatasetFile.format)\"")
        }
        let version = try file.readAttribute("format_version", as: Int64.self)
        guard version == DatasetFile.formatVersion else {
            throw DatasetError.unsupportedVersion(file: path, found: Int(version), supported: DatasetFile.formatVersion)
        }
        header = DatasetHeader(
            name: try attribute("name"),
            classNames: try file.readAttribute("class_names", as: [String].self),
            structureNames: try file.readAttribute("structure_names", as: [String].self),
            channelNames: try file.readAttribute("channel_names", as: [String].self))
        guard file.kind(of: "subjects") == .group else { throw DatasetError.notADataset(file: path, reason: "the group /subjects is missing") }
        subjectIDs = try file.openGroup("subjects").children().filter { $0.kind == .group }.map(\.name)
        self.file = file
    }

    func group(_ id: String) throws -> Group {
        guard file.kind(of: "subjects/" + id) == .group else {
            throw DatasetError.unknownSubject(file: url.path, id: id, known: subjectIDs.count)
        }
        return try file.openGroup("subjects/" + id)
    }

    func invalid(_ id: String, _ object: String, _ message: String) -> DatasetError {
        .invalidContent(file: url.path, object: "/subjects/\(id)/\(object)", message: message)
    }

    /// The subject's grid as the view presents it (`storedGeometry` resampled when the view sets a spacing).
    public func geometry(of id: String) throws -> Geometry {
        let stored = try storedGeometry(of: id)
        return view.spacingMM.map { stored.resampled(toSpacingMM: $0) } ?? stored
    }

    /// The subject's grid as stored in the file.
    public func storedGeometry(of id: String) throws -> Geometry {
        let g = try group(id)
        let shape = try g.openDataset("image").shape
        guard shape.count == 4 else { throw invalid(id, "image", "expected [C, D, H, W], found shape \(shape)") }
        let spacing = try g.readAttribute("spacing_mm", as: [Double].self)
        let origin = try g.readAttribute("origin_mm", as: [Double].self)
        let direction = try g.readAttribute("direction", as: [Double].self)
        guard spacing.count == 3, spacing.allSatisfy({ $0 > 0 && $0.isFinite }) else { throw invalid(id, "@spacing_mm", "expected 3 positive values, found \(spacing)") }
        guard origin.count == 3, origin.allSatisfy(\.isFinite) else { throw invalid(id, "@origin_mm", "expected 3 finite values, found \(origin)") }
        guard direction.count == 9, direction.allSatisfy(\.isFinite) else { throw invalid(id, "@direction", "expected 9 finite values, found \(direction.count)") }
        return Geometry(shape: Array(shape.dropFirst()), spacingMM: spacing, originMM: origin,
                        direction: (0..<3).map { Array(direction[($0 * 3)..<($0 * 3 + 3)]) })
    }

    public func annotationMode(of id: String) throws -> AnnotationMode {
        let text = try group(id).readAttribute("annotation_mode", as: String.self)
        guard let mode = AnnotationMode(rawValue: text) else { throw invalid(id, "@annotation_mode", "unknown annotation mode \"\(text)\"") }
        return mode
    }

    public func tasks(of id: String) throws -> [LearningTask] {
        try group(id).readAttribute("tasks", as: [String].self).map { text in
            guard let task = LearningTask(rawValue: text) else { throw invalid(id, "@tasks", "unknown task \"\(text)\"") }
            return task
        }
    }

    /// Voxels of each structure class (`0..<classes`) among the subject's annotated structure voxels
    /// (`annotated/structures` non-zero); all zeros when its annotation mode carries no structure labels.
    public func annotatedStructureCounts(of id: String, classes: Int) throws -> [Int] {
        var counts = [Int](repeating: 0, count: classes)
        guard LearningTask.supported(by: try annotationMode(of: id)).contains(.segmentation) else { return counts }
        let shape = try geometry(of: id).shape
        let known = try volumeCrop(id, "annotated/structures", offset: [0, 0, 0], size: shape)
        let labels = try volumeCrop(id, "labels/structures", offset: [0, 0, 0], size: shape)
        for (label, annotated) in zip(labels, known) where annotated != 0 && Int(label) < classes { counts[Int(label)] += 1 }
        return counts
    }

    /// The per-vertebra table, cranial to caudal.
    public func vertebrae(of id: String) throws -> [VertebraRecord] {
        let table = try group(id).openGroup("vertebrae")
        let levels = try table.openDataset("level_id").read(as: Int32.self).values
        let centroids = try table.openDataset("centroid_mm").read(as: Double.self).values
        let classes = try table.openDataset("class").read(as: Int32.self).values
        let annotations = try table.openDataset("annotation").readStrings().values
        let cut = try table.openDataset("cut_by_field_of_view").read(as: UInt8.self).values
        let raters = table.exists("rater_classes") ? try table.openDataset("rater_classes").read(as: Int32.self) : nil
        let n = levels.count
        for (name, count) in [("centroid_mm", centroids.count / 3), ("class", classes.count), ("annotation", annotations.count), ("cut_by_field_of_view", cut.count)]
        where count != n {
            throw invalid(id, "vertebrae/\(name)", "has \(count) rows, level_id has \(n)")
        }
        let raterCount = raters?.shape.last ?? 0
        return try (0..<n).map { i in
            let level: VertebraLevel
            do { level = try VertebraLevel(id: Int(levels[i])) } catch { throw invalid(id, "vertebrae/level_id", "row \(i): \(error)") }
            guard let annotation = AnnotationMode(rawValue: annotations[i]) else {
                throw invalid(id, "vertebrae/annotation", "row \(i): unknown annotation \"\(annotations[i])\"")
            }
            let centroid = Array(centroids[(3 * i)..<(3 * i + 3)])
            let raterClasses = raters.map { r in (0..<raterCount).map { Int(r.values[i * raterCount + $0]) } } ?? []
            return VertebraRecord(level: level, centroidMM: centroid.contains(where: \.isNaN) ? nil : centroid,
                                  classIndex: classes[i] < 0 ? nil : Int(classes[i]), raterClasses: raterClasses,
                                  annotation: annotation, cutByFieldOfView: cut[i] != 0)
        }
    }

    /// How many raters' voxel labels the subject stores (`raters/0`, `raters/1`, ...).
    public func raterCount(of id: String) throws -> Int {
        let g = try group(id)
        guard g.exists("raters") else { return 0 }
        return try g.openGroup("raters").children().count
    }

    /// The per-structure descriptors of a descriptor-only annotation (empty when the subject has none).
    public func structureDescriptors(of id: String) throws -> [StructureDescriptorAnnotation] {
        let g = try group(id)
        guard g.exists("descriptors") else { return [] }
        let structures = try g.openDataset("descriptors/structure").read(as: Int32.self).values
        func column(_ name: String, width: Int = 1) throws -> [Double] {
            let values = try g.openDataset("descriptors/" + name).read(as: Double.self).values
            guard values.count == structures.count * width else {
                throw invalid(id, "descriptors/" + name, "has \(values.count / width) rows, descriptors/structure has \(structures.count)")
            }
            return values
        }
        let size = try column("size_mm3"), centroid = try column("centroid_mm", width: 3)
        let distance = try column("mean_distance_mm"), surface = try column("surface_mm2")
        func given(_ x: Double) -> Double? { x.isNaN ? nil : x }
        return structures.indices.map { i in
            let c = Array(centroid[(3 * i)..<(3 * i + 3)])
            return StructureDescriptorAnnotation(structure: Int(structures[i]), sizeMM3: given(size[i]), centroidMM: c.contains(where: \.isNaN) ? nil : c,
                                                 meanDistanceMM: given(distance[i]), surfaceMM2: given(surface[i]))
        }
    }

    /// Whether the subject stores its exact truth (`SubjectTruth`, phantom subjects).
    public func hasTruth(_ id: String) throws -> Bool { try group(id).exists(SubjectTruth.group) }

    /// The subject's exact truth (`/subjects/<id>/truth`), nil when it has none. Only evaluation reads it.
    public func truth(of id: String) throws -> SubjectTruth? {
        let g = try group(id)
        let base = SubjectTruth.group
        guard g.exists(base) else { return nil }
        let shape = try geometry(of: id).shape
        func volume(_ name: String) throws -> [UInt8] {
            let path = base + "/labels/" + name
            guard g.exists(path) else { throw invalid(id, path, "is missing; a truth group holds labels/vertebrae and labels/structures") }
            let data = try g.openDataset(path).read(as: UInt8.self)
            guard data.shape == shape else { throw invalid(id, path, "shape \(data.shape) differs from the image's \(shape)") }
            return data.values
        }
        func column<T: HDF5Scalar>(_ name: String, _ type: T.Type) throws -> HDF5Array<T> {
            let path = base + "/vertebrae/" + name
            guard g.exists(path) else { throw invalid(id, path, "is missing; a truth table holds level_id, centroid_mm and class") }
            return try g.openDataset(path).read(as: type)
        }
        let levels = try column("level_id", Int32.self).values
        let centroids = try column("centroid_mm", Double.self), classes = try column("class", Int32.self).values
        guard centroids.shape == [levels.count, 3] else {
            throw invalid(id, base + "/vertebrae/centroid_mm", "shape \(centroids.shape), expected [\(levels.count), 3] (one row per level_id)")
        }
        guard classes.count == levels.count else { throw invalid(id, base + "/vertebrae/class", "has \(classes.count) rows, level_id has \(levels.count)") }
        let vertebrae = try levels.indices.map { i in
            let level: VertebraLevel
            do { level = try VertebraLevel(id: Int(levels[i])) } catch { throw invalid(id, base + "/vertebrae/level_id", "row \(i): \(error)") }
            let centroid = Array(centroids.values[(3 * i)..<(3 * i + 3)])
            guard centroid.allSatisfy(\.isFinite) else { throw invalid(id, base + "/vertebrae/centroid_mm", "row \(i) (\(level.name)) is not finite") }
            guard header.classNames.indices.contains(Int(classes[i])) else {
                throw invalid(id, base + "/vertebrae/class", "row \(i) (\(level.name)) is \(classes[i]); there are \(header.classNames.count) class names")
            }
            return SubjectTruth.Vertebra(level: level, centroidMM: centroid, classIndex: Int(classes[i]))
        }
        let group = try g.openGroup(base)
        return SubjectTruth(vertebraLabels: try volume("vertebrae"), structureLabels: try volume("structures"), vertebrae: vertebrae,
                            source: group.hasAttribute("source") ? try group.readAttribute("source", as: String.self) : "")
    }

    /// A whole subject (without its truth group: see `truth(of:)`).
    public func subject(_ id: String) throws -> Subject {
        let g = try group(id)
        let geometry = try geometry(of: id)
        let n = geometry.voxelCount
        let image = try g.openDataset("image").read(as: Float.self).values
        func volume(_ path: String) throws -> [UInt8] {
            guard g.exists(path) else { return [UInt8](repeating: 0, count: n) }
            let data = try g.openDataset(path).read(as: UInt8.self)
            guard data.shape == geometry.shape else { throw invalid(id, path, "shape \(data.shape) differs from the image's \(geometry.shape)") }
            return data.values
        }
        var raters: [RaterLabels] = []
        if g.exists("raters") {
            let count = try g.openGroup("raters").children().count
            for r in 0..<count {
                raters.append(RaterLabels(vertebraLabels: try volume("raters/\(r)/vertebrae"), structureLabels: try volume("raters/\(r)/structures")))
            }
        }
        var subject = Subject(
            id: id, geometry: geometry, channelNames: header.channelNames, image: image,
            vertebraLabels: try volume("labels/vertebrae"), structureLabels: try volume("labels/structures"),
            vertebraAnnotated: try volume("annotated/vertebrae"), structureAnnotated: try volume("annotated/structures"),
            raters: raters, vertebrae: try vertebrae(of: id), classNames: header.classNames, annotationMode: try annotationMode(of: id))
        subject.tasks = try tasks(of: id)
        subject.structureDescriptors = try structureDescriptors(of: id)
        if g.exists("pseudo/structures") {
            let p = try g.openGroup("pseudo")
            subject.pseudoLabels = PseudoLabels(
                structures: try volume("pseudo/structures"),
                threshold: p.hasAttribute("threshold") ? try p.readAttribute("threshold", as: Double.self) : .nan,
                samples: p.hasAttribute("samples") ? Int(try p.readAttribute("samples", as: Int64.self)) : 0,
                checkpoint: p.hasAttribute("checkpoint") ? try p.readAttribute("checkpoint", as: String.self) : "")
        }
        return subject
    }

    /// A crop of every channel, `[C, size...]`, starting at voxel `offset` ([d, h, w]).
    public func imageCrop(_ id: String, offset: [Int], size: [Int]) throws -> [Float] {
        if cache != nil || !view.isStored {
            let image = try wholeImage(id)
            try checkCrop(id, offset, size, Array(image.shape.dropFirst()))
            return VolumeCache.crop(image.values, shape: image.shape, offset: [0] + offset, size: [image.shape[0]] + size)
        }
        let image = try group(id).openDataset("image")
        let shape = try image.shape
        try checkCrop(id, offset, size, Array(shape.dropFirst()))
        return try image.read(as: Float.self, offset: [0] + offset, count: [shape[0]] + size).values
    }

    /// A crop of a `[D, H, W]` label or mask volume (e.g. "labels/vertebrae", "annotated/structures"); zeros when
    /// the subject has no such volume.
    public func volumeCrop(_ id: String, _ path: String, offset: [Int], size: [Int]) throws -> [UInt8] {
        let view = view
        if cache != nil || !view.isStored {
            // The loader reads the image first, so its cached entry gives the shape without another file access.
            let shape = Array(try wholeImage(id).shape.dropFirst())
            try checkCrop(id, offset, size, shape)
            let load = { () throws -> VolumeCache.Volume<UInt8> in
                let g = try self.group(id)
                guard g.exists(path) else { return VolumeCache.Volume(values: [], shape: []) }
                let whole = try g.openDataset(path).read(as: UInt8.self)
                guard let spacing = view.spacingMM else { return VolumeCache.Volume(values: whole.values, shape: whole.shape) }
                let stored = try self.storedGeometry(of: id), target = stored.resampled(toSpacingMM: spacing)
                guard whole.shape == stored.shape else { return VolumeCache.Volume(values: whole.values, shape: whole.shape) }
                let values = Resampler.resampleLabels(whole.values, from: stored.shape, to: target.shape,
                                                      interpolation: SpacingRule.interpolation(fromMM: stored.spacingMM, toMM: target.spacingMM))
                return VolumeCache.Volume(values: values, shape: target.shape)
            }
            let volume = try cache.map { try $0.volume(id + "/" + path, load: load) } ?? load()
            if volume.shape.isEmpty { return [UInt8](repeating: 0, count: size.reduce(1, *)) }
            guard volume.shape == shape else {
                throw DatasetError.invalidContent(file: url.path, object: "subjects/\(id)/\(path)", message: "shape \(volume.shape) differs from the image's \(shape)")
            }
            return VolumeCache.crop(volume.values, shape: shape, offset: offset, size: size)
        }
        let g = try group(id)
        let shape = Array(try g.openDataset("image").shape.dropFirst())
        try checkCrop(id, offset, size, shape)
        guard g.exists(path) else { return [UInt8](repeating: 0, count: size.reduce(1, *)) }
        return try g.openDataset(path).read(as: UInt8.self, offset: offset, count: size).values
    }

    /// The subject's whole `[C, D, H, W]` image as the view presents it, from the volume cache when there is one
    /// (read on a miss).
    private func wholeImage(_ id: String) throws -> VolumeCache.Volume<Float> {
        let view = view
        let load = { () throws -> VolumeCache.Volume<Float> in
            let whole = try self.group(id).openDataset("image").read(as: Float.self)
            var (values, shape) = (whole.values, whole.shape)
            if let channels = view.channels, shape.count == 4 {
                let n = shape.dropFirst().reduce(1, *)
                values = channels.flatMap { values[($0 * n)..<(($0 + 1) * n)] }
                shape[0] = channels.count
            }
            if let spacing = view.spacingMM, shape.count == 4 {
                let stored = try self.storedGeometry(of: id), target = stored.resampled(toSpacingMM: spacing)
                values = Resampler.resample(values, channels: shape[0], from: stored.shape, to: target.shape,
                                            interpolation: SpacingRule.interpolation(fromMM: stored.spacingMM, toMM: target.spacingMM))
                shape = [shape[0]] + target.shape
            }
            return VolumeCache.Volume(values: values, shape: shape)
        }
        return try cache.map { try $0.volume(id + "/image", load: load) } ?? load()
    }

    private func checkCrop(_ id: String, _ offset: [Int], _ size: [Int], _ shape: [Int]) throws {
        guard offset.count == 3, size.count == 3,
              (0..<3).allSatisfy({ offset[$0] >= 0 && size[$0] > 0 && offset[$0] + size[$0] <= shape[$0] }) else {
            throw DatasetError.cropOutOfBounds(file: url.path, subject: id, offset: offset, size: size, shape: shape)
        }
    }

    /// The splits stored in the file, by name.
    public func splits() throws -> [Split] {
        guard file.kind(of: "splits") == .group else { return [] }
        return try file.openGroup("splits").children().filter { $0.kind == .group }.map { child in
            let g = try file.openGroup("splits/" + child.name)
            func ids(_ name: String) throws -> [String] { g.exists(name) ? try g.openDataset(name).readStrings().values : [] }
            return Split(name: child.name, train: try ids("train"), val: try ids("val"), test: try ids("test"),
                         method: g.hasAttribute("method") ? try g.readAttribute("method", as: String.self) : "")
        }
    }

    public func provenance() throws -> Provenance {
        let p = try file.openGroup("provenance")
        func text(_ name: String) throws -> String { p.hasAttribute(name) ? try p.readAttribute(name, as: String.self) : "" }
        var sources: [Provenance.SourceFile] = []
        if p.exists("source_files") {
            let files = try p.openDataset("source_files").readStrings().values
            let sums = p.exists("source_sha256") ? try p.openDataset("source_sha256").readStrings().values : []
            sources = files.enumerated().map { Provenance.SourceFile(path: $1, sha256: sums.indices.contains($0) ? sums[$0] : "") }
        }
        return Provenance(command: try text("command"), recipe: p.hasAttribute("recipe") ? try text("recipe") : nil,
                          sourceFiles: sources, toolVersion: try text("tool_version"), created: try text("created"))
    }

    /// The file's structure as JSON, for schema validation.
    public func describe() throws -> JSONValue { try HDF5Tree.describe(file) }
}
