import Foundation

/// A small reader for the report's HTML pages, enough to check them as a browser would see them: every element closed
/// in order (void elements excepted), the link targets (`href`, `src`), and the visible text (entities decoded, one
/// space at each tag, whitespace collapsed; script and style left out).
struct HTMLDocument {
    struct Problem: Error, CustomStringConvertible {
        var description: String
    }

    var links: [String] = []
    var text = ""
    var tags: [String] = []

    static let void: Set<String> = ["meta", "img", "br", "hr", "input", "link", "source", "wbr"]

    init(_ html: String) throws {
        let tag = try NSRegularExpression(pattern: #"<(/?)([a-zA-Z][a-zA-Z0-9]*)((?:[^>"']|"[^"]*"|'[^']*')*)>|<!--.*?-->|<!DOCTYPE[^>]*>"#,
                                          options: [.dotMatchesLineSeparators])
        let attribute = try NSRegularExpression(pattern: #"([a-zA-Z-]+)\s*=\s*"([^"]*)""#)
        let source = html as NSString
        var stack: [String] = [], position = 0, skipping: String?
        var pieces: [String] = []
        for match in tag.matches(in: html, range: NSRange(location: 0, length: source.length)) {
            if skipping == nil { pieces.append(source.substring(with: NSRange(location: position, length: match.range.location - position))) }
            position = match.range.location + match.range.length
            guard match.range(at: 2).location != NSNotFound else { continue }
            let closing = source.substring(with: match.range(at: 1)) == "/"
            let name = source.substring(with: match.range(at: 2)).lowercased()
            if let open = skipping {
                if closing && name == open { skipping = nil } else { continue }
            }
            pieces.append(" ")
            if closing {
                guard let top = stack.popLast(), top == name else {
                    throw Problem(description: "</\(name)> closes <\(stack.last ?? "nothing")> at offset \(match.range.location)")
                }
                continue
            }
            tags.append(name)
            let attributes = source.substring(with: match.range(at: 3))
            for a in attribute.matches(in: attributes, range: NSRange(location: 0, length: (attributes as NSString).length)) {
                let key = (attributes as NSString).substring(with: a.range(at: 1)).lowercased()
                if key == "href" || key == "src" { links.append(Self.decode((attributes as NSString).substring(with: a.range(at: 2)))) }
            }
            if Self.void.contains(name) || attributes.hasSuffix("/") { continue }
            if name == "script" || name == "style" { skipping = name }
            stack.append(name)
        }
        pieces.append(source.substring(from: position))
        guard stack.isEmpty else { throw Problem(description: "unclosed: \(stack)") }
        text = Self.decode(pieces.joined()).split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    static func decode(_ s: String) -> String {
        s.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&quot;", with: "\"")
            .replacingOccurrences(of: "&#39;", with: "'").replacingOccurrences(of: "&larr;", with: "←").replacingOccurrences(of: "&amp;", with: "&")
    }

    /// The files the page links to, relative to its folder: fragments and queries cut, percent-escapes decoded, links
    /// elsewhere (`http:`, `#…`) left out.
    var localFiles: [String] {
        links.compactMap { link in
            guard !link.hasPrefix("#"), !link.contains(":") else { return nil }
            let path = String(link.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0])
            return path.removingPercentEncoding ?? path
        }
    }

    /// Every link of `page` (a file in `folder`) names a file that exists.
    static func missingLinks(page: String, in folder: URL) throws -> [String] {
        let document = try HTMLDocument(try String(contentsOf: folder.appendingPathComponent(page), encoding: .utf8))
        return document.localFiles.filter { !FileManager.default.fileExists(atPath: folder.appendingPathComponent($0).path) }
    }
}
