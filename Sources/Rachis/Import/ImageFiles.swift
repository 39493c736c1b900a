import Foundation

/// Reading whole files with the errors Rachis reports.
enum ImageFiles {
    static func contents(of url: URL) throws -> Data {
        guard FileManager.default.fileExists(atPath: url.path) else { throw ImageIOError.missingFile(path: url.path) }
        do {
            return try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw ImageIOError.ioFailed(path: url.path, reason: "cannot read: \(FileErrors.reason(error))")
        }
    }
}
