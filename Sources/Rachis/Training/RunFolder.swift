import Foundation

/// The files of one training run, laid out like nnU-Net's:
///
///     config.json          the resolved config the run used
///     training.log         what was logged
///     metrics.csv          one row per epoch: losses, learning rate, validation metrics
///     progress.png         training and validation curves
///     checkpoint_last.h5   written every epoch (and on SIGINT/SIGTERM)
///     checkpoint_best.h5   the epoch with the best `train.bestMetric`
public struct RunFolder: Sendable {
    public let url: URL
    public init(_ url: URL) { self.url = url }

    public var config: URL { url.appendingPathComponent("config.json") }
    public var log: URL { url.appendingPathComponent("training.log") }
    public var metrics: URL { url.appendingPathComponent("metrics.csv") }
    public var progress: URL { url.appendingPathComponent("progress.png") }
    public var lastCheckpoint: URL { url.appendingPathComponent("checkpoint_last.h5") }
    public var bestCheckpoint: URL { url.appendingPathComponent("checkpoint_best.h5") }

    public func create() throws {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// Appends a line to the log.
    public func appendLog(_ line: String) {
        let data = Data((line + "\n").utf8)
        if let handle = try? FileHandle(forWritingTo: log) {
            handle.seekToEndOfFile()
            handle.write(data)
            try? handle.close()
        } else {
            try? data.write(to: log)
        }
    }

    /// Rewrites metrics.csv from the history (columns: the union of keys, epoch first), atomically.
    public func writeMetrics(_ history: [[String: Double]]) throws {
        let keys = ["epoch"] + Set(history.flatMap(\.keys)).subtracting(["epoch"]).sorted()
        var text = keys.joined(separator: ",") + "\n"
        for row in history {
            text += keys.map { key in row[key].map { $0.isNaN ? "nan" : String(format: "%.6g", $0) } ?? "" }.joined(separator: ",") + "\n"
        }
        try AtomicFile.write(Data(text.utf8), to: metrics)
    }

    /// Draws progress.png: training losses per task (log scale), and validation metrics.
    public func writeProgress(_ history: [[String: Double]]) throws {
        func series(_ prefix: String) -> [LinePlot.Series] {
            let keys = Set(history.flatMap(\.keys)).filter { $0.hasPrefix(prefix) }.sorted()
            return keys.map { key in
                LinePlot.Series(name: String(key.dropFirst(prefix.count)), points: history.compactMap { row in
                    guard let e = row["epoch"], let v = row[key], v.isFinite else { return nil }
                    return (e, v)
                })
            }
        }
        let losses = series("train.loss.") + series("val.loss.").map { LinePlot.Series(name: "val " + $0.name, points: $0.points) }
        let metrics = series("val.metric.")
        let plot = LinePlot(panels: [
            LinePlot.Panel(title: "losses", xLabel: "epoch", series: losses, logY: true),
            LinePlot.Panel(title: "validation", xLabel: "epoch", series: metrics),
        ])
        try plot.render().writePNG(to: progress)
    }
}
