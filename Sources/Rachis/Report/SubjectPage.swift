import Foundation

/// `<subject>.html`: the sagittal figures with the legend (and the evidence map's colour scale), the table of
/// vertebrae (with an evaluation, each predicted level beside the true level of the ground-truth vertebra paired with
/// it), the subject's own metrics, its flags and warnings, and where the prediction came from.
enum SubjectPage {
    static func html(_ report: SubjectReport) -> String {
        let p = report.prediction
        let e = HTML.escape
        var body = "<p><a href=\"index.html\">&larr; All subjects</a></p>\n"
        body += "<h1>Subject \(e(p.subjectID))</h1>\n"
        let decided = p.vertebrae.filter { $0.decision != nil }.count
        body += "<p>\(p.vertebrae.count) vertebra\(p.vertebrae.count == 1 ? "" : "e") found"
            + (p.classNames.isEmpty ? "" : ", \(decided) with a class decision") + ".</p>\n"

        body += "<h2>Flags and warnings</h2>\n"
        let flagged = p.vertebrae.filter { !$0.flags.isEmpty }
        if p.flags.isEmpty && p.warnings.isEmpty && flagged.isEmpty {
            body += "<p class=\"muted\">None.</p>\n"
        } else {
            if !p.flags.isEmpty {
                body += "<p>Subject: " + p.flags.map { "<span class=\"flag\">\(e($0.rawValue))</span>" }.joined(separator: " ") + "</p>\n"
            }
            if !flagged.isEmpty {
                body += "<p>\(flagged.count) flagged vertebra\(flagged.count == 1 ? "" : "e"): "
                    + flagged.map { e($0.level) }.joined(separator: ", ") + " (highlighted in the table).</p>\n"
            }
            if !p.warnings.isEmpty {
                body += "<ul class=\"warnings\">\n" + p.warnings.map { "<li>\(e($0))</li>\n" }.joined() + "</ul>\n"
            }
        }

        body += "<h2>Mid-sagittal slice</h2>\n"
        if report.figures.isEmpty {
            body += "<p class=\"muted\">No image channels.</p>\n"
        } else {
            body += "<div class=\"figures\">\n"
            for (c, f) in report.figures.enumerated() {
                let evidence = f.file.hasSuffix("_attribution.png")
                let fill = evidence ? " Regions outlined in their class colour."
                    : SagittalView.showsLesions(channel: c, name: f.channelName) ? " Regions lightly tinted so that the signal inside stays visible." : ""
                body += """
                    <figure><img src="\(HTML.href(f.file))" width="\(f.width)" height="\(f.height)" alt="\(e(f.channelName)) sagittal slice of \(e(p.subjectID))">
                    <figcaption><b>\(e(f.channelName))</b>: slice d = \(f.slice) of \(f.depth) (head up, anterior left); window \(e(format(f.window.low)))–\(e(format(f.window.high))) (1st–99th percentile).\(fill)</figcaption>\(evidence ? evidenceScale : "")</figure>

                    """
            }
            body += "</div>\n"
        }
        body += legend(p)

        body += "<h2>Vertebrae</h2>\n"
        body += vertebraTable(report)
        if let evaluation = report.evaluation { body += metrics(evaluation) }

        body += "<h2>Source</h2>\n<dl class=\"meta\">\n"
        var meta: [(String, String)] = [("Image", p.source.kind == "dataset"
            ? "dataset \(p.source.paths.first ?? "?"), subject \(p.source.subject ?? "?")"
            : "files " + p.source.paths.joined(separator: ", "))]
        meta.append(("Channels", p.channelNames.joined(separator: ", ")))
        meta.append(("Grid", "\(p.geometry.shape.map(String.init).joined(separator: " × ")) voxels (D × H × W), spacing "
            + p.geometry.spacingMM.map { HTML.number($0, digits: 2) }.joined(separator: " × ") + " mm"))
        meta.append(("Checkpoint", p.checkpoint))
        if let psnr = p.reconstructionPSNR { meta.append(("Reconstruction PSNR", HTML.number(psnr, digits: 1) + " dB")) }
        meta.append(("Predicted", "\(p.created) by rachis \(p.rachisVersion)"))
        meta.append(("Report JSON", report.jsonFile))
        for (name, value) in meta {
            let shown = name == "Report JSON" ? "<a href=\"\(HTML.href("subjects", "\(p.subjectID).json"))\">\(e(value))</a>" : e(value)
            body += "<dt>\(e(name))</dt><dd>\(shown)</dd>\n"
        }
        body += "</dl>\n"
        return HTML.page(title: "Rachis report: \(p.subjectID)", body: body)
    }

