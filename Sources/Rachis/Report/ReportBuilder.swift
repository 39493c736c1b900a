import Foundation

/// Builds a report folder from a predictions folder (`rachis report`):
///
///     index.html              the evaluation's summary when given, then one row per subject
///     <subject>.html          sagittal figures, the vertebra table (with the true levels when evaluated), flags,
///                             warnings, source
///     images/<subject>_<c>_<channel>.png
///     subjects/<subject>.json the prediction, re-validated against schemas/prediction.schema.json
///     vertebrae.csv           one row per vertebra across subjects
///     evaluation.json         with --evaluation: a copy of the file
///     evaluation.html         with --evaluation: every aggregate value
///     images/reliability.png  with --evaluation that has a classification: the reliability diagram
///
/// Every input is read and every file rendered in memory before the first write, so a bad input leaves the output
/// folder as it was; each file is then written atomically.
public struct ReportBuilder: Sendable {
    public var view: SagittalView

    public init(pixelsPerMM: Double = 3) { view = SagittalView(pixelsPerMM: pixelsPerMM) }

    public struct Result: Sendable {
        public var subjects: [SubjectReport]
        /// The files written, relative to the report folder, in writing order.
        public var files: [String]
        public var vertebrae: Int { subjects.reduce(0) { $0 + $1.prediction.vertebrae.count } }
    }

