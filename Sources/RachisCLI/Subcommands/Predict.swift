import ArgumentParser
import Foundation
import Logging
import Rachis

extension VertebraDecoder.CandidateSource: ExpressibleByArgument {}
extension VertebraDecoder.VertebraVoxels: ExpressibleByArgument {}

extension RachisCommand {
    struct Predict: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Find, identify and classify the vertebrae of whole volumes with a trained model.",
            discussion: """
                Reads subjects of a dataset (--data, with --split/--part or --subject) or image files (--image, one \
                per channel, named CHANNEL=FILE by the model's channel names or given in the model's channel order; \
                NIfTI or MetaImage). Each image is resampled to the model's training spacing, predicted there, and \
                its outputs brought back onto the image's own grid (shape and affine; docs/resampling.md); \
                --no-resample runs the model on the image's own voxels. Writes into --out, per subject: \
                <id>.json (vertebrae, levels, classes, flags; schemas/prediction.schema.json), <id>_vertebrae.nii.gz \
                (regions by VerSe level id) and <id>_structures.nii.gz, and manifest.json (the checkpoint and its \
                sha256, the dataset, split and subjects; completed: true once every subject is written). An existing \
                predictions folder is replaced only with --force. Volumes larger than the training crop are \
                predicted with an overlapping sliding window.
                """)

        @Option(help: "Checkpoint (.h5) from rachis train.")
        var checkpoint: String

        @OptionGroup var dataset: DatasetSubjects

        @Option(help: "Image file, CHANNEL=FILE or FILE (repeatable: one per channel, named by the model's channel names, or unnamed in its channel order).")
        var image: [String] = []

        @Option(help: "Subject id for --image (default: the first file's name).")
        var id: String?

        @Option(help: "Output folder.")
        var out: String

        @Flag(help: "Replace the predictions in an existing --out folder (its contents are removed first).")
        var force = false

        @Option(help: "Sliding-window overlap, a fraction of the window.")
        var overlap: Double = 0.5

        @Option(help: "Sliding-window size D,H,W (default: the training crop).")
        var window: String?

        @Option(help: "Flag levels and classes decided with a probability below this.")
        var minConfidence: Double = 0.5

        @Option(help: "Vertebra candidates: fused (the localization heatmap's peaks, and every vertebral body the segmentation separates that no peak marks), peaks (the heatmap's alone) or bodies (the segmentation's connected vertebral bodies alone).")
        var candidates: VertebraDecoder.CandidateSource = .fused

        @Option(help: "Vertebra voxels: bone (every voxel the segmentation calls vertebral body, lesion or posterior elements) or boneAndIdentified (of those, the ones the identification head calls vertebra too). Without a segmentation head: the identification head's.")
        var vertebraVoxels: VertebraDecoder.VertebraVoxels = .bone

        @Option(help: "Classify only vertebrae whose classifier region holds at least this share of a whole vertebra's in the same image (the median over those the field of view does not cut); the others get no class decision (flag partialClassRegion). Default: the share the model was trained with (model.minimumClassRegionShare); 0 classifies every vertebra with a voxel of evidence.")
        var minClassRegionShare: Double?

        @Flag(inversion: .prefixedNo, help: "Levels from the segmentation's ribs (a model that segments ribs): a vertebra with ribs is thoracic, the last one with a rudimentary pair T13, a whole one with none below them lumbar or sacral. --no-rib-levels: the spinal-region head's alone.")
        var ribLevels = VertebraDecoder().ribLevels

        @Option(help: "With --rib-levels: a vertebra is T13 when its ribs hold fewer than this share of the rib voxels of the vertebra above it and it is the last with ribs. 0: no T13 from ribs.")
        var rudimentaryRibShare: Double = VertebraDecoder().rudimentaryRibShare

        @Flag(help: "Also write <id>_heatmap.nii.gz and <id>_foreground.nii.gz (what the vertebra decoder saw) and <id>_probabilities.nii.gz (the segmentation softmax, one channel per structure), each when the model has the head.")
        var saveMaps = false

        @Flag(inversion: .prefixedNo, help: "Average the model's outputs on the image and on its left-right mirror image (test-time mirroring, the flip training augments with; twice the network's work). --no-mirror: one pass.")
        var mirror = true

        @Flag(help: "Run the model on the image's own voxels instead of resampling it to the training spacing (for experts: the model was trained at one spacing).")
        var noResample = false

        @Flag(help: "With --no-resample: predict even when the voxel spacing is more than 2x from the training spacing.")
        var allowSpacingMismatch = false

        @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
        var logLevel: Logger.Level = .info

        @OptionGroup var engine: EngineOptions

        func validate() throws {
            guard (dataset.data == nil) != image.isEmpty else { throw ValidationError("give either --data or --image.") }
            if dataset.data == nil, !dataset.subject.isEmpty || dataset.split != nil { throw ValidationError("--subject and --split need --data.") }
            if dataset.data != nil, id != nil { throw ValidationError("--id names an --image subject; with --data use --subject.") }
            guard (0...1).contains(minConfidence) else { throw ValidationError("--min-confidence must be in [0, 1].") }
            if let share = minClassRegionShare, !(0..<1).contains(share) { throw ValidationError("--min-class-region-share must be in [0, 1).") }
            if !(0..<1).contains(rudimentaryRibShare) { throw ValidationError("--rudimentary-rib-share must be in [0, 1).") }
            if allowSpacingMismatch, !noResample { throw ValidationError("--allow-spacing-mismatch only applies with --no-resample (predict resamples to the training spacing).") }
        }

        func run() throws {
            try engine.apply()
            let logger = LogSetup.makeLogger(label: "rachis.predict", level: logLevel)
            var options = Predictor.Options()
            options.device = engine.device
            options.overlap = overlap
            options.window = try window.map { try parseShape($0, option: "--window") }
            options.minimumConfidence = minConfidence
            options.allowSpacingMismatch = allowSpacingMismatch
            options.resample = !noResample
            options.keepMaps = saveMaps
            options.mirror = mirror
            options.decoder.candidates = candidates
            options.decoder.vertebraVoxels = vertebraVoxels
            options.decoder.ribLevels = ribLevels
            options.decoder.rudimentaryRibShare = rudimentaryRibShare
            options.minimumClassRegionShare = minClassRegionShare
            let checkpointURL = URL(fileURLWithPath: checkpoint)
            let predictor = try Predictor(checkpoint: checkpointURL, options: options, logger: logger)
            let folder = PredictionFolder(URL(fileURLWithPath: out))
            let fresh = !FileManager.default.fileExists(atPath: out)
            let lock = try OutputGuard.folder(out)
            defer { lock.release() }
            try folder.prepare(force: force)
            var written: [SubjectPrediction] = []
            do {
                var manifest = PredictionFolder.Manifest(checkpoint: checkpoint, checkpointSHA256: try SHA256.hex(contentsOf: checkpointURL), subjects: [])
                if let data = dataset.data {
                    let reader = try DatasetReader(url: URL(fileURLWithPath: data))
                    let ids = try dataset.ids(reader, defaultSplit: predictor.config.loader.split)
                    (manifest.dataset, manifest.subjects) = (data, ids)
                    if dataset.subject.isEmpty {
                        (manifest.split, manifest.part) = (dataset.part == .all ? nil : dataset.split ?? predictor.config.loader.split, dataset.part.rawValue)
                    } else {
                        manifest.part = "subjects"
                    }
                    try folder.writeManifest(manifest)
                    let progress = ProgressBar("predict", unit: "subjects")
                    for (i, id) in ids.enumerated() {
                        let input = try predictor.input(dataset: reader, subject: id)
                        let (prediction, volumes) = try predictor.predict(id: id, image: input.image, geometry: input.geometry, source: input.source)
                        try folder.write(prediction, volumes: volumes)
                        written.append(prediction)
                        progress.update(i + 1, of: ids.count)
                    }
                } else {
                    let images = image.map(ImageArgument.init(parsing:))
                    let name = id ?? Self.stem(images[0].url)
                    guard name.allSatisfy({ $0.isLetter || $0.isNumber || "._-".contains($0) }), !name.isEmpty else {
                        throw ValidationError("subject id \"\(name)\" may only use letters, digits, '.', '_' and '-': pass --id.")
                    }
                    (manifest.images, manifest.subjects) = (image, [name])
                    try folder.writeManifest(manifest)
                    let input = try predictor.input(images: images)
                    let (prediction, volumes) = try predictor.predict(id: name, image: input.image, geometry: input.geometry, source: input.source)
                    try folder.write(prediction, volumes: volumes)
                    written.append(prediction)
                }
                manifest.completed = true
                try folder.writeManifest(manifest)
            } catch {
                // A folder this run created and wrote nothing into goes again; otherwise its manifest says it is incomplete.
                if fresh, written.isEmpty { lock.release(); try? FileManager.default.removeItem(atPath: out) }
                throw error
            }
            for p in written {
                let levels = p.vertebrae.map { v in
                    v.decision.map { "\(v.level):\(p.classNames[$0])" } ?? v.level
                }.joined(separator: " ")
                let flags = p.flags.isEmpty ? "" : "  [" + p.flags.map(\.rawValue).joined(separator: ", ") + "]"
                print("\(p.subjectID): \(p.vertebrae.count) vertebrae  \(levels)\(flags)")
            }
            print("Predictions: \(folder.url.path) (\(written.count) subject\(written.count == 1 ? "" : "s"))")
        }

        /// A file name without its image extension.
        static func stem(_ url: URL) -> String {
            let name = url.lastPathComponent
            guard let format = try? ImageFormat(url: url) else { return name }
            return String(name.dropLast(format.rawValue.count))
        }
    }
}
