import Foundation
import Yams

/// What `rachis dataset import` reads: the dataset's name, class and channel names, and per subject its image
/// files (one per channel) and optional labels, centroids and classes. Paths are relative to the manifest's
/// folder. YAML (or JSON) is checked against `schemas/import-manifest.schema.json`, so an unknown key is an error
/// naming it. A CSV manifest (header `id,annotation,vertebrae,structures,centroids,classes,image:<channel>...`,
/// classes as `L1=1;L2=0`) is converted to the same document first.
public struct ImportManifest: Equatable, Sendable {
    public struct Entry: Equatable, Sendable {
        public var id: String
        /// Image file per channel, in the dataset's channel order.
        public var images: [String]
        public var vertebrae: String?
        public var structures: String?
        public var centroids: String?
        /// Class index per level named in the manifest.
        public var classes: [VertebraLevel: Int]
        public var annotation: AnnotationMode
    }

    /// The manifest file.
    public var file: URL
    public var name: String
    public var classNames: [String]
    public var channels: [String]
    public var labelMapping: String?
    public var subjects: [Entry]
    /// The manifest as JSON (a CSV manifest converted): stored in the dataset's provenance.
    public var document: JSONValue

    /// The CSV columns besides `image:<channel>`.
    public static let csvColumns = ["id", "annotation", "vertebrae", "structures", "centroids", "classes"]

