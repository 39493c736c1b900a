import Foundation

/// What an import wrote.
public struct ImportSummary: Equatable, Sendable {
    public var output: URL
    public var subjects: Int
    public var vertebrae: Int
    /// Vertebrae with a class.
    public var classifiedVertebrae: Int
    public var sourceFiles: Int
    public var seconds: Double
}

/// Builds a Rachis dataset file from an import manifest.
///
/// Per subject: every channel is read and reoriented to PIR; every channel and label file must share the first
/// channel's grid (shape, spacing, origin, direction); labels must be integers, vertebra labels VerSe level ids
/// (after the label mapping), structure labels 0-5. Annotation masks: `full`, `box`, `eroded` and `dilated`
/// labels count as given everywhere in the label file (background included); `partial` labels only where they are
/// non-zero (their background is unknown); a subject without a structures file has no known structure voxel.
/// The vertebra table lists, cranial to caudal, every level found in the labels, the centroid file or the classes;
/// centroids come from the centroid file, else from the mean world position of the level's voxels.
public enum DatasetImporter {
    /// Relative tolerance of spacing and absolute tolerances of origin (mm) and direction between files.
    static let spacingTolerance = 1e-4, originToleranceMM = 1e-3, directionTolerance = 1e-4

    /// Writes the dataset atomically: nothing is left at `output` on failure, and an existing file is replaced only
    /// with `overwrite`. `command` is the command line stored in the provenance.
    public static func run(_ manifest: ImportManifest, to output: URL, overwrite: Bool, command: String) throws -> ImportSummary {
        let start = Date()
        if FileManager.default.fileExists(atPath: output.path), !overwrite { throw DatasetError.fileExists(output.path) }
        let mapping = try manifest.labelMapping.map { try LabelMapping.load(contentsOf: manifest.url($0)) }
        let paths = [manifest.file] + (manifest.labelMapping.map { [manifest.url($0)] } ?? [])
            + manifest.subjects.flatMap { entry in
                (entry.images + [entry.vertebrae, entry.structures, entry.centroids].compactMap { $0 }).map(manifest.url)
            }
        let sources = try paths.map { Provenance.SourceFile(path: $0.standardizedFileURL.path, sha256: try SHA256.hex(contentsOf: $0)) }
        let header = DatasetHeader(name: manifest.name, classNames: manifest.classNames, channelNames: manifest.channels)
        let provenance = Provenance(command: command, recipe: manifest.document.jsonText, sourceFiles: sources)
        var vertebrae = 0, classified = 0
        try DatasetFile.create(at: output, header: header, provenance: provenance, overwrite: overwrite) { writer in
            for entry in manifest.subjects {
                let subject = try makeSubject(entry, manifest: manifest, mapping: mapping)
                try writer.add(subject)
                vertebrae += subject.vertebrae.count
                classified += subject.vertebrae.filter { $0.classIndex != nil }.count
            }
        }
        return ImportSummary(output: output, subjects: manifest.subjects.count, vertebrae: vertebrae, classifiedVertebrae: classified,
                             sourceFiles: sources.count, seconds: Date().timeIntervalSince(start))
    }