    /// The evidence map's colour scale, as `SagittalView` lays it over the image.
    static let evidenceScale: String = {
        let stops = stride(from: 0.05, through: 1.0001, by: 0.095).map { t -> String in
            let c = SagittalView.hot(t)
            return "rgb(\(c.0),\(c.1),\(c.2)) \(Int((t - 0.05) / 0.95 * 100))%"
        }
        return "<div class=\"scale\"><span>0.05</span><span class=\"bar\" style=\"background:linear-gradient(to right, "
            + stops.joined(separator: ", ") + ")\"></span><span>1</span></div>"
            + "<figcaption>Evidence: per voxel, the largest positive relevance of any class decision of the subject, over the "
            + "largest in the volume (0–1); below 0.05 not drawn, more opaque where higher.</figcaption>"
    }()

    /// The subject's own metrics from the evaluation.
    static func metrics(_ s: SubjectEvaluation) -> String {
        let e = HTML.escape
        var html = "<h2>Evaluation</h2>\n<dl class=\"meta\">\n"
        let l = s.localization
        html += "<dt>Identification rate</dt><dd>\(HTML.metric(l.identificationRate)) (\(l.identifiedCount) of \(l.truthCount) ground-truth vertebrae; \(l.predictedCount) predicted)</dd>\n"
        html += "<dt>Localization error</dt><dd>mean \(HTML.metric(l.meanDistanceMM)) mm, median \(HTML.metric(l.medianDistanceMM)) mm (\(l.distanceCount) vertebrae with a prediction of their level)</dd>\n"
        if let c = s.classification {
            let correct = c.pairs.filter { $0.decision == $0.trueClass }.count
            html += "<dt>Classification</dt><dd>\(correct) of \(c.pairs.count) paired vertebrae decided as their true class"
                + (c.missed.isEmpty ? "" : "; not paired (no predicted vertebra with a class decision within 20 mm): " + e(c.missed.joined(separator: ", ")))
                + (c.undecided?.isEmpty ?? true ? "" : " (found without a class decision: " + e(c.undecided!.joined(separator: ", ")) + ")") + "</dd>\n"
        }
        for structure in s.segmentation ?? [] {
            html += "<dt>\(e(structure.name))</dt><dd>Dice \(HTML.metric(structure.dice)), HD95 \(HTML.metric(structure.hd95MM)) mm "
                + "(\(structure.referenceVoxels) reference, \(structure.predictedVoxels) predicted voxels)</dd>\n"
        }
        if let psnr = s.reconstructionPSNR { html += "<dt>Reconstruction PSNR</dt><dd>\(HTML.metric(psnr)) dB</dd>\n" }
        if s.datasetSubject != s.subjectID { html += "<dt>Dataset subject</dt><dd>\(e(s.datasetSubject))</dd>\n" }
        return html + "</dl>\n"
    }

    static func format(_ v: Float) -> String {
        let d = Double(v)
        return Swift.abs(d) >= 100 || d == d.rounded() ? String(format: "%.0f", d) : String(format: "%.3g", d)
    }

    static func legend(_ p: SubjectPrediction) -> String {
        var items = p.classNames.enumerated().map { "<span>\(HTML.swatch(ClassPalette.colour(decision: $0.offset)))\(HTML.escape($0.element))</span>" }
        items.append("<span>\(HTML.swatch(ClassPalette.undecided))no class decision</span>")
        items.append("<span>&#9679; centroid, labelled with its level</span>")
        return "<div class=\"legend\">" + items.joined(separator: " ") + "</div>\n"
    }

