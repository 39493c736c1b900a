import Foundation

/// VerSe centroid files: a JSON list whose first element is `{"direction": ["P", "I", "R"]}` (the axis codes of the
/// voxel coordinates X, Y, Z: the image reoriented to those codes) followed by `{"label": id, "X": x, "Y": y, "Z": z}`.
///
/// Rachis's canonical arrays are PIR, `[d, h, w]` with D toward Right, H toward Inferior, W toward Posterior. Each
/// code picks the array axis of its anatomical axis (R/L → d, I/S → h, P/A → w); a code opposite to ours (L, S, A)
/// counts from the other end as VerSe's own code does: `index = n − coordinate`, n the image's size along that axis.
/// VerSe's `reorient_centroids_to` (utils/data_utilities.py, github.com/anjany/verse) flips an axis with
/// `size − v`, so a file it wrote in ASL, RAS, LPS, ... imports where VerSe's code puts it. That is half a voxel
/// beyond the mirror image of a voxel centre (`n − 1 − v`): a file from a tool that flips with `n − 1 − v` lands
/// one voxel off along each flipped axis. Files in PIR (VerSe's own orientation) are read as they are.
public enum VerSeCentroids {
    /// Our array axis and whether the code runs along it (true) or against it (false), per axis code.
    static let axes: [Character: (axis: Int, along: Bool)] = [
        "R": (0, true), "L": (0, false), "I": (1, true), "S": (1, false), "P": (2, true), "A": (2, false),
    ]

    /// Centroids in RAS+ world mm by level, for an image on `geometry` (canonical PIR).
    public static func load(contentsOf url: URL, geometry: Geometry) throws -> [VertebraLevel: [Double]] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw FileManager.default.fileExists(atPath: url.path)
                ? ImportError.unreadable(file: url.path, reason: error.localizedDescription) : ImageIOError.missingFile(path: url.path)
        }
        let document: JSONValue
        do { document = try JSONValue.parse(data, source: url.path) } catch {
            throw ImportError.unreadable(file: url.path, reason: "\(error)")
        }
        return try centroids(document, file: url.path, geometry: geometry)
    }

    public static func centroids(_ document: JSONValue, file: String, geometry: Geometry) throws -> [VertebraLevel: [Double]] {
        func invalid(_ field: String, _ message: String) -> ImportError { .invalidValue(file: file, field: field, message: message) }
        guard case let .array(items) = document, case let .array(codes)? = items.first?["direction"] else {
            throw invalid("[0].direction", "expected a list whose first element is {\"direction\": [\"P\", \"I\", \"R\"]}")
        }
        let letters = codes.compactMap { if case let .string(s) = $0, s.count == 1 { Character(s.uppercased()) } else { nil } }
        let mapped = letters.compactMap { axes[$0] }
        guard mapped.count == 3, Set(mapped.map(\.axis)).count == 3 else {
            throw invalid("[0].direction", "\(codes.map(\.jsonText)) is not three axis codes of different axes (R/L, A/P, S/I)")
        }
        var out: [VertebraLevel: [Double]] = [:]
        for (i, item) in items.enumerated().dropFirst() {
            guard case let .number(label)? = item["label"] else { throw invalid("[\(i)].label", "missing or not a number") }
            let level: VertebraLevel
            guard let id = Int(exactly: label) else { throw invalid("[\(i)].label", "\(label) is not a level id (an integer)") }
            do { level = try VertebraLevel(id: id) } catch { throw ImportError.unknownLevel(file: file, value: id) }
            var index = [0.0, 0.0, 0.0]
            for (k, key) in ["X", "Y", "Z"].enumerated() {
                guard case let .number(v)? = item[key], v.isFinite else { throw invalid("[\(i)].\(key)", "missing or not a finite number") }
                let (axis, along) = mapped[k]
                index[axis] = along ? v : Double(geometry.shape[axis]) - v
            }
            out[level] = geometry.worldMM(index: index)
        }
        return out
    }
}
