import Foundation

/// One `--image` of `rachis predict`: a file, optionally named by the channel it holds (`T1=scan_t1.nii.gz`).
public struct ImageArgument: Equatable, Sendable {
    /// The model channel the file holds; nil: files are taken in the model's channel order.
    public var channel: String?
    public var url: URL

    public init(channel: String?, url: URL) { (self.channel, self.url) = (channel, url) }

    /// `CHANNEL=FILE` or `FILE`. Text before the first `=` names a channel when it is non-empty and holds no `/`
    /// (so a path with `=` in a folder name stays a path).
    public init(parsing text: String) {
        if let equals = text.firstIndex(of: "="), equals != text.startIndex, !text[..<equals].contains("/") {
            self.init(channel: String(text[..<equals]), url: URL(fileURLWithPath: String(text[text.index(after: equals)...])))
        } else {
            self.init(channel: nil, url: URL(fileURLWithPath: text))
        }
    }
}