    static func vertebraTable(_ report: SubjectReport) -> String {
        let p = report.prediction
        let e = HTML.escape
        guard !p.vertebrae.isEmpty else { return "<p class=\"muted\">No vertebrae were found.</p>\n" }
        // With an evaluation: the ground-truth vertebra paired with each predicted one (by its level: no level twice).
        let pairs = report.evaluation?.classification?.pairs ?? []
        let paired = !pairs.isEmpty
        var html = ""
        if report.evaluation != nil && !paired {
            html += "<p class=\"muted\">The evaluation pairs no ground-truth vertebra with these predictions (pairs are made for classified vertebrae), so the true levels are not shown.</p>\n"
        }
        html += "<table class=\"vertebrae\">\n<thead><tr><th>Level</th>" + (paired ? "<th>True level</th><th>Distance mm</th><th>True class</th>" : "")
            + "<th>x mm</th><th>y mm</th><th>z mm</th><th>Identification confidence</th>"
        html += p.classNames.map { "<th>p(\(e($0)))</th>" }.joined()
        let attributed = p.vertebrae.contains { $0.attribution != nil }
        html += "<th>Decision</th><th>Volume mL</th>" + (attributed ? "<th>Evidence inside</th>" : "") + "<th>Flags</th></tr></thead>\n<tbody>\n"
        for v in p.vertebrae {
            html += v.flags.isEmpty ? "<tr>" : "<tr class=\"flagged\">"
            html += "<td>\(e(v.level))</td>"
            if paired {
                if let pair = pairs.first(where: { $0.predictedLevel == v.level }) {
                    html += "<td class=\"\(pair.level == v.level ? "good" : "bad")\">\(e(pair.level))</td><td class=\"num\">\(HTML.number(pair.distanceMM, digits: 1))</td>"
                    let name = report.className(pair.trueClass) ?? "class \(pair.trueClass)"
                    html += "<td class=\"\(pair.trueClass == v.decision ? "good" : "bad")\">\(HTML.swatch(ClassPalette.colour(decision: pair.trueClass)))\(e(name))</td>"
                } else {
                    html += "<td class=\"muted\">none paired</td><td class=\"muted\">–</td><td class=\"muted\">–</td>"
                }
            }
            html += (0..<3).map { "<td class=\"num\">\(HTML.number(v.centroidMM.indices.contains($0) ? v.centroidMM[$0] : nil, digits: 1))</td>" }.joined()
            html += "<td class=\"num\">\(HTML.number(v.identificationConfidence))</td>"
            html += p.classNames.indices.map { k in
                let value = v.classProbabilities.flatMap { $0.indices.contains(k) ? $0[k] : nil }
                return "<td class=\"num\">\(HTML.number(value))</td>"
            }.joined()
            if let name = report.className(v.decision) {
                html += "<td>\(HTML.swatch(ClassPalette.colour(decision: v.decision)))\(e(name))</td>"
            } else {
                html += "<td class=\"muted\">–</td>"
            }
            html += "<td class=\"num\">\(HTML.number(v.volumeML, digits: 1))</td>"
            if attributed {
                // The share of the decision's positive relevance inside the vertebra, and the check's verdict.
                let a = v.attribution
                let verdict = a?.passed.map { $0 ? "pass" : "fail" } ?? "–"
                html += "<td class=\"num\">\(HTML.number(a.map { $0.consistency.massInsidePositive }))\(a == nil ? "" : " " + e(verdict))</td>"
            }
            html += "<td class=\"wrap\">" + v.flags.map { "<span class=\"flag\" title=\"\(e($0.explanation))\">\(e($0.rawValue))</span>" }.joined(separator: " ") + "</td></tr>\n"
        }
        return html + "</tbody>\n</table>\n"
    }
}
