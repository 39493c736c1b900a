import ArgumentParser
import Foundation
import Logging
import Rachis

extension AttributionMethod: ExpressibleByArgument {}

extension RachisCommand {
    struct Attribution: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Voxel attributions of per-vertebra class decisions.",
            subcommands: [Validate.self])
    }
}

extension RachisCommand.Attribution {
    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check that every vertebra's class decision comes from voxels of that vertebra.",
            discussion: """
                With --predictions (a folder from rachis predict) each decided vertebra's class logit is attributed \
                to the input voxels and held against the vertebra's predicted region; the predictions' JSON files get \
                each vertebra's check (and the flag evidenceOutsideVertebra), and <id>_attribution.nii.gz a heat map \
                for the report. With --data the decisions are made on the dataset's reference regions instead (as \
                training classifies), and their accuracy is reported. Writes attribution.json \
                (schemas/attribution.schema.json), attribution.csv and, unless --no-maps, one NIfTI map per decision \
                into --out. A decision fails when less than --pass-mass of its positive relevance lies inside the \
                vertebra; the command exits 2 when the fraction of failing decisions exceeds --max-failing, so it can \
                gate a model in a pipeline.
                """)

        @Option(help: "Checkpoint (.h5) from rachis train.")
        var checkpoint: String

        @Option(help: "Predictions folder from rachis predict (decisions on predicted regions).")
        var predictions: String?

        @OptionGroup(title: "Subjects")
        var dataset: DatasetSubjects

        @Option(help: "Output folder (default: <predictions>/attribution).")
        var out: String?

        @Option(help: "saliency, gradientTimesInput, smoothGrad, integratedGradients, gradCAM or occlusion.")
        var method: AttributionMethod = .gradientTimesInput

        @Option(help: "Integrated Gradients steps.")
        var steps = 16

        @Option(help: "SmoothGrad samples.")
        var samples = 8

        @Option(help: "SmoothGrad noise, a fraction of the input range.")
        var sigma = 0.15

        @Option(help: "Baseline value of Integrated Gradients and occlusion (0 is the mean of the z-scored image).")
        var baseline = 0.0

        @Option(help: "Grad-CAM layer: encoder.N or decoder (local for a model whose classifier reads local features, model.classifierFeatures: local or localInside).")
        var layer = "encoder.2"

        @Option(help: "Occlusion window D,H,W in voxels.")
        var window = "2,8,8"

        @Option(help: "Occlusion stride D,H,W in voxels.")
        var stride = "2,8,8"

        @Option(help: "Inputs per model pass (SmoothGrad, Integrated Gradients, occlusion).")
        var batch = 4

        @Option(help: "Grow each vertebra's region by this many millimetres before checking.")
        var marginMM = 0.0

        @Option(help: "Top-k voxels for the top-k intersection.")
        var topK = 100

        @Option(help: "A decision passes when at least this fraction of its positive relevance lies inside the vertebra.")
        var passMass = 0.5

        @Option(help: "Exit 2 when more than this fraction of the checked decisions fail.")
        var maxFailing = 0.2

        @Flag(help: "Do not write a NIfTI map per decision.")
        var noMaps = false

        @Flag(help: "Run the model on the subject's own voxels instead of resampling it to the training spacing.")
        var noResample = false

        @Flag(help: PredictionFolder.allowNoManifestHelp)
        var allowNoManifest = false

        @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
        var logLevel: Logger.Level = .info

        @OptionGroup var engine: EngineOptions

        func validate() throws {
            guard (predictions == nil) != (dataset.data == nil) else { throw ValidationError("give either --predictions or --data.") }
            if dataset.data == nil, dataset.split != nil { throw ValidationError("--split needs --data.") }
            if predictions == nil, out == nil { throw ValidationError("--out is required with --data.") }
            guard (0...1).contains(passMass), (0...1).contains(maxFailing) else { throw ValidationError("--pass-mass and --max-failing must be in [0, 1].") }
            guard marginMM >= 0, topK >= 1 else { throw ValidationError("--margin-mm must be non-negative and --top-k at least 1.") }
        }

        func run() throws {
            try engine.apply()
            let logger = LogSetup.makeLogger(label: "rachis.attribution", level: logLevel)
            var settings = AttributionSettings()
            settings.method = method
            settings.integratedGradientsSteps = steps
            settings.smoothGradSamples = samples
            settings.smoothGradSigma = sigma
            settings.baseline = baseline
            settings.gradCAMLayer = layer
            settings.occlusionWindow = try parseShape(window, option: "--window")
            settings.occlusionStride = try parseShape(stride, option: "--stride")
            settings.batch = batch
            var options = Predictor.Options()
            options.device = engine.device
            options.resample = !noResample
            let predictor = try Predictor(checkpoint: URL(fileURLWithPath: checkpoint), options: options, logger: logger)
            let validator = try AttributionValidator(predictor: predictor, settings: settings)
            (validator.marginMM, validator.topK, validator.passThreshold) = (marginMM, topK, passMass)
            let check = AttributionCheck(validator: validator, maxFailingFraction: maxFailing)

            let outURL = URL(fileURLWithPath: out ?? URL(fileURLWithPath: predictions!).appendingPathComponent("attribution").path)
            // The predictions folder (whose JSON files get the results) and --out are written: both are locked, the
            // predictions folder from the start, --out (created only when the results are in) before it is written.
            var locks: [OutputLock] = []
            defer { for lock in locks { lock.release() } }
            let folder = predictions.map { PredictionFolder(URL(fileURLWithPath: $0)) }
            let regions: AttributionCheck.Regions
            if let folder {
                try folder.requireComplete(allowNoManifest: allowNoManifest)
                locks.append(try OutputLock.folder(folder.url))
                regions = .predicted(folder, subjects: dataset.subject)
            } else {
                let reader = try DatasetReader(url: URL(fileURLWithPath: dataset.data!))
                regions = .reference(reader, subjects: try dataset.ids(reader, defaultSplit: predictor.config.loader.split))
            }
            let progress = ProgressBar("attribution", unit: "subjects")
            let result = try check.check(regions) { progress.update($0, of: $1) }
            locks.append(try OutputGuard.folder(outURL.path))
            try AttributionCheck.write(result, to: outURL, maps: !noMaps, predictions: folder)
            let summary = result.summary
            print(AttributionOutput.table(summary))
            print("Attribution: \(outURL.appendingPathComponent("attribution.json").path)")
            if summary.evaluated == 0 {
                printError("attribution check failed: no decision could be checked (\(summary.decisions) decisions; a decision needs a non-empty region and a non-zero map)")
                throw ExitCode(2)
            }
            if !summary.passed {
                printError("attribution check failed: \(summary.failing) of \(summary.evaluated) decisions have most of their evidence outside their vertebra (allowed: \(String(format: "%.0f", maxFailing * 100)) %)")
                throw ExitCode(2)
            }
        }
    }
}
