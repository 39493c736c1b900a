import Foundation

/// Small helpers for the report's static HTML pages: escaping, number formatting, and the page frame with its style
/// sheet and, for pages with sortable tables, a few lines of inline JavaScript (no external resources: the pages
/// open from file://).
enum HTML {
    /// Escapes text for HTML element content and quoted attribute values.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// A relative link target: each path component (the arguments, split at "/") percent-encoded, then escaped for an
    /// attribute.
    static func href(_ parts: String...) -> String {
        let components = parts.flatMap { $0.split(separator: "/", omittingEmptySubsequences: false).map(String.init) }
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return escape(components.map { $0.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0 }.joined(separator: "/"))
    }

    /// A number with `digits` decimals; "–" when not finite.
    static func number(_ value: Double?, digits: Int = 2) -> String {
        guard let value, value.isFinite else { return "–" }
        return String(format: "%.\(digits)f", value)
    }

    /// An inline colour swatch.
    static func swatch(_ colour: (UInt8, UInt8, UInt8)) -> String {
        "<span class=\"swatch\" style=\"background:rgb(\(colour.0),\(colour.1),\(colour.2))\"></span>"
    }

    /// A metric value as the evaluation pages write it: 4 significant digits (integers plainly), "–" when undefined.
    static func metric(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "–" }
        return EvaluationSummary.text(.number(value))
    }

    /// A `<td>` for a number, right-aligned, sorting by the value itself (undefined values sort last).
    static func numberCell(_ value: Double?, _ text: String? = nil, digits: Int = 2) -> String {
        let shown = text ?? number(value, digits: digits)
        guard let value, value.isFinite else { return "<td class=\"num muted\" data-sort=\"\">\(escape(shown))</td>" }
        return "<td class=\"num\" data-sort=\"\(value)\">\(escape(shown))</td>"
    }

    /// The notice under a table that shows `shown` of `total` rows: how many were left out and where they all are.
    static func omitted(shown: Int, total: Int, unit: String, fullData: String) -> String {
        guard total > shown else { return "" }
        return "<p class=\"omitted\">Showing \(shown) of \(total) \(unit); \(total - shown) left out here. All of them: \(fullData).</p>\n"
    }

    /// A whole page; `sortable` adds the script that sorts every `table.sortable` by a click on a column head.
    static func page(title: String, body: String, sortable: Bool = false) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="generator" content="rachis \(escape(Rachis.version))">
        <title>\(escape(title))</title>
        <style>
        \(style)
        </style>
        </head>
        <body>
        \(body)\(sortable ? "<script>\n\(sortScript)\n</script>\n" : "")
        </body>
        </html>

        """
    }

    /// Sorts a `table.sortable`'s body rows by the clicked column: by each cell's `data-sort` when it has one, else its
    /// text; numbers before text, empty values last; a second click reverses.
    static let sortScript = """
        document.querySelectorAll("table.sortable").forEach(function (table) {
          var heads = table.querySelectorAll("thead th");
          heads.forEach(function (th, column) {
            th.title = "Sort by this column";
            th.addEventListener("click", function () {
              var ascending = th.getAttribute("aria-sort") !== "ascending";
              heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
              th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
              function key(row) {
                var cell = row.cells[column];
                var v = cell ? (cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim()) : "";
                if (v === "" || v === "\\u2013") return [2, ""];
                return isFinite(v) ? [0, parseFloat(v)] : [1, v.toLowerCase()];
              }
              var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
              rows.sort(function (a, b) {
                var x = key(a), y = key(b);
                if (x[0] !== y[0]) return x[0] - y[0];
                if (x[0] === 2) return 0;
                return (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0) * (ascending ? 1 : -1);
              });
              rows.forEach(function (r) { body.appendChild(r); });
            });
          });
        });
        """

    static let style = """
        body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 24px 32px; color: #1e1e1e; background: #fff; }
        h1 { font-size: 1.6em; margin: 0 0 0.3em; }
        h2 { font-size: 1.2em; margin: 1.4em 0 0.5em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
        a { color: #1f5fa8; }
        table { border-collapse: collapse; font-size: 0.92em; }
        th, td { border: 1px solid #d4d4d4; padding: 3px 8px; text-align: left; vertical-align: middle; }
        th { background: #f2f2f2; }
        td { white-space: nowrap; }
        td.wrap { white-space: normal; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; }
        tr.flagged td { background: #fff3cd; }
        dl.meta { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; margin: 0.5em 0; }
        dl.meta dt { font-weight: 600; color: #555; }
        dl.meta dd { margin: 0; word-break: break-all; }
        .figures { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
        figure { margin: 0; }
        figure img { display: block; border: 1px solid #999; background: #000; }
        figcaption { font-size: 0.88em; color: #444; margin-top: 4px; max-width: 600px; }
        .legend { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 12px 0; font-size: 0.92em; }
        .swatch { display: inline-block; width: 14px; height: 14px; border: 1px solid #555; vertical-align: -2px; margin-right: 5px; }
        .flag { display: inline-block; background: #fbe3a1; border: 1px solid #e0b84c; border-radius: 3px; padding: 0 5px; margin: 1px 2px; font-size: 0.88em; }
        .muted { color: #777; }
        ul.warnings li { color: #8a4b00; }
        img.thumb { border: 1px solid #999; background: #000; display: block; }
        code { font-size: 0.92em; }
        h3 { font-size: 1.05em; margin: 1.2em 0 0.4em; }
        table.sortable thead th { cursor: pointer; user-select: none; }
        table.sortable thead th::after { content: " \\2195"; color: #aaa; font-weight: normal; }
        table.sortable thead th[aria-sort=ascending]::after { content: " \\25B2"; color: #333; }
        table.sortable thead th[aria-sort=descending]::after { content: " \\25BC"; color: #333; }
        table.summary td.rule { white-space: normal; max-width: 46em; color: #444; font-size: 0.95em; }
        table.summary td.value { font-weight: 600; }
        table.confusion td { text-align: center; min-width: 5em; }
        table.confusion th.corner { font-weight: normal; color: #555; font-size: 0.9em; }
        td.bad { background: #f8d0cc; }
        td.good { background: #d8efd4; }
        p.omitted { background: #eef3fb; border-left: 4px solid #1f5fa8; padding: 4px 10px; }
        .notice { background: #fff3cd; border-left: 4px solid #e0b84c; padding: 4px 10px; }
        .scale { display: flex; align-items: center; gap: 8px; font-size: 0.88em; color: #444; margin-top: 6px; }
        .scale .bar { display: inline-block; width: 220px; height: 14px; border: 1px solid #555; }
        """
}
