import Foundation
import Testing
import Torch
@testable import Rachis

/// `Relabeler`: pseudo-labels only on voxels without ground truth, in a new file that validates; the input is never
/// changed; rounds start again from the ground truth; bad input fails with the file named.
struct RelabelerTests {
    /// The loader fixture's dataset and an untrained checkpoint (seeded) of a small model with dropout.
    static func setup(dropout: Double = 0.2, inChannels: Int? = nil) throws -> (LoaderFixture, URL) {
        // The partial subject's discs left unlabelled (unknown, not background).
        let f = try LoaderFixture { subjects in
            let k = subjects.firstIndex { $0.annotationMode == .partial }!
            for i in subjects[k].structureLabels.indices where subjects[k].structureLabels[i] == StructureLabel.intervertebralDisc.rawValue {
                (subjects[k].structureLabels[i], subjects[k].structureAnnotated[i]) = (0, 0)
            }
        }
        var config = TrainingFixture.config()
        config.model.dropout = dropout
        if let inChannels { config.model.inChannels = inChannels }
        let model = try Torch.exclusiveRandomness {
            Torch.manualSeed(11)
            return try SpineModel(config.model)
        }
        var checkpoint = Checkpoint(state: .init(bestMetric: "val.loss.total"), config: try config.json().jsonText, history: "{}",
                                    model: Dictionary(uniqueKeysWithValues: model.state().map { ($0.name, $0.tensor) }),
                                    optimizer: [:], lossWeighting: [:], rngState: nil)
        let channels = Array((f.reader.header.channelNames + ["extra"]).prefix(config.model.inChannels))
        checkpoint.dataset = Checkpoint.TrainingData(name: "t", channelNames: channels, classNames: f.reader.header.classNames,
                                                     structureNames: f.reader.header.structureNames, spacingMM: [4, 3, 3])
        let url = f.folder.file("c.h5")
        try checkpoint.write(to: url)
        return (f, url)
    }

    static func options(threshold: Double, samples: Int = 3) -> Relabeler.Options {
        var o = Relabeler.Options()
        (o.threshold, o.samples, o.seed) = (threshold, samples, 5)
        return o
    }

    @Test func pseudoLabelsFillOnlyUnlabelledVoxelsAndTheInputStaysAsItWas() throws {
        let (f, checkpoint) = try Self.setup()
        let before = try Data(contentsOf: f.url)
        let out = f.folder.file("relabelled.h5")
        // Every voxel's consensus class has mean probability ≥ 1/6 > 0.1: every unlabelled voxel gets a pseudo-label.
        let summaries = try Relabeler(checkpoint: checkpoint, options: Self.options(threshold: 0.1)).relabel(input: f.url, output: out, command: "test")
        #expect(try Data(contentsOf: f.url) == before)
        #expect(try DatasetValidator().validate(out).isEmpty)
        let partial = f.subject(.partial)
        let unlabelled = partial.structureAnnotated.filter { $0 == 0 }.count
        #expect(unlabelled > 0)
        #expect(summaries.map(\.id).contains(partial.id))
        let reader = try DatasetReader(url: out)
        for original in f.subjects {
            let relabelled = try reader.subject(original.id)
            #expect(relabelled.vertebraLabels == original.vertebraLabels && relabelled.vertebrae == original.vertebrae)
            let pseudo = relabelled.pseudoLabels?.structures ?? [UInt8](repeating: 0, count: original.structureLabels.count)
            for i in original.structureLabels.indices where original.structureAnnotated[i] != 0 {
                // Ground truth is never overwritten, and never marked as a pseudo-label.
                #expect(relabelled.structureLabels[i] == original.structureLabels[i] && relabelled.structureAnnotated[i] == 1 && pseudo[i] == 0)
            }
            let summary = summaries.first { $0.id == original.id }
            if original.hasVoxelLabels && original.annotationMode != .box {
                let missing = original.structureAnnotated.filter { $0 == 0 }.count
                #expect((summary?.pseudoLabelledVoxels ?? 0) == missing && pseudo.filter { $0 == 1 }.count == missing)
                #expect(relabelled.structureAnnotated.allSatisfy { $0 == 1 })
            } else {
                #expect(summary == nil && relabelled.pseudoLabels == nil && relabelled.structureLabels == original.structureLabels)
            }
        }
        #expect(try reader.splits() == f.reader.splits())
        let stored = try #require(try reader.subject(partial.id).pseudoLabels)
        #expect(stored.threshold == 0.1 && stored.samples == 3 && stored.checkpoint == checkpoint.path)

        // A second round at threshold 1 starts from the ground truth: the earlier pseudo-labels are gone.
        let again = f.folder.file("round2.h5")
        let second = try Relabeler(checkpoint: checkpoint, options: Self.options(threshold: 1)).relabel(input: out, output: again, command: "test")
        #expect(second.allSatisfy { $0.pseudoLabelledVoxels == 0 })
        let back = try DatasetReader(url: again).subject(partial.id)
        #expect(back.structureLabels == partial.structureLabels && back.structureAnnotated == partial.structureAnnotated)
        #expect(try DatasetValidator().validate(again).isEmpty)
    }