    /// Reads one subject's files and builds the subject.
    public static func makeSubject(_ entry: ImportManifest.Entry, manifest: ImportManifest, mapping: LabelMapping?) throws -> Subject {
        var reference: (path: String, geometry: Geometry)?
        func read(_ path: String) throws -> ImageVolume {
            let url = manifest.url(path)
            let volume = try ImageIO.read(url)
            guard volume.channels == 1 else { throw ImportError.multiChannel(file: url.path, channels: volume.channels) }
            if let reference {
                try checkSameGrid(volume.geometry, file: url.path, reference: reference.geometry, referenceFile: reference.path)
            } else {
                reference = (url.path, volume.geometry)
            }
            return volume
        }
        let image = try entry.images.flatMap { try read($0).voxels }
        let geometry = reference!.geometry
        let n = geometry.voxelCount
        let labelledEverywhere = !entry.annotation.leavesUnlabelledVoxelsUnannotated

        var vertebraLabels = [UInt8](repeating: 0, count: n), vertebraAnnotated = vertebraLabels
        if let path = entry.vertebrae {
            let file = manifest.url(path).path
            vertebraLabels = try LabelMapping.levels(read(path).intLabels(path: file), file: file, mapping: mapping)
            vertebraAnnotated = vertebraLabels.map { labelledEverywhere || $0 != 0 ? 1 : 0 }
        }
        var structureLabels = [UInt8](repeating: 0, count: n), structureAnnotated = structureLabels
        if let path = entry.structures {
            let file = manifest.url(path).path
            let values = try read(path).intLabels(path: file)
            if let bad = values.first(where: { !(0..<Int32(StructureLabel.allCases.count)).contains($0) }) {
                throw ImportError.unknownStructure(file: file, value: Int(bad))
            }
            structureLabels = values.map { UInt8($0) }
            structureAnnotated = structureLabels.map { labelledEverywhere || $0 != 0 ? 1 : 0 }
        }

        let (computed, cut) = voxelCentroids(vertebraLabels, geometry: geometry)
        let given = try entry.centroids.map { try VerSeCentroids.load(contentsOf: manifest.url($0), geometry: geometry) } ?? [:]
        let levels = Set(computed.keys).union(given.keys).union(entry.classes.keys).sorted()
        let records = levels.map { level in
            // A vertebra of a labelled subject that its label file leaves out is unlabelled.
            let annotation: AnnotationMode = entry.annotation.hasVoxelLabels && computed[level] == nil ? .unlabelled : entry.annotation
            return VertebraRecord(level: level, centroidMM: given[level] ?? computed[level], classIndex: entry.classes[level],
                                  annotation: annotation, cutByFieldOfView: cut.contains(level))
        }
        return Subject(id: entry.id, geometry: geometry, channelNames: manifest.channels, image: image,
                       vertebraLabels: vertebraLabels, structureLabels: structureLabels,
                       vertebraAnnotated: vertebraAnnotated, structureAnnotated: structureAnnotated,
                       vertebrae: records, classNames: manifest.classNames, annotationMode: entry.annotation)
    }

    /// Mean world position of each level's voxels, and the levels touching the top or bottom row (H edges).
    static func voxelCentroids(_ labels: [UInt8], geometry: Geometry) -> (centroids: [VertebraLevel: [Double]], cut: Set<VertebraLevel>) {
        let (nh, nw) = (geometry.shape[1], geometry.shape[2])
        var sums = [SIMD4<Double>](repeating: .zero, count: 256), cutIDs: Set<UInt8> = []
        for (i, v) in labels.enumerated() where v != 0 {
            let h = (i / nw) % nh
            sums[Int(v)] += SIMD4(Double(i / (nh * nw)), Double(h), Double(i % nw), 1)
            if h == 0 || h == nh - 1 { cutIDs.insert(v) }
        }
        var centroids: [VertebraLevel: [Double]] = [:]
        for id in VertebraLevel.anatomicalIDs where sums[id].w > 0 {
            let s = sums[id]
            centroids[try! VertebraLevel(id: id)] = geometry.worldMM(index: [s.x / s.w, s.y / s.w, s.z / s.w])
        }
        return (centroids, Set(cutIDs.map { try! VertebraLevel(id: Int($0)) }))
    }

    /// Throws `geometryMismatch` naming both files and the first field that differs beyond the tolerances.
    public static func checkSameGrid(_ g: Geometry, file: String, reference r: Geometry, referenceFile: String) throws {
        func mismatch(_ field: String, _ found: Any, _ expected: Any) -> ImportError {
            .geometryMismatch(file: file, reference: referenceFile, field: field, found: "\(found)", expected: "\(expected)")
        }
        if g.shape != r.shape { throw mismatch("shape [D, H, W] (PIR, after reorientation)", g.shape, r.shape) }
        if zip(g.spacingMM, r.spacingMM).contains(where: { abs($0 - $1) > spacingTolerance * max(abs($0), abs($1)) }) {
            throw mismatch("spacing (mm)", g.spacingMM, r.spacingMM)
        }
        if zip(g.originMM, r.originMM).contains(where: { abs($0 - $1) > originToleranceMM }) {
            throw mismatch("origin (mm)", g.originMM, r.originMM)
        }
        if zip(g.direction.joined(), r.direction.joined()).contains(where: { abs($0 - $1) > directionTolerance }) {
            throw mismatch("direction", g.direction, r.direction)
        }
    }
}