    /// `progress(done, total)` is called after each subject is rendered.
    public func build(predictions: URL, out: URL, evaluation: URL?, progress: (Int, Int) -> Void = { _, _ in }) throws -> Result {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: out.path, isDirectory: &isFolder), !isFolder.boolValue {
            throw ReportError.outputNotAFolder(path: out.path)
        }
        let folder = PredictionFolder(predictions)
        let ids = try folder.subjectIDs()
        // Every prediction JSON and the evaluation first: cheap checks before the images are read.
        let predictionList = try ids.map { id in
            let prediction = try folder.read(id)
            guard prediction.subjectID == id else {
                throw ReportError.subjectMismatch(prediction: folder.json(id).path, found: prediction.subjectID)
            }
            return prediction
        }
        let summary = try evaluation.map { try EvaluationSummary.read($0) }
        let evaluationData = try evaluation.map { url in
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw ReportError.evaluation(path: url.path, reason: "the file does not exist or cannot be read")
            }
            return data
        }

        var files: [(String, Data)] = [], pages: [(String, Data)] = [], reports: [SubjectReport] = []
        for (i, written) in predictionList.enumerated() {
            // Sagittal slices are drawn from the canonical grid; predictions of image files lie on the files' own grids.
            let prediction = written.onCanonicalGrid()
            let volumes = try folder.readVolumes(written).onCanonicalGrid(from: written.geometry)
            let image = try SubjectImage.read(prediction, predictionFile: folder.json(prediction.subjectID))
            var (report, rendered) = try render(prediction, vertebraLabels: volumes.vertebrae, image: image,
                                                predictionFile: folder.json(prediction.subjectID), heat: volumes.attribution)
            report.evaluation = summary?.subject(prediction.subjectID)
            files += rendered
            pages.append((report.pageFile, Data(SubjectPage.html(report).utf8)))
            reports.append(report)
            progress(i + 1, predictionList.count)
        }
        files += pages
        files.append(("vertebrae.csv", Data(VertebraCSV.text(predictionList).utf8)))
        var reliability: SubjectReport.Figure?
        if let summary, let evaluationData {
            files.append((EvaluationSection.copyFile, evaluationData))
            files.append((EvaluationSection.pageFile, Data(EvaluationPage.html(summary).utf8)))
            if let c = summary.classification, c.overall.count > 0 {
                let png = ReliabilityDiagram(bins: c.overall.calibrationBins, title: "RELIABILITY (\(c.overall.count) VERTEBRAE)").render()
                files.append((EvaluationSection.reliabilityFile, try png.pngData()))
                reliability = SubjectReport.Figure(channelName: "reliability", file: EvaluationSection.reliabilityFile, width: png.width,
                                                   height: png.height, slice: 0, depth: 0, window: (0, 1))
            }
        }
        files.append(("index.html", Data(IndexPage.html(reports, evaluation: summary, predictionsFolder: predictions.path,
                                                        reliability: reliability).utf8)))

        for sub in ["images", "subjects"] {
            try FileManager.default.createDirectory(at: out.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        for (path, data) in files { try AtomicFile.write(data, to: out.appendingPathComponent(path)) }
        return Result(subjects: reports, files: files.map(\.0))
    }

    /// One subject's figures (PNG bytes) and report JSON, by path relative to the report folder.
    /// With `heat` (the attribution heat map of `rachis attribution validate`) a last figure lays it over the first
    /// channel.
    public func render(_ prediction: SubjectPrediction, vertebraLabels: [UInt8]?, image: SubjectImage,
                       predictionFile: URL, heat: [Float]? = nil) throws -> (SubjectReport, [(String, Data)]) {
        let shape = prediction.geometry.shape
        let id = prediction.subjectID
        let slice = SagittalView.sliceIndex(centroidsD: prediction.vertebrae.compactMap { $0.centroidVoxel.first }, depth: shape[0])
        var colours: [UInt8: ClassPalette.RGB] = [:]
        for l in 1...255 { colours[UInt8(l)] = ClassPalette.undecided }
        for v in prediction.vertebrae where (1...255).contains(v.levelID) {
            let decided = v.decision.flatMap { prediction.classNames.indices.contains($0) ? $0 : nil }
            colours[UInt8(v.levelID)] = ClassPalette.colour(decision: decided)
        }
        let markers = prediction.vertebrae.filter { $0.centroidVoxel.count == 3 }
            .map { SagittalView.Marker(h: $0.centroidVoxel[1], w: $0.centroidVoxel[2], label: $0.level) }
        var files: [(String, Data)] = [], figures: [SubjectReport.Figure] = []
        for c in 0..<image.channels {
            let name = prediction.channelNames.indices.contains(c) ? prediction.channelNames[c] : "channel \(c)"
            let channel = image.channel(c)
            let window = SagittalView.window(channel)
            let view = SagittalView.showsLesions(channel: c, name: name) ? self.view.lighter : self.view
            let png = view.render(channel: channel, labels: vertebraLabels, shape: shape, spacingMM: prediction.geometry.spacingMM,
                                  slice: slice, window: window, colours: colours, markers: markers)
            let safe = String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") ? $0 : "_" })
            let file = "images/\(id)_\(c)_\(safe).png"
            files.append((file, try png.pngData()))
            figures.append(SubjectReport.Figure(channelName: name, file: file, width: png.width, height: png.height,
                                                slice: slice, depth: shape[0], window: window))
        }
        if let heat, image.channels > 0 {
            let channel = image.channel(0)
            let window = SagittalView.window(channel)
            let png = view.render(channel: channel, labels: vertebraLabels, shape: shape, spacingMM: prediction.geometry.spacingMM,
                                  slice: slice, window: window, colours: colours, markers: markers, heat: heat)
            let file = "images/\(id)_attribution.png"
            files.append((file, try png.pngData()))
            let method = prediction.vertebrae.compactMap { $0.attribution?.method.rawValue }.first ?? "attribution"
            figures.append(SubjectReport.Figure(channelName: "evidence (\(method))", file: file, width: png.width, height: png.height,
                                                slice: slice, depth: shape[0], window: window))
        }
        let json = try PredictionFolder.encode(prediction)
        let violations = try JSONSchema.shipped("prediction.schema.json").validate(try JSONValue.parse(json, source: predictionFile.path))
        if let first = violations.first { throw PredictionFolder.Error.invalid(path: predictionFile.path, reason: "\(first)") }
        files.append(("subjects/\(id).json", json))
        return (SubjectReport(prediction: prediction, figures: figures), files)
    }
}
