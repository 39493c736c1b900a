import Foundation

/// Checks a dataset file against its schema and its content rules, listing every problem rather than stopping
/// at the first: shapes, geometry, level ids, class indices, each centroid inside its vertebra, no NaN or Inf,
/// splits that name existing subjects once.
public struct DatasetValidator {
    public struct Problem: Equatable, Sendable, CustomStringConvertible {
        /// The HDF5 object (`/subjects/s001/image`) or schema location the problem is about.
        public var object: String
        public var message: String
        public var description: String { "\(object): \(message)" }
    }

    /// How far (in voxels) a centroid may sit from its vertebra's labelled voxels: partial-volume edges and
    /// eroded masks put a true centroid just outside the label.
    public var centroidToleranceVoxels = 1

    public init() {}

    public func validate(_ url: URL) throws -> [Problem] {
        let reader = try DatasetReader(url: url)
        return try validateFile(reader) + validate(subjects: reader.subjectIDs, in: reader)
    }

    /// The content checks of the given subjects.
    public func validate(subjects: [String], in reader: DatasetReader) throws -> [Problem] {
        var problems: [Problem] = []
        for id in subjects {
            do {
                problems += try check(subject: id, in: reader)
            } catch {
                problems.append(Problem(object: "/subjects/\(id)", message: "cannot be read: \(error)"))
            }
        }
        return problems
    }

    /// The checks of the file as a whole: the HDF5 layout against the schema, and the splits.
    public func validateFile(_ reader: DatasetReader) throws -> [Problem] {
        var problems: [Problem] = []
        let schema = try JSONSchema.shipped("dataset.schema.json")
        for violation in schema.validate(try reader.describe()) {
            problems.append(Problem(object: "layout " + Self.objectPath(violation.path), message: violation.message))
        }
        let known = Set(reader.subjectIDs)
        for split in try reader.splits() {
            let parts = [("train", split.train), ("val", split.val), ("test", split.test)]
            for (part, ids) in parts {
                for id in ids where !known.contains(id) {
                    problems.append(Problem(object: "/splits/\(split.name)/\(part)", message: "names unknown subject \"\(id)\""))
                }
                for id in Set(ids) where ids.filter({ $0 == id }).count > 1 {
                    problems.append(Problem(object: "/splits/\(split.name)/\(part)", message: "lists \"\(id)\" more than once"))
                }
            }
            for (i, a) in parts.enumerated() {
                for b in parts.dropFirst(i + 1) {
                    let shared = Set(a.1).intersection(b.1)
                    if !shared.isEmpty {
                        problems.append(Problem(object: "/splits/\(split.name)", message: "\(a.0) and \(b.0) share \(shared.sorted().joined(separator: ", "))"))
                    }
                }
            }
        }
        return problems
    }

    /// Turns a JSON pointer into the tree description (`/groups/subjects/groups/s1/datasets/image/shape`) into an
    /// HDF5 path with the field (`/subjects/s1/image shape`).
    static func objectPath(_ pointer: String) -> String {
        var parts = pointer.split(separator: "/").map(String.init)
        var path: [String] = []
        var suffix: [String] = []
        while !parts.isEmpty {
            let key = parts.removeFirst()
            if key == "groups" || key == "datasets", !parts.isEmpty {
                path.append(parts.removeFirst())
            } else if key == "attributes", !parts.isEmpty {
                suffix.append("@" + parts.removeFirst())
            } else {
                suffix.append(key)
            }
        }
        return "/" + path.joined(separator: "/") + (suffix.isEmpty ? "" : " " + suffix.joined(separator: " "))
    }

