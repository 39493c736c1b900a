import Foundation

/// Small helpers for the report's static HTML pages: escaping, number formatting, and the page frame with its style
/// sheet (no JavaScript, no external resources).
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

    /// A whole page.
    static func page(title: String, body: String) -> String {
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
        \(body)
        </body>
        </html>

        """
    }

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
        """
}
