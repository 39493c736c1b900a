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

    /// Draws progress.png: total loss (train and validation), each task's training loss (log scale), the validation
    /// metrics in [0, 1], and localization distance and PSNR.
    public func writeProgress(_ history: [[String: Double]]) throws {
        func series(_ keys: [String], names: [String]? = nil) -> [LinePlot.Series] {
            keys.enumerated().compactMap { i, key in
                let points = history.compactMap { row -> (x: Double, y: Double)? in
                    guard let e = row["epoch"], let v = row[key], v.isFinite else { return nil }
                    return (e, v)
                }
                return points.isEmpty ? nil : LinePlot.Series(name: names?[i] ?? key, points: points)
            }
        }
        let all = Set(history.flatMap(\.keys))
        let tasks = all.filter { $0.hasPrefix("train.loss.") && $0 != "train.loss.total" }.sorted()
        let unit = ["auc", "balancedAccuracy", "dice", "identificationRate"]
        var plot = LinePlot(panels: [
            LinePlot.Panel(title: "total loss", xLabel: "epoch", series: series(["train.loss.total", "val.loss.total"], names: ["train", "validation"]), logY: true),
            LinePlot.Panel(title: "task losses (train)", xLabel: "epoch", series: series(tasks, names: tasks.map { String($0.dropFirst(11)) }), logY: true),
            LinePlot.Panel(title: "validation", xLabel: "epoch", series: series(unit.map { "val.metric." + $0 }, names: unit)),
            LinePlot.Panel(title: "loc. mm, psnr db", xLabel: "epoch", series: series(["val.metric.localizationMM", "val.metric.psnr"], names: ["distance mm", "psnr db"])),
        ])
        plot.panelWidth = 420
        try plot.render().writePNG(to: progress)
    }
}
