import Foundation

/// A progress line on stderr, redrawn in place when stderr is a terminal; silent otherwise.
final class ProgressBar {
    let label: String
    let unit: String
    let start = Date()
    let enabled = isatty(STDERR_FILENO) == 1

    init(_ label: String, unit: String) {
        self.label = label
        self.unit = unit
    }

    func update(_ done: Int, of total: Int, detail: String = "") {
        guard enabled, total > 0 else { return }
        let elapsed = Date().timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let remaining = rate > 0 ? Double(total - done) / rate : 0
        let width = 24
        let filled = width * done / total
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = String(format: "\r%@ [%@] %d/%d %@  %.1f %@/s  ETA %@ %@", label, bar, done, total, unit, rate, unit,
                          Self.duration(remaining), detail)
        FileHandle.standardError.write(Data(line.utf8))
        if done >= total { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s % 3600 / 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
