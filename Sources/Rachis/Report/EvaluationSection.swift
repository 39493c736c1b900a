import Foundation

/// The index page's "Evaluation" section: what a reader looks for first, each figure with its count and the rule
/// that made it (the summary), then the classification (confusion matrix, per-class figures, reliability diagram) and
/// per level the identification and classification. Every value of the file is on `evaluation.html`.
enum EvaluationSection {
    /// The reliability diagram's path in the report folder.
    static let reliabilityFile = "images/reliability.png"
    /// The evaluation file's copy and its full table in the report folder.
    static let copyFile = "evaluation.json", pageFile = "evaluation.html"

    struct Summary {
        var metric: String
        var value: Double?
        var unit: String
        var count: String
        var rule: String
    }

    /// The summary rows, in reading order; a part the file lacks gives no rows.
    static func summary(_ e: EvaluationSummary) -> [Summary] {
        var rows: [Summary] = []
        func rules(_ part: String) -> String {
            let named = (e.rules[part] ?? []).map { "\($0.name): \($0.value)" }
            return named.isEmpty ? "" : " (" + named.joined(separator: "; ") + ")"
        }
        if let l = e.localization {
            rows.append(Summary(metric: "Identification rate", value: l.identificationRate, unit: "",
                                count: "\(l.identifiedCount) of \(l.truthCount) ground-truth vertebrae identified (\(l.predictedCount) predicted)",
                                rule: "share of the ground-truth vertebrae identified by a predicted vertebra of the same level within 20 mm, "
                                    + "by VerSe's nearest-centroid rule as rachis evaluate applies it; missed vertebrae count against it" + rules("localization")))
            let distance = "\(l.distanceCount) ground-truth vertebrae with a predicted vertebra of their level"
            rows.append(Summary(metric: "Localization error, mean", value: l.meanDistanceMM, unit: "mm", count: distance,
                                rule: "Euclidean distance between the centroids of a ground-truth vertebra and the predicted vertebra of the same level"))
            rows.append(Summary(metric: "Localization error, median", value: l.medianDistanceMM, unit: "mm", count: distance, rule: "as the mean"))
            if let w = l.whole {
                rows.append(Summary(metric: "Identification rate, whole vertebrae", value: w.identificationRate, unit: "",
                                    count: "\(w.identifiedCount) of \(w.truthCount) ground-truth vertebrae the field of view does not cut",
                                    rule: "as the identification rate, counting only the vertebrae whole in the image (a vertebra cut to a sliver at the edge has a centroid only of its visible part)"))
                rows.append(Summary(metric: "Localization error, mean, whole vertebrae", value: w.meanDistanceMM, unit: "mm",
                                    count: "\(w.distanceCount) whole ground-truth vertebrae with a predicted vertebra of their level", rule: "as the mean"))
            }
        }
        if let c = e.classification {
            let over = "\(c.overall.count) vertebrae paired (\(c.missed) ground-truth vertebrae with a class left unpaired\(c.undecidedNote), not counted)"
            let pairing = "; each ground-truth vertebra with a class paired with the nearest predicted vertebra within 20 mm, regardless of level"
            rows.append(Summary(metric: "Balanced accuracy", value: c.overall.balancedAccuracy, unit: "", count: over,
                                rule: "mean sensitivity over the classes present" + pairing + rules("classification")))
            rows.append(Summary(metric: "Macro AUC", value: c.overall.macroAUC, unit: "",
                                count: "\(c.overall.aucCount) of \(c.overall.perClass.count) classes with an AUC; \(c.overall.count) vertebrae",
                                rule: "mean one-vs-rest ROC AUC (rank-based) over the classes with positives and negatives"))
            rows.append(Summary(metric: "Macro F1", value: c.overall.macroF1, unit: "", count: over, rule: "mean F1 over the classes present or decided"))
            rows.append(Summary(metric: "ECE", value: c.overall.expectedCalibrationError, unit: "", count: over,
                                rule: "expected calibration error of the decided class: \(c.overall.calibrationBins.count) equal-width bins of "
                                    + "its probability, Σ n_b/N·|accuracy_b − confidence_b| (Guo et al. 2017); see the reliability diagram"))
        }
        if let s = e.segmentation {
            // Each rule once, on the first structure's rows.
            let firstName = s.perStructure.first?.name ?? ""
            for p in s.perStructure {
                let first = p.name == firstName
                let cases = "of \(s.cases) case\(s.cases == 1 ? "" : "s")"
                rows.append(Summary(metric: "Dice, \(p.name)", value: p.meanDice, unit: "",
                                    count: "\(p.diceCount) \(cases) (\(p.bothEmpty) with the structure in neither mask, left out; \(p.oneEmpty) in only one, Dice 0)",
                                    rule: first ? "2·|P∩R| / (|P|+|R|) over the annotated voxels, mean over cases" + rules("segmentation") : "as for \(firstName)"))
                rows.append(Summary(metric: "HD95, \(p.name)", value: p.meanHD95MM, unit: "mm",
                                    count: "\(p.hd95Count) \(cases) with the structure in both masks",
                                    rule: first ? "95th-percentile Hausdorff distance between the surfaces, in mm on the voxel grid's spacing, mean over cases" : "as for \(firstName)"))
            }
            rows.append(Summary(metric: "Dice, foreground mean", value: s.foregroundMeanDice, unit: "", count: "\(s.perStructure.count) structures",
                                rule: "mean of the per-structure means"))
            rows.append(Summary(metric: "HD95, foreground mean", value: s.foregroundMeanHD95MM, unit: "mm", count: "\(s.perStructure.count) structures",
                                rule: "mean of the per-structure means"))
        }
        if let p = e.reconstructionPSNR {
            rows.append(Summary(metric: "Reconstruction PSNR", value: p.meanDB, unit: "dB", count: "\(p.count) subjects with a reconstruction",
                                rule: "10·log10(R²/MSE) with R the range of the input, mean over subjects (exact copies left out)" + rules("reconstructionPSNR")))
        }
        return rows
    }