    func check(subject id: String, in reader: DatasetReader) throws -> [Problem] {
        var problems: [Problem] = []
        func problem(_ object: String, _ message: String) { problems.append(Problem(object: "/subjects/\(id)/\(object)", message: message)) }
        let subject = try reader.subject(id)
        let geometry = subject.geometry
        let n = geometry.voxelCount

        if subject.image.count != reader.header.channelNames.count * n {
            problem("image", "has \(subject.image.count / Swift.max(n, 1)) channels, the dataset names \(reader.header.channelNames.count)")
        }
        let nonFinite = subject.image.reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
        if nonFinite > 0 { problem("image", nonFinite == 1 ? "1 voxel is NaN or Inf" : "\(nonFinite) voxels are NaN or Inf") }

        let d = geometry.direction
        for a in 0..<3 {
            for b in a..<3 {
                let dot = (0..<3).reduce(0.0) { $0 + d[$1][a] * d[$1][b] }
                if abs(dot - (a == b ? 1 : 0)) > 1e-4 {
                    problem("@direction", "columns are not orthonormal (column \(a) · column \(b) = \(dot))")
                }
            }
        }

        let validLevels = Set(VertebraLevel.anatomicalIDs.map(UInt8.init)).union([0])
        for (name, values) in [("labels/vertebrae", subject.vertebraLabels)] + subject.raters.enumerated().map({ ("raters/\($0)/vertebrae", $1.vertebraLabels) }) {
            let unknown = Set(values).subtracting(validLevels)
            if !unknown.isEmpty { problem(name, "unknown level ids \(unknown.sorted()) (VerSe ids are 1-26 and 28)") }
        }
        let structureCount = reader.header.structureNames.count
        for (name, values) in [("labels/structures", subject.structureLabels)] + subject.raters.enumerated().map({ ("raters/\($0)/structures", $1.structureLabels) }) {
            if let maximum = values.max(), Int(maximum) >= structureCount {
                problem(name, "label \(maximum) exceeds the \(structureCount) structure names")
            }
        }
        for (name, values) in [("annotated/vertebrae", subject.vertebraAnnotated), ("annotated/structures", subject.structureAnnotated)] {
            if let bad = values.first(where: { $0 > 1 }) { problem(name, "holds \(bad); annotation masks are 0 or 1") }
        }

        if let pseudo = subject.pseudoLabels?.structures, pseudo.count == subject.structureAnnotated.count {
            if let bad = pseudo.first(where: { $0 > 1 }) { problem("pseudo/structures", "holds \(bad); a pseudo-label mask is 0 or 1") }
            let unannotated = zip(pseudo, subject.structureAnnotated).filter { $0 != 0 && $1 == 0 }.count
            if unannotated > 0 { problem("pseudo/structures", "\(unannotated) pseudo-labelled voxels are not marked in annotated/structures") }
        }

        for (row, d) in subject.structureDescriptors.enumerated() {
            if !(1..<structureCount).contains(d.structure) {
                problem("descriptors/structure", "row \(row) names structure \(d.structure); structures are 1...\(structureCount - 1)")
            }
            for (name, value) in [("size_mm3", d.sizeMM3), ("mean_distance_mm", d.meanDistanceMM), ("surface_mm2", d.surfaceMM2)] {
                if let value, !(value.isFinite && value >= 0) { problem("descriptors/" + name, "row \(row) is \(value); expected a finite value ≥ 0 (NaN when not given)") }
            }
            if let c = d.centroidMM {
                let index = geometry.index(worldMM: c)
                if !(0..<3).allSatisfy({ index[$0] > -0.5 && index[$0] < Double(geometry.shape[$0]) - 0.5 }) {
                    problem("descriptors/centroid_mm", "row \(row) centroid \(c.map { ($0 * 10).rounded() / 10 }) mm lies outside the image")
                }
            }
        }
        if Set(subject.structureDescriptors.map(\.structure)).count != subject.structureDescriptors.count {
            problem("descriptors/structure", "names a structure more than once")
        }

        let labelledLevels = Set(subject.vertebraLabels)
        var seen: Set<Int> = []
        let classCount = reader.header.classNames.count
        for record in subject.vertebrae {
            let level = record.level
            if !seen.insert(level.id).inserted { problem("vertebrae/level_id", "\(level.name) appears twice") }
            if let c = record.classIndex, !(0..<classCount).contains(c) {
                problem("vertebrae/class", "\(level.name) has class \(c); there are \(classCount) class names")
            }
            for c in record.raterClasses where c >= classCount {
                problem("vertebrae/rater_classes", "\(level.name) has a rater class \(c); there are \(classCount) class names")
            }
            guard let centroid = record.centroidMM else { continue }
            guard centroid.allSatisfy(\.isFinite) else { problem("vertebrae/centroid_mm", "\(level.name) centroid is not finite"); continue }
            let index = geometry.index(worldMM: centroid).map { Int(($0).rounded()) }
            guard (0..<3).allSatisfy({ index[$0] >= 0 && index[$0] < geometry.shape[$0] }) else {
                problem("vertebrae/centroid_mm", "\(level.name) centroid \(centroid.map { ($0 * 10).rounded() / 10 }) mm lies outside the image")
                continue
            }
            // Loose labels may leave a vertebra without voxels (an eroded sliver at the edge), and the centroid of a
            // vertebra cut by the field of view is that of a sliver, which need not lie inside it: nothing to check then.
            if !record.cutByFieldOfView, labelledLevels.contains(UInt8(level.id)), labelled(level.id, near: index, in: subject) == false {
                problem("vertebrae/centroid_mm", "\(level.name) centroid at voxel \(index) is not inside its vertebra's label")
            }
        }
        problems += checkTruth(subject: id, in: reader, geometry: geometry)
        return problems
    }