    /// Reads a `.csv` manifest as CSV (its class names from `classNames`), anything else as YAML or JSON.
    public static func load(contentsOf url: URL, classNames: [String]? = nil) throws -> ImportManifest {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw FileManager.default.fileExists(atPath: url.path)
                ? ImportError.unreadable(file: url.path, reason: error.localizedDescription) : ImageIOError.missingFile(path: url.path)
        }
        guard let text = String(data: data, encoding: .utf8) else { throw ImportError.unreadable(file: url.path, reason: "not UTF-8 text") }
        let document = url.pathExtension.lowercased() == "csv"
            ? try csvDocument(text, file: url, classNames: classNames ?? [])
            : try yamlDocument(text, file: url.path)
        if classNames != nil, url.pathExtension.lowercased() != "csv" {
            throw ImportError.invalidValue(file: url.path, field: "classNames", message: "--class-names applies to CSV manifests; a YAML manifest lists its classNames")
        }
        return try ImportManifest(document: document, file: url)
    }

    /// The resolved URL of a path written in the manifest.
    public func url(_ path: String) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path) : file.deletingLastPathComponent().appendingPathComponent(path)
    }

    init(document: JSONValue, file: URL) throws {
        let problems = try JSONSchema.shipped("import-manifest.schema.json").validate(document)
        guard problems.isEmpty else { throw ImportError.invalidManifest(file: file.path, problems: problems.map(\.description)) }
        func strings(_ value: JSONValue?) -> [String] {
            guard case let .array(items)? = value else { return [] }
            return items.compactMap { if case let .string(s) = $0 { s } else { nil } }
        }
        func string(_ value: JSONValue?) -> String? { if case let .string(s)? = value { s } else { nil } }
        let path = file.path
        self.file = file
        self.document = document
        name = string(document["name"]) ?? ""
        classNames = strings(document["classNames"])
        channels = strings(document["channels"])
        labelMapping = string(document["labelMapping"])
        guard Set(channels).count == channels.count else {
            throw ImportError.invalidValue(file: path, field: "channels", message: "channel names repeat: \(channels)")
        }
        guard case let .array(items)? = document["subjects"] else { throw ImportError.invalidManifest(file: path, problems: ["subjects: missing"]) }
        var seen: Set<String> = []
        subjects = try items.enumerated().map { [channels, classNames] index, item in
            let id = string(item["id"]) ?? ""
            let field = "subjects/\(index) (\(id))"
            guard seen.insert(id).inserted else { throw ImportError.invalidValue(file: path, field: field, message: "subject id \(id) repeats") }
            guard case let .object(images)? = item["images"], Set(images.keys) == Set(channels) else {
                let keys = item["images"].flatMap { if case let .object(o) = $0 { o.keys.sorted() } else { nil } } ?? []
                throw ImportError.invalidValue(file: path, field: field + "/images",
                                               message: "has channels \(keys), expected one file for each of \(channels)")
            }
            var classes: [VertebraLevel: Int] = [:]
            if case let .object(table)? = item["classes"] {
                for (levelName, value) in table.sorted(by: { $0.key < $1.key }) {
                    let level: VertebraLevel
                    do { level = try VertebraLevel(name: levelName) } catch let error as VertebraLevel.Error {
                        throw ImportError.invalidValue(file: path, field: field + "/classes/\(levelName)", message: error.description)
                    }
                    let classIndex: Int? = switch value {
                    case let .number(n): Int(exactly: n).flatMap { classNames.indices.contains($0) ? $0 : nil }
                    case let .string(s): classNames.firstIndex(of: s)
                    default: nil
                    }
                    guard let classIndex else {
                        throw ImportError.invalidValue(file: path, field: field + "/classes/\(levelName)",
                                                       message: "\(value.jsonText) is neither a class index 0..<\(classNames.count) nor one of the class names \(classNames)")
                    }
                    classes[level] = classIndex
                }
            }
            let vertebrae = string(item["vertebrae"]), structures = string(item["structures"])
            let hasLabels = vertebrae != nil || structures != nil
            let annotation = string(item["annotation"]).flatMap(AnnotationMode.init(rawValue:))
                ?? (hasLabels ? .full : classes.isEmpty ? .unlabelled : .classOnly)
            guard annotation.isImportable else {
                throw ImportError.invalidValue(file: path, field: field + "/annotation", message: "\(annotation.rawValue) subjects cannot be imported; use "
                    + AnnotationMode.allCases.filter(\.isImportable).map(\.rawValue).joined(separator: ", "))
            }
            guard annotation.hasVoxelLabels == hasLabels else {
                let labelled = AnnotationMode.allCases.filter { $0.isImportable && $0.hasVoxelLabels }.map(\.rawValue)
                throw ImportError.invalidValue(file: path, field: field + "/annotation", message: annotation.hasVoxelLabels
                    ? "\(annotation.rawValue) needs a vertebrae or structures label file"
                    : "\(annotation.rawValue) subjects carry no voxel labels; remove vertebrae/structures or use "
                        + labelled.dropLast().joined(separator: ", ") + " or " + labelled.last!)
            }
            return Entry(id: id, images: channels.map { string(images[$0]) ?? "" }, vertebrae: vertebrae, structures: structures,
                         centroids: string(item["centroids"]), classes: classes, annotation: annotation)
        }
    }

    /// Parses YAML (JSON is YAML too) into a JSON document: plain scalars become numbers, booleans or null as YAML
    /// resolves them, mapping keys are always strings.
    public static func yamlDocument(_ text: String, file: String) throws -> JSONValue {
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch { throw ImportError.unreadable(file: file, reason: "not valid YAML: \(error)") }
        guard let node else { throw ImportError.unreadable(file: file, reason: "the file is empty") }
        func convert(_ node: Node) -> JSONValue {
            switch node {
            case let .mapping(mapping):
                return .object(Dictionary(mapping.map { ($0.key.string ?? "", convert($0.value)) }, uniquingKeysWith: { a, _ in a }))
            case let .sequence(sequence):
                return .array(sequence.map(convert))
            case let .scalar(scalar):
                switch Tag.Name(rawValue: node.tag.description) {
                case .int: if let v = node.int { return .number(Double(v)) }
                case .float: if let v = node.float { return .number(v) }
                case .bool: if let v = node.bool { return .bool(v) }
                case .null: return .null
                default: break
                }
                return .string(scalar.string)
            }
        }
        return convert(node)
    }

    /// Converts a CSV manifest to the YAML form's document. Cells are comma-separated without quoting (paths and
    /// names must not hold commas); empty cells are absent fields.
    static func csvDocument(_ text: String, file: URL, classNames: [String]) throws -> JSONValue {
        let rows = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard let header = rows.first?.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingCharacters(in: .whitespaces) }) else {
            throw ImportError.unreadable(file: file.path, reason: "the file is empty")
        }
        for column in header where !csvColumns.contains(column) && !(column.hasPrefix("image:") && column.count > 6) {
            throw ImportError.invalidManifest(file: file.path, problems: ["header: unknown column \"\(column)\"; columns: \(csvColumns.joined(separator: ", ")), image:<channel>"])
        }
        if let repeated = Dictionary(grouping: header, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
            throw ImportError.invalidManifest(file: file.path, problems: ["header: column \"\(repeated)\" repeats"])
        }
        let channels = header.filter { $0.hasPrefix("image:") }.map { String($0.dropFirst(6)) }
        let subjects: [JSONValue] = try rows.dropFirst().enumerated().map { index, row in
            let cells = row.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == header.count else {
                throw ImportError.invalidValue(file: file.path, field: "row \(index + 2)", message: "\(cells.count) cells, the header has \(header.count)")
            }
            var subject: [String: JSONValue] = [:], images: [String: JSONValue] = [:]
            for (column, cell) in zip(header, cells) where !cell.isEmpty {
                if column.hasPrefix("image:") {
                    images[String(column.dropFirst(6))] = .string(cell)
                } else if column == "classes" {
                    var classes: [String: JSONValue] = [:]
                    for pair in cell.split(separator: ";") {
                        let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                        guard parts.count == 2, !parts[0].isEmpty else {
                            throw ImportError.invalidValue(file: file.path, field: "row \(index + 2) classes", message: "\"\(pair)\" is not LEVEL=CLASS (e.g. L1=1;L2=0)")
                        }
                        classes[parts[0]] = Int(parts[1]).map { .number(Double($0)) } ?? .string(parts[1])
                    }
                    subject["classes"] = .object(classes)
                } else {
                    subject[column] = .string(cell)
                }
            }
            subject["images"] = .object(images)
            return .object(subject)
        }
        return .object([
            "name": .string(file.deletingPathExtension().lastPathComponent), "classNames": .array(classNames.map { .string($0) }),
            "channels": .array(channels.map { .string($0) }), "subjects": .array(subjects),
        ])
    }
}