    static func html(_ e: EvaluationSummary, reliability: SubjectReport.Figure?) -> String {
        let esc = HTML.escape
        var body = "<h2 id=\"evaluation\">Evaluation</h2>\n"
        let subjects = e.subjectCount.map { "\($0) subject\($0 == 1 ? "" : "s"), " } ?? ""
        let dataset = e.details.first { $0.name == "dataset" }?.value
        body += "<p>\(subjects)from <code>\(esc(e.path))</code>" + (dataset.map { " against <code>\(esc($0))</code>" } ?? "") + ". "
            + "Every value in it: <a href=\"\(HTML.href(pageFile))\">\(pageFile)</a> (\(e.aggregate.count) aggregate values), "
            + "the file itself: <a href=\"\(HTML.href(copyFile))\">\(copyFile)</a>.</p>\n"
        if !e.unreadable.isEmpty {
            body += "<div class=\"notice\"><p>Parts of the file this version of Rachis cannot read (left out here, listed on "
                + "<a href=\"\(HTML.href(pageFile))\">\(pageFile)</a>):</p><ul>\n"
                + e.unreadable.map { "<li><code>\(esc($0.name))</code>: \(esc($0.value))</li>\n" }.joined() + "</ul></div>\n"
        }
        let rows = summary(e)
        if rows.isEmpty {
            body += "<p class=\"muted\">The file has none of the summary metrics (localization, classification, segmentation, reconstruction).</p>\n"
        } else {
            body += "<table class=\"summary\">\n<thead><tr><th>Metric</th><th>Value</th><th>Over</th><th>Rule</th></tr></thead>\n<tbody>\n"
            for r in rows {
                let value = HTML.metric(r.value) + (r.value?.isFinite == true && !r.unit.isEmpty ? " " + r.unit : "")
                body += "<tr><td>\(esc(r.metric))</td><td class=\"num value\">\(esc(value))</td><td class=\"wrap\">\(esc(r.count))</td>"
                    + "<td class=\"rule\">\(esc(r.rule))</td></tr>\n"
            }
            body += "</tbody>\n</table>\n"
        }
        if let c = e.classification { body += classification(c, classNames: e.classNames, reliability: reliability) }
        let levels = LevelAgreement(subjects: e.subjects)
        body += perLevel(levels, classification: e.classification)
        return body
    }