    /// The exact truth (`/subjects/<id>/truth`), when the subject has one: readable, valid labels, and each table
    /// centroid inside its vertebra's exact label (vertebrae cut by the field of view excepted).
    func checkTruth(subject id: String, in reader: DatasetReader, geometry: Geometry) -> [Problem] {
        let truth: SubjectTruth
        do {
            guard let read = try reader.truth(of: id) else { return [] }
            truth = read
        } catch {
            return [Problem(object: "/subjects/\(id)/truth", message: "cannot be read: \(error)")]
        }
        var problems: [Problem] = []
        func problem(_ object: String, _ message: String) { problems.append(Problem(object: "/subjects/\(id)/truth/\(object)", message: message)) }
        let validLevels = Set(VertebraLevel.anatomicalIDs.map(UInt8.init)).union([0])
        let unknown = Set(truth.vertebraLabels).subtracting(validLevels)
        if !unknown.isEmpty { problem("labels/vertebrae", "unknown level ids \(unknown.sorted()) (VerSe ids are 1-26 and 28)") }
        let structureCount = reader.header.structureNames.count
        if let maximum = truth.structureLabels.max(), Int(maximum) >= structureCount {
            problem("labels/structures", "label \(maximum) exceeds the \(structureCount) structure names")
        }
        let shape = geometry.shape
        var seen: Set<Int> = []
        for v in truth.vertebrae {
            if !seen.insert(v.level.id).inserted { problem("vertebrae/level_id", "\(v.level.name) appears twice") }
            let index = geometry.index(worldMM: v.centroidMM).map { Int($0.rounded()) }
            guard (0..<3).allSatisfy({ index[$0] >= 0 && index[$0] < shape[$0] }) else {
                problem("vertebrae/centroid_mm", "\(v.level.name) centroid \(v.centroidMM.map { ($0 * 10).rounded() / 10 }) mm lies outside the image")
                continue
            }
            let label = UInt8(v.level.id)
            var rows = Set<Int>(), present = false
            for (i, value) in truth.vertebraLabels.enumerated() where value == label {
                present = true
                rows.insert((i / shape[2]) % shape[1])
            }
            guard present else { problem("vertebrae/level_id", "\(v.level.name) has no voxel in labels/vertebrae"); continue }
            let cut = rows.contains(0) || rows.contains(shape[1] - 1)
            if !cut, !near(label, index, in: truth.vertebraLabels, shape: shape) {
                problem("vertebrae/centroid_mm", "\(v.level.name) centroid at voxel \(index) is not inside its vertebra's label")
            }
        }
        if Set(truth.vertebraLabels).subtracting([0]) != Set(truth.vertebrae.map { UInt8($0.level.id) }) {
            problem("vertebrae/level_id", "lists \(truth.vertebrae.map(\.level.name)) but labels/vertebrae holds \(Set(truth.vertebraLabels).subtracting([0]).sorted().map { (try? VertebraLevel(id: Int($0)))?.name ?? "\($0)" })")
        }
        return problems
    }

