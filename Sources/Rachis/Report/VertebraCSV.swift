import Foundation

/// `vertebrae.csv` of a report: one row per vertebra across subjects (RFC 4180 quoting).
///
///     subject,level,level_id,x_mm,y_mm,z_mm,identification_confidence,p_<class>...,decision,evidence_inside,evidence_check,flags
///
/// `evidence_inside` is the attribution's positive mass inside the vertebra and `evidence_check` pass or fail, after
/// `rachis attribution validate` (empty before).
///
/// Class columns are the union of the subjects' class names in order of first appearance; a subject without a class
/// (or without classification) leaves its cells empty. Flags are joined with ";".
public enum VertebraCSV {
    /// A field quoted when it holds a comma, a double quote or a line break (quotes doubled).
    public static func field(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// The class columns for these subjects.
    public static func classNames(_ predictions: [SubjectPrediction]) -> [String] {
        var names: [String] = []
        for p in predictions { for name in p.classNames where !names.contains(name) { names.append(name) } }
        return names
    }

    public static func text(_ predictions: [SubjectPrediction]) -> String {
        let classes = classNames(predictions)
        let header = ["subject", "level", "level_id", "x_mm", "y_mm", "z_mm", "identification_confidence"]
            + classes.map { "p_\($0)" } + ["decision", "evidence_inside", "evidence_check", "flags"]
        var lines = [header.map(field).joined(separator: ",")]
        func number(_ v: Double?, _ digits: Int) -> String {
            guard let v, v.isFinite else { return "" }
            return String(format: "%.\(digits)f", v)
        }
        for p in predictions {
            for v in p.vertebrae {
                let centroid = (0..<3).map { v.centroidMM.indices.contains($0) ? number(v.centroidMM[$0], 3) : "" }
                let probabilities = classes.map { name -> String in
                    guard let k = p.classNames.firstIndex(of: name), let probs = v.classProbabilities, probs.indices.contains(k) else { return "" }
                    return number(probs[k], 6)
                }
                let decision = v.decision.flatMap { p.classNames.indices.contains($0) ? p.classNames[$0] : nil } ?? ""
                let row = [p.subjectID, v.level, String(v.levelID)] + centroid + [number(v.identificationConfidence, 6)]
                    + probabilities + [decision, number(v.attribution?.consistency.massInsidePositive, 6),
                                       v.attribution?.passed.map { $0 ? "pass" : "fail" } ?? "", v.flags.map(\.rawValue).joined(separator: ";")]
                lines.append(row.map(field).joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
