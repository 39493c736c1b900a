import Foundation

/// One subject of a report: its prediction and the sagittal figures drawn for it (one per image channel).
public struct SubjectReport: Sendable {
    public struct Figure: Sendable {
        public var channelName: String
        /// The PNG's path relative to the report folder.
        public var file: String
        public var width: Int
        public var height: Int
        /// The D index of the slice, and the volume's depth.
        public var slice: Int
        public var depth: Int
        /// The grey window: the channel's 1st and 99th percentiles.
        public var window: (low: Float, high: Float)
    }

    public var prediction: SubjectPrediction
    public var figures: [Figure]
    /// The subject's evaluation, when the report is given one that has it.
    public var evaluation: SubjectEvaluation?

    public var id: String { prediction.subjectID }
    /// The page's file name in the report folder.
    public var pageFile: String { "\(id).html" }
    /// The report JSON's path in the report folder.
    public var jsonFile: String { "subjects/\(id).json" }

    /// The subject's classification accuracy: paired vertebrae decided as their true class, of all paired.
    var classAccuracy: (correct: Int, paired: Int)? {
        guard let pairs = evaluation?.classification?.pairs, !pairs.isEmpty else { return nil }
        return (pairs.filter { $0.decision == $0.trueClass }.count, pairs.count)
    }

    /// The mean Dice over the subject's scored structures (NaN ones left out), nil when none.
    var meanDice: Double? {
        let dice = nanMean((evaluation?.segmentation ?? []).map(\.dice))
        return dice.count == 0 ? nil : dice.mean
    }

    /// The class name of decision `k`, or nil.
    func className(_ decision: Int?) -> String? {
        decision.flatMap { prediction.classNames.indices.contains($0) ? prediction.classNames[$0] : nil }
    }
}
