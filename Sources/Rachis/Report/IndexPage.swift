import Foundation

/// `index.html`: one row per subject (thumbnail, vertebra count, decisions per class, flags, link to its page) and,
/// when an evaluation is given, its aggregate metrics.
enum IndexPage {
    static func html(_ reports: [SubjectReport], evaluation: EvaluationSummary?, predictionsFolder: String) -> String {
        let e = HTML.escape
        let predictions = reports.map(\.prediction)
        let classes = VertebraCSV.classNames(predictions)
        let vertebrae = predictions.reduce(0) { $0 + $1.vertebrae.count }
        var body = "<h1>Rachis report</h1>\n"
        body += "<p>\(reports.count) subject\(reports.count == 1 ? "" : "s"), \(vertebrae) vertebra\(vertebrae == 1 ? "" : "e"). "
            + "Predictions: <code>\(e(predictionsFolder))</code>. "
            + "Every vertebra: <a href=\"vertebrae.csv\">vertebrae.csv</a>.</p>\n"
        let checkpoints = Set(predictions.map(\.checkpoint)).sorted()
        if !checkpoints.isEmpty {
            body += "<p>Checkpoint\(checkpoints.count == 1 ? "" : "s"): " + checkpoints.map { "<code>\(e($0))</code>" }.joined(separator: ", ") + "</p>\n"
        }

        body += "<h2>Subjects</h2>\n<table class=\"subjects\">\n<thead><tr><th>Image</th><th>Subject</th><th>Vertebrae</th>"
        // The colour a subject page gives the class (its index in the first subject that has it).
        let colourIndex = { (name: String) in predictions.lazy.compactMap { $0.classNames.firstIndex(of: name) }.first }
        body += classes.map { "<th>\(HTML.swatch(ClassPalette.colour(decision: colourIndex($0))))\(e($0))</th>" }.joined()
        body += "<th>Undecided</th><th>Flags</th><th>Warnings</th></tr></thead>\n<tbody>\n"
        for r in reports {
            let p = r.prediction
            let link = HTML.href(r.pageFile)
            body += p.flags.isEmpty && p.warnings.isEmpty ? "<tr>" : "<tr class=\"flagged\">"
            if let f = r.figures.first {
                let height = 120, width = Swift.max(1, f.width * height / Swift.max(1, f.height))
                body += "<td><a href=\"\(link)\"><img class=\"thumb\" src=\"\(HTML.href(f.file))\" width=\"\(width)\" height=\"\(height)\" alt=\"\(e(p.subjectID))\"></a></td>"
            } else {
                body += "<td class=\"muted\">–</td>"
            }
            body += "<td><a href=\"\(link)\">\(e(p.subjectID))</a></td><td class=\"num\">\(p.vertebrae.count)</td>"
            for name in classes {
                let k = p.classNames.firstIndex(of: name)
                body += "<td class=\"num\">\(k.map { k in String(p.vertebrae.filter { $0.decision == k }.count) } ?? "–")</td>"
            }
            body += "<td class=\"num\">\(p.vertebrae.filter { r.className($0.decision) == nil }.count)</td>"
            let flaggedVertebrae = p.vertebrae.filter { !$0.flags.isEmpty }.count
            var flags = p.flags.map { "<span class=\"flag\">\(e($0.rawValue))</span>" }
            if flaggedVertebrae > 0 { flags.append("\(flaggedVertebrae) flagged vertebra\(flaggedVertebrae == 1 ? "" : "e")") }
            body += "<td class=\"wrap\">\(flags.joined(separator: " "))</td><td class=\"num\">\(p.warnings.count)</td></tr>\n"
        }
        body += "</tbody>\n</table>\n"

        if let evaluation {
            body += "<h2>Evaluation</h2>\n<p>From <code>\(e(evaluation.path))</code>.</p>\n"
            if !evaluation.details.isEmpty {
                body += "<dl class=\"meta\">\n" + evaluation.details.map { "<dt>\(e($0.name))</dt><dd>\(e($0.value))</dd>\n" }.joined() + "</dl>\n"
            }
            if evaluation.aggregate.isEmpty {
                body += "<p class=\"muted\">The file has no aggregate metrics.</p>\n"
            } else {
                body += "<table class=\"evaluation\">\n<thead><tr><th>Metric</th><th>Value</th></tr></thead>\n<tbody>\n"
                body += evaluation.aggregate.map { "<tr><td>\(e($0.name))</td><td class=\"num\">\(e($0.value))</td></tr>\n" }.joined()
                body += "</tbody>\n</table>\n"
            }
        }
        return HTML.page(title: "Rachis report", body: body)
    }
}
