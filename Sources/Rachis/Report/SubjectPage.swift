import Foundation

/// `<subject>.html`: the sagittal figures with the legend, the table of vertebrae, the subject's flags and warnings,
/// and where the prediction came from.
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
            for f in report.figures {
                body += """
                    <figure><img src="\(HTML.href(f.file))" width="\(f.width)" height="\(f.height)" alt="\(e(f.channelName)) sagittal slice of \(e(p.subjectID))">
                    <figcaption><b>\(e(f.channelName))</b>: slice d = \(f.slice) of \(f.depth) (head up, anterior left); window \(e(format(f.window.low)))–\(e(format(f.window.high))) (1st–99th percentile)</figcaption></figure>

                    """
            }
            body += "</div>\n"
        }
        body += legend(p)

        body += "<h2>Vertebrae</h2>\n"
        body += vertebraTable(report)

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
        var html = "<table class=\"vertebrae\">\n<thead><tr><th>Level</th><th>x mm</th><th>y mm</th><th>z mm</th><th>Identification confidence</th>"
        html += p.classNames.map { "<th>p(\(e($0)))</th>" }.joined()
        let attributed = p.vertebrae.contains { $0.attribution != nil }
        html += "<th>Decision</th><th>Volume mL</th>" + (attributed ? "<th>Evidence inside</th>" : "") + "<th>Flags</th></tr></thead>\n<tbody>\n"
        for v in p.vertebrae {
            html += v.flags.isEmpty ? "<tr>" : "<tr class=\"flagged\">"
            html += "<td>\(e(v.level))</td>"
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
            html += "<td class=\"wrap\">" + v.flags.map { "<span class=\"flag\">\(e($0.rawValue))</span>" }.joined(separator: " ") + "</td></tr>\n"
        }
        return html + "</tbody>\n</table>\n"
    }
}
