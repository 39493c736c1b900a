import Foundation

/// `index.html`: with an evaluation, its summary first (`EvaluationSection`); then one row per subject (thumbnail,
/// vertebra count, decisions per class, flags, link to its page, and with an evaluation its own identification rate,
/// localization error, class accuracy and Dice), sortable by a click on a column head.
enum IndexPage {
    /// At most this many subject rows; the page says how many were left out and where they all are.
    static let maximumSubjectRows = 500

    static func html(_ reports: [SubjectReport], evaluation: EvaluationSummary?, predictionsFolder: String,
                     reliability: SubjectReport.Figure? = nil, maximumSubjectRows: Int = maximumSubjectRows) -> String {
        let e = HTML.escape
        let predictions = reports.map(\.prediction)
        let vertebrae = predictions.reduce(0) { $0 + $1.vertebrae.count }
        var body = "<h1>Rachis report</h1>\n"
        body += "<p>\(reports.count) subject\(reports.count == 1 ? "" : "s"), \(vertebrae) vertebra\(vertebrae == 1 ? "" : "e"). "
            + "Predictions: <code>\(e(predictionsFolder))</code>. "
            + "Every vertebra: <a href=\"vertebrae.csv\">vertebrae.csv</a>.</p>\n"
        let checkpoints = Set(predictions.map(\.checkpoint)).sorted()
        if !checkpoints.isEmpty {
            body += "<p>Checkpoint\(checkpoints.count == 1 ? "" : "s"): " + checkpoints.map { "<code>\(e($0))</code>" }.joined(separator: ", ") + "</p>\n"
        }
        if let evaluation { body += EvaluationSection.html(evaluation, reliability: reliability) }
        body += subjectTable(reports, evaluated: evaluation != nil, maximumRows: maximumSubjectRows)
        return HTML.page(title: "Rachis report", body: body, sortable: true)
    }

    static func subjectTable(_ reports: [SubjectReport], evaluated: Bool, maximumRows: Int) -> String {
        let e = HTML.escape
        let predictions = reports.map(\.prediction)
        let classes = VertebraCSV.classNames(predictions)
        let psnr = predictions.contains { $0.reconstructionPSNR != nil }
        var body = "<h2 id=\"subjects\">Subjects</h2>\n"
        body += "<p class=\"muted\">Click a column head to sort.\(evaluated ? " Identification, localization error, class accuracy and Dice are the subject's own, from the evaluation." : "")</p>\n"
        body += "<table class=\"subjects sortable\">\n<thead><tr><th>Image</th><th>Subject</th><th>Vertebrae</th>"
        if evaluated { body += "<th>Identification</th><th>Loc. error mm</th><th>Class accuracy</th><th>Dice</th>" }
        if psnr { body += "<th>PSNR dB</th>" }
        // The colour a subject page gives the class (its index in the first subject that has it).
        let colourIndex = { (name: String) in predictions.lazy.compactMap { $0.classNames.firstIndex(of: name) }.first }
        body += classes.map { "<th>\(HTML.swatch(ClassPalette.colour(decision: colourIndex($0))))\(e($0))</th>" }.joined()
        body += "<th>Undecided</th><th>Flags</th><th>Warnings</th></tr></thead>\n<tbody>\n"
        for r in reports.prefix(maximumRows) {
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
            if evaluated {
                if let l = r.evaluation?.localization {
                    let rate = l.identificationRate
                    body += HTML.numberCell(rate, rate.isFinite ? "\(HTML.number(rate)) (\(l.identifiedCount)/\(l.truthCount))" : "–")
                    body += HTML.numberCell(l.meanDistanceMM, digits: 1)
                } else {
                    body += "<td class=\"muted\" data-sort=\"\">not evaluated</td><td class=\"muted\" data-sort=\"\">–</td>"
                }
                let accuracy = r.classAccuracy
                body += HTML.numberCell(accuracy.map { Double($0.correct) / Double($0.paired) },
                                        accuracy.map { "\(HTML.number(Double($0.correct) / Double($0.paired))) (\($0.correct)/\($0.paired))" } ?? "–")
                body += HTML.numberCell(r.meanDice, digits: 3)
            }
            if psnr { body += HTML.numberCell(p.reconstructionPSNR, digits: 1) }
            for name in classes {
                let k = p.classNames.firstIndex(of: name)
                body += "<td class=\"num\">\(k.map { k in String(p.vertebrae.filter { $0.decision == k }.count) } ?? "–")</td>"
            }
            body += "<td class=\"num\">\(p.vertebrae.filter { r.className($0.decision) == nil }.count)</td>"
            let flaggedVertebrae = p.vertebrae.filter { !$0.flags.isEmpty }.count
            var flags = p.flags.map { "<span class=\"flag\">\(e($0.rawValue))</span>" }
            if flaggedVertebrae > 0 { flags.append("\(flaggedVertebrae) flagged vertebra\(flaggedVertebrae == 1 ? "" : "e")") }
            body += "<td class=\"wrap\" data-sort=\"\(p.flags.count * 1000 + flaggedVertebrae)\">\(flags.joined(separator: " "))</td><td class=\"num\">\(p.warnings.count)</td></tr>\n"
        }
        body += "</tbody>\n</table>\n"
        body += HTML.omitted(shown: Swift.min(maximumRows, reports.count), total: reports.count, unit: "subjects",
                             fullData: "every subject has its page (<code>&lt;subject&gt;.html</code> in this folder), its vertebrae are in "
                                 + "<a href=\"vertebrae.csv\">vertebrae.csv</a>" + (evaluated ? " and its metrics in <a href=\"\(HTML.href(EvaluationSection.copyFile))\">\(EvaluationSection.copyFile)</a>" : ""))
        return body
    }
}