    /// Whether a voxel within the tolerance of `index` carries `label`.
    private func near(_ label: UInt8, _ index: [Int], in labels: [UInt8], shape: [Int]) -> Bool {
        let t = centroidToleranceVoxels
        for d in Swift.max(0, index[0] - t)...Swift.min(shape[0] - 1, index[0] + t) {
            for h in Swift.max(0, index[1] - t)...Swift.min(shape[1] - 1, index[1] + t) {
                for w in Swift.max(0, index[2] - t)...Swift.min(shape[2] - 1, index[2] + t) where labels[(d * shape[1] + h) * shape[2] + w] == label {
                    return true
                }
            }
        }
        return false
    }

    /// Whether a voxel within the tolerance of `index` carries `level`; nil when no annotated voxel is nearby
    /// (the label is unknown there: nothing to check).
    func labelled(_ level: Int, near index: [Int], in subject: Subject) -> Bool? {
        let shape = subject.geometry.shape
        let t = centroidToleranceVoxels
        var annotatedNearby = false
        for d in Swift.max(0, index[0] - t)...Swift.min(shape[0] - 1, index[0] + t) {
            for h in Swift.max(0, index[1] - t)...Swift.min(shape[1] - 1, index[1] + t) {
                for w in Swift.max(0, index[2] - t)...Swift.min(shape[2] - 1, index[2] + t) {
                    let i = (d * shape[1] + h) * shape[2] + w
                    if subject.vertebraLabels[i] == level { return true }
                    if subject.vertebraAnnotated[i] != 0 { annotatedNearby = true }
                }
            }
        }
        return annotatedNearby ? false : nil
    }
}

extension DatasetReader {
    /// Refuses what `rachis dataset validate` refuses, in the file as a whole (layout, splits) and in the subjects
    /// given: the one check every command that reads a dataset runs on what it reads, before it uses it. Each
    /// subject is checked once per reader, so a command may call this per subject as it reads them.
    public func requireValid(subjects: [String]) throws {
        let (checkFile, unchecked) = validation.pending(subjects)
        let validator = DatasetValidator()
        var problems = checkFile ? try validator.validateFile(self) : []
        problems += try validator.validate(subjects: unchecked, in: self)
        guard problems.isEmpty else {
            throw DatasetError.failsValidation(file: url.path, problems: problems.map(\.description))
        }
        validation.passed(file: checkFile, subjects: unchecked)
    }

    /// `requireValid(subjects:)` for every subject of the file.
    public func requireValid() throws { try requireValid(subjects: subjectIDs) }
}

/// What a `DatasetReader` has validated already.
final class ValidationMemo: @unchecked Sendable {
    private let lock = NSLock()
    private var file = false
    private var subjects: Set<String> = []

    /// Whether the file checks are still to run, and the subjects not yet checked (once each).
    func pending(_ ids: [String]) -> (file: Bool, subjects: [String]) {
        lock.lock()
        defer { lock.unlock() }
        var seen: Set<String> = []
        return (!file, ids.filter { !subjects.contains($0) && seen.insert($0).inserted })
    }

    func passed(file checked: Bool, subjects ids: [String]) {
        lock.lock()
        defer { lock.unlock() }
        if checked { file = true }
        subjects.formUnion(ids)
    }
}
