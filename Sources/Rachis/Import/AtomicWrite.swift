import Foundation

/// Writes files so that a failure never leaves a half-written file behind nor damages an existing one:
/// each file goes to a temporary file in the same folder, and only when all are written are they renamed
/// into place.
enum AtomicWrite {
    static func write(_ files: [(url: URL, data: Data)]) throws {
        var temporaries: [(temp: URL, final: URL)] = []
        defer { for t in temporaries { try? FileManager.default.removeItem(at: t.temp) } }
        for (url, data) in files {
            let temp = url.deletingLastPathComponent()
                .appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
            do {
                try data.write(to: temp)
            } catch {
                throw ImageIOError.ioFailed(path: url.path, reason: "cannot write: \(error.localizedDescription)")
            }
            temporaries.append((temp, url))
        }
        for (temp, final) in temporaries where rename(temp.path, final.path) != 0 {
            throw ImageIOError.ioFailed(path: final.path, reason: "cannot rename into place: \(String(cString: strerror(errno)))")
        }
    }
}
