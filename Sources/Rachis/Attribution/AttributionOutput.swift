import Foundation

/// attribution.json, attribution.csv and the printed table of `rachis attribution validate`.
public enum AttributionOutput {
    public static func write(_ summary: AttributionSummary, to folder: URL) throws {
        try AtomicFile.write(try summary.prettyJSON(), to: folder.appendingPathComponent("attribution.json"))
        try AtomicFile.write(Data(csv(summary).utf8), to: folder.appendingPathComponent("attribution.csv"))
    }

    /// One row per decision.
    public static func csv(_ summary: AttributionSummary) -> String {
        func number(_ v: Double) -> String { v.isFinite ? String(format: "%.6g", v) : "" }
        var lines = ["subject,level,level_id,decision,probability,truth,mass_inside_positive,mass_inside_absolute,rank_accuracy,pointing_game,top_k_intersection,auc,mask_voxels,passed"]
        for r in summary.rows {
            let c = r.consistency
            lines.append([r.subjectID, r.level, "\(r.levelID)", r.decisionName, number(r.probability), r.truth.map { "\($0)" } ?? "",
                          number(c.massInsidePositive), number(c.massInsideAbsolute), number(c.rankAccuracy), number(c.pointingGame),
                          number(c.topKIntersection), number(c.auc), "\(c.maskVoxels)", r.passed.map { $0 ? "yes" : "no" } ?? ""]
                .map(csvField).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func csvField(_ s: String) -> String {
        s.contains(where: { ",\"\n".contains($0) }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    public static func table(_ s: AttributionSummary) -> String {
        func f(_ v: Double) -> String { v.isFinite ? String(format: "%.3f", v) : "n/a" }
        var lines = [
            "method \(s.settings.method.rawValue), \(s.regions) regions, margin \(f(s.marginMM)) mm, pass at mass inside >= \(f(s.passThreshold))",
            "decisions \(s.decisions), checked \(s.evaluated), failing \(s.failing) (\(f(s.failingFraction)); allowed \(f(s.maxFailingFraction))): \(s.passed ? "PASS" : "FAIL")",
            "mean mass inside (positive) \(f(s.means.massInsidePositive)), (absolute) \(f(s.means.massInsideAbsolute)), rank accuracy \(f(s.means.rankAccuracy)), pointing game \(f(s.means.pointingGame)), top-k \(f(s.means.topKIntersection)), AUC \(f(s.means.auc))",
            String(format: "%.2f s per decision", s.secondsPerDecision),
        ]
        if s.accuracy.isFinite { lines.insert("accuracy of the decisions against the reference classes \(f(s.accuracy))", at: 2) }
        if !s.failingDecisions.isEmpty {
            lines.append("failing: " + s.failingDecisions.prefix(20).joined(separator: ", ") + (s.failingDecisions.count > 20 ? ", ..." : ""))
        }
        return lines.joined(separator: "\n")
    }
}
