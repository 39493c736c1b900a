/// `evaluation.html`: every value of an evaluation file's `aggregate`, flattened to dotted names, on one page with no
/// row left out, the file's top-level details, and the parts this version could not read.
enum EvaluationPage {
    static func html(_ e: EvaluationSummary) -> String {
        let esc = HTML.escape
        var body = "<p><a href=\"index.html#evaluation\">&larr; Report</a></p>\n<h1>Evaluation: every aggregate value</h1>\n"
        body += "<p>From <code>\(esc(e.path))</code> (copied here as <a href=\"\(HTML.href(EvaluationSection.copyFile))\">"
            + "\(EvaluationSection.copyFile)</a>, which also holds every subject's values). All \(e.aggregate.count) values of its "
            + "<code>aggregate</code>; undefined values (null in the file) are shown as –.</p>\n"
        if !e.details.isEmpty {
            body += "<dl class=\"meta\">\n" + e.details.map { "<dt>\(esc($0.name))</dt><dd>\(esc($0.value))</dd>\n" }.joined() + "</dl>\n"
        }
        if !e.unreadable.isEmpty {
            body += "<div class=\"notice\"><p>Not read by this version of Rachis (their values are still listed below):</p><ul>\n"
                + e.unreadable.map { "<li><code>\(esc($0.name))</code>: \(esc($0.value))</li>\n" }.joined() + "</ul></div>\n"
        }
        if e.aggregate.isEmpty {
            body += "<p class=\"muted\">The file has no aggregate metrics.</p>\n"
        } else {
            body += "<table class=\"evaluation sortable\">\n<thead><tr><th>Metric</th><th>Value</th></tr></thead>\n<tbody>\n"
            body += e.aggregate.map { "<tr><td>\(esc($0.name))</td><td class=\"num\">\(esc($0.value))</td></tr>\n" }.joined()
            body += "</tbody>\n</table>\n"
        }
        return HTML.page(title: "Rachis report: evaluation", body: body, sortable: true)
    }
}