    /// The confidence is the mean over the MC-dropout passes of the consensus class's probability: the passes
    /// differ (dropout is on), and one pass equals the deterministic softmax.
    @Test func confidenceIsTheMCDropoutMeanOfTheConsensusClass() throws {
        let (f, checkpoint) = try Self.setup()
        let subject = f.subject(.partial)
        let one = try Relabeler(checkpoint: checkpoint, options: Self.options(threshold: 0.5, samples: 1))
        let (labels, confidence) = try one.predict(subject)
        let maps = try one.predictor.maps(image: subject.image, geometry: subject.geometry, source: "t")
        let p = try #require(maps.structures), n = subject.geometry.voxelCount
        for i in stride(from: 0, to: n, by: 97) {
            let best = (0..<6).max { p[$0 * n + i] < p[$1 * n + i] }!
            #expect(Int(labels[i]) == best && abs(confidence[i] - p[best * n + i]) < 1e-6)
        }
        let mc = try Relabeler(checkpoint: checkpoint, options: Self.options(threshold: 0.5, samples: 4)).predict(subject)
        #expect(mc.confidence != confidence)
        #expect(mc.confidence.allSatisfy { $0 >= 1.0 / 6 - 1e-6 && $0 <= 1 })
    }

    @Test func badInputIsRefusedWithTheFileNamedAndNothingWritten() throws {
        let (f, checkpoint) = try Self.setup()
        let out = f.folder.file("out.h5")
        let relabeler = try Relabeler(checkpoint: checkpoint, options: Self.options(threshold: 0.9))
        #expect(throws: DatasetError.fileNotFound(f.folder.file("missing.h5").path)) {
            try relabeler.relabel(input: f.folder.file("missing.h5"), output: out, command: "t")
        }
        #expect(throws: Relabeler.Error.sameFile(f.url.path)) { try relabeler.relabel(input: f.url, output: f.url, command: "t") }
        try Data("keep".utf8).write(to: out)
        #expect(throws: DatasetError.fileExists(out.path)) { try relabeler.relabel(input: f.url, output: out, command: "t") }
        #expect(try Data(contentsOf: out) == Data("keep".utf8))
        // A model for 3 channels against a 2-channel dataset.
        let (g, wrong) = try Self.setup(inChannels: 3)
        #expect { try Relabeler(checkpoint: wrong, options: Self.options(threshold: 0.9)).relabel(input: g.url, output: g.folder.file("x.h5"), command: "t") } throws: { error in
            guard case let .mismatch(c, d, _)? = error as? Relabeler.Error else { return false }
            return c == wrong.path && d == g.url.path
        }
        #expect(!FileManager.default.fileExists(atPath: g.folder.file("x.h5").path))
        // MC dropout without dropout.
        let (h, noDropout) = try Self.setup(dropout: 0)
        defer { withExtendedLifetime(h) {} }
        #expect(throws: Relabeler.Error.self) { try Relabeler(checkpoint: noDropout, options: Self.options(threshold: 0.9)) }
        #expect(throws: Relabeler.Error.badOption("--threshold must be in (0, 1], found 0.0")) {
            try Relabeler(checkpoint: checkpoint, options: Self.options(threshold: 0))
        }
    }
}