    /// The confusion matrix, the per-class figures and the reliability diagram.
    static func classification(_ c: Evaluation.ClassificationSummary, classNames: [String], reliability: SubjectReport.Figure?) -> String {
        let esc = HTML.escape
        let o = c.overall
        let names = o.perClass.map(\.name).count == o.confusion.count ? o.perClass.map(\.name)
            : classNames.count == o.confusion.count ? classNames : o.confusion.indices.map { "class \($0)" }
        var html = "<h3>Classification</h3>\n"
        guard o.count > 0 else {
            return html + "<p class=\"muted\">No ground-truth vertebra with a class was paired with a predicted vertebra (\(c.missed) "
                + "unpaired): there is no confusion matrix or reliability diagram to show.</p>\n"
        }
        html += "<div class=\"figures\">\n<div>\n"
        html += "<table class=\"confusion\">\n<thead><tr><th class=\"corner\">true ↓ / decided →</th>"
            + names.map { "<th>\(esc($0))</th>" }.joined() + "<th>Sensitivity</th></tr></thead>\n<tbody>\n"
        for (i, row) in o.confusion.enumerated() {
            let total = row.reduce(0, +)
            html += "<tr><th>\(esc(names[i]))</th>"
            for (j, n) in row.enumerated() {
                let share = total == 0 ? 0 : Double(n) / Double(total)
                let colour = i == j ? (46, 160, 67) : (215, 58, 50)
                let alpha = String(format: "%.2f", 0.08 + 0.72 * share)
                let percent = total == 0 ? "" : String(format: " <span class=\"muted\">(%.0f%%)</span>", 100 * share)
                html += "<td style=\"background:rgba(\(colour.0),\(colour.1),\(colour.2),\(n == 0 ? "0" : alpha))\">\(n)\(percent)</td>"
            }
            html += "<td class=\"num\">\(HTML.metric(total == 0 ? nil : Double(row.indices.contains(i) ? row[i] : 0) / Double(total)))</td></tr>\n"
        }
        html += "</tbody>\n</table>\n"
        html += "<p class=\"muted\">\(o.count) paired vertebrae; rows: the true class, columns: the decided class (the most probable); "
            + "shade: the share of the row.</p>\n"
        html += "<table class=\"perclass\">\n<thead><tr><th>Class</th><th>Positives</th><th>AUC</th><th>Sensitivity</th><th>Specificity</th>"
            + "<th>Precision</th><th>F1</th></tr></thead>\n<tbody>\n"
        for p in o.perClass {
            html += "<tr><td>\(esc(p.name))</td><td class=\"num\">\(p.positives)</td>"
                + [p.auc, p.recall, p.specificity, p.precision, p.f1].map { "<td class=\"num\">\(HTML.metric($0))</td>" }.joined() + "</tr>\n"
        }
        html += "</tbody>\n</table>\n</div>\n"
        if let r = reliability {
            html += "<figure><img src=\"\(HTML.href(r.file))\" width=\"\(r.width)\" height=\"\(r.height)\" alt=\"reliability diagram\">"
                + "<figcaption>Reliability: per bin of the decided class's probability, the fraction decided correctly (bars) against the "
                + "bins' mean probability (red); on the diagonal when calibrated, bars below it are over-confident. Grey numbers under "
                + "the axis: vertebrae per bin. ECE \(HTML.metric(o.expectedCalibrationError)).</figcaption></figure>\n"
        }
        return html + "</div>\n"
    }

    /// Per ground-truth level: the level the paired vertebra was given, and the classification.
    static func perLevel(_ levels: LevelAgreement, classification: Evaluation.ClassificationSummary?) -> String {
        let esc = HTML.escape
        let perLevel = classification?.perLevel ?? []
        guard !levels.levels.isEmpty || !perLevel.isEmpty else { return "" }
        var html = "<h3>Per level</h3>\n"
        html += "<p class=\"muted\">By ground-truth level: the level given to the predicted vertebra paired with each ground-truth "
            + "vertebra (the classification pairing: nearest within 20 mm, one-to-one, regardless of level), and the classification of "
            + "the paired vertebrae. Only vertebrae with a true class are paired.</p>\n"
        html += "<table class=\"levels sortable\">\n<thead><tr><th>Level</th><th>Ground truth</th><th>Same level</th><th>Level agreement</th>"
            + "<th>Given instead</th><th>Missed</th><th>Class correct</th><th>Class accuracy</th><th>Balanced accuracy</th></tr></thead>\n<tbody>\n"
        var names = levels.levels.map(\.level)
        for l in perLevel where !names.contains(l.level) { names.append(l.level) }
        for (order, name) in names.enumerated() {
            let l = levels.levels.first { $0.level == name }
            let c = perLevel.first { $0.level == name }?.result
            html += "<tr><td data-sort=\"\(order)\">\(esc(name))</td>"
            if let l {
                let agreement = l.paired == 0 ? nil : Double(l.sameLevel) / Double(l.paired)
                html += "<td class=\"num\">\(l.truth)</td><td class=\"num\">\(l.sameLevel)</td>"
                html += HTML.numberCell(agreement, HTML.metric(agreement)).replacingOccurrences(
                    of: "<td class=\"num\"", with: agreement.map { $0 < 1 ? "<td class=\"num bad\"" : "<td class=\"num good\"" } ?? "<td class=\"num\"")
                let instead = l.confusedWith.map { "\($0.level) ×\($0.count)" }.joined(separator: ", ")
                html += "<td class=\"wrap\">\(esc(instead))</td><td class=\"num\">\(l.missed)</td><td class=\"num\">\(l.classCorrect)</td>"
                let accuracy = l.paired == 0 ? nil : Double(l.classCorrect) / Double(l.paired)
                html += HTML.numberCell(accuracy, HTML.metric(accuracy))
            } else {
                html += "<td class=\"muted\">–</td><td class=\"muted\">–</td><td class=\"muted\">–</td><td></td><td class=\"muted\">–</td><td class=\"muted\">–</td><td class=\"muted\">–</td>"
            }
            html += HTML.numberCell(c?.balancedAccuracy, HTML.metric(c?.balancedAccuracy)) + "</tr>\n"
        }
        return html + "</tbody>\n</table>\n"
    }
}
