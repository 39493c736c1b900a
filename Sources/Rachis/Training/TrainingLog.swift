import Foundation

/// The bookkeeping of a run's epochs: the rows of `metrics.csv` so far, the running sums of what the steps of the
/// epoch in progress logged, and the best validation value. It goes into every checkpoint (`Checkpoint.history`,
/// `Checkpoint.State`), so a resumed run logs exactly what an uninterrupted one does.
struct TrainingLog {
    /// One row per finished epoch: `epoch`, `lr`, the means of what the steps logged (`train.<key>`), and the
    /// validation results (`val.<key>`) of the epochs that validated.
    private(set) var rows: [[String: Double]] = []
    /// Sum and count of each key the steps of the epoch in progress logged.
    private(set) var sums: [String: Double] = [:], counts: [String: Double] = [:]

    init() {}

    /// What `Checkpoint.history` holds (JSON; NaN as null).
    struct Stored: Codable {
        var rows: [[String: Double?]]
        var epochSums: [String: Double]
        var epochCounts: [String: Double]
    }

    /// The log stored in a checkpoint.
    init(stored json: String) throws {
        let stored = try JSONDecoder().decode(Stored.self, from: Data(json.utf8))
        rows = stored.rows.map { $0.mapValues { $0 ?? .nan } }
        (sums, counts) = (stored.epochSums, stored.epochCounts)
    }

    /// The log as a checkpoint stores it.
    func stored() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let stored = Stored(rows: rows.map { $0.mapValues { $0.isFinite ? $0 : nil } }, epochSums: sums, epochCounts: counts)
        return String(decoding: try encoder.encode(stored), as: UTF8.self)
    }

    /// Adds one step's values (losses, weights, all-reduce seconds) to the epoch's sums.
    mutating func addStep(_ values: [String: Double]) {
        for (key, value) in values {
            sums[key, default: 0] += value
            counts[key, default: 0] += 1
        }
    }

    /// Ends the epoch in progress: its row (the mean of each key as `train.<key>`, `epoch` 1-based, `lr`); the sums
    /// start over. Add validation results to the row, then `append` it.
    mutating func closeEpoch(_ epoch: Int, learningRate: Double) -> [String: Double] {
        var row: [String: Double] = ["epoch": Double(epoch + 1), "lr": learningRate]
        for (key, sum) in sums { row["train." + key] = sum / Swift.max(counts[key] ?? 1, 1) }
        (sums, counts) = ([:], [:])
        return row
    }

    mutating func append(_ row: [String: Double]) { rows.append(row) }

    /// Records `metrics[metric]` after `epochs` finished epochs in `state` when it beats the best so far; returns
    /// whether it did.
    static func recordBest(_ metrics: [String: Double], metric: String, higherIsBetter: Bool, epochs: Int, in state: inout Checkpoint.State) -> Bool {
        guard let value = metrics[metric], value.isFinite else { return false }
        guard state.bestValue.map({ higherIsBetter ? value > $0 : value < $0 }) ?? true else { return false }
        (state.bestValue, state.bestEpoch) = (value, epochs)
        return true
    }
}
