import Torch

/// Collects validation losses and the per-task metrics over whole validation subjects, and reduces them to the
/// `val.` row of metrics.csv: `val.loss.<task>` (the mean over subjects annotated for the task), `val.loss.total` (their weighted sum), and `val.metric.` localization distance (mm),
/// identification rate (VerSe rule, 20 mm, vertebrae decoded as at inference), classification balanced accuracy and macro AUC, foreground Dice, and
/// autoencoder PSNR, and the spinal-region head's accuracy on the labelled vertebrae. Undefined metrics are NaN (no validation vertebra with a class, say).
struct ValidationAccumulator {
    var losses: [String: (sum: Double, count: Double)] = [:]
    var weights: [LearningTask: (sum: Double, count: Double)] = [:]
    var classification: ClassificationMetric
    var dice = DiceMetric()
    var localization = LocalizationMetric()
    var psnr = PSNRMetric()
    let decoder = VertebraDecoder()
    /// Spinal regions of the labelled vertebrae: right, and all.
    var regions = (correct: 0, total: 0)

    init(classes: Int, structureClasses: Int) {
        classification = ClassificationMetric(classNames: (0..<classes).map { "class \($0)" })
        dice = DiceMetric(classNames: (0..<structureClasses).map { StructureLabel(rawValue: UInt8($0))?.name ?? "structure \($0)" })
    }

    /// One validation subject's contribution to the metrics, computed where the subject was run and added in
    /// subject order wherever the metrics are reduced (ranks exchange these as JSON).
    struct SubjectRecord: Codable, Equatable {
        struct Term: Codable, Equatable { var value: Double, weight: Double }
        struct Point: Codable, Equatable { var levelID: Int, centroidMM: [Double] }
        struct Vertebrae: Codable, Equatable { var predicted: [Point], truth: [Point] }
        /// Tasks (raw values) with a loss on this subject.
        var losses: [String: Term] = [:]
        /// Loose-label terms (`descriptors`, `boxes`) with something to supervise on this subject.
        var extra: [String: Double] = [:]
        var classProbabilities: [[Double]] = []
        var classLabels: [Int] = []
        /// Dice scores of each case (sample) annotated for segmentation.
        var dice: [[Double]] = []
        var localization: [Vertebrae] = []
        var psnr: [Double] = []
        /// Vertebrae with a labelled region whose spinal region the region head got right, and all of them.
        var regionsCorrect = 0
        var regionsTotal = 0
    }

    mutating func add(batch: Batch, output: ModelOutput, classLogits: Tensor?, loss: LossBreakdown, reader: DatasetReader,
                      model: SpineModel? = nil) throws {
        try add(record(batch: batch, output: output, classLogits: classLogits, loss: loss, reader: reader, model: model))
    }

    /// What one validation batch adds. With `model`, levels are decoded with its spinal-region head, as at inference.
    func record(batch: Batch, output: ModelOutput, classLogits: Tensor?, loss: LossBreakdown, reader: DatasetReader,
                model: SpineModel? = nil) throws -> SubjectRecord {
        var record = SubjectRecord()
        for (task, term) in loss.tasks where term.count > 0 {
            record.losses[task.rawValue] = .init(value: term.value, weight: term.weight)
        }
        // Loose-label terms are logged but left out of val.loss.total (their barrier t grows with the epochs).
        for (name, term) in loss.extra where term.count > 0 { record.extra[name] = term.value }
        if let classLogits, classLogits.shape[0] > 0 {
            let probabilities = try classLogits.softmax(dim: 1).to(.float64, device: .cpu)
            let k = classLogits.shape[1]
            let flat = try probabilities.array(Double.self)
            let labelled = batch.vertebrae.filter { $0.classIndex != nil }
            record.classProbabilities = (0..<labelled.count).map { Array(flat[($0 * k)..<(($0 + 1) * k)]) }
            record.classLabels = labelled.map { $0.classIndex! }
        }
        if let regions = loss.regions, !regions.targets.isEmpty {
            let predicted = try regions.logits.argmax(dim: 1).to(.int64, device: .cpu).array(Int64.self)
            record.regionsCorrect = zip(predicted, regions.targets).filter { Int($0) == $1 }.count
            record.regionsTotal = regions.targets.count
        }
        // The region head's context, computed once for the batch.
        let context = try model.map { try $0.context(output) }
        for sample in 0..<batch.count {
            let tasks = try batch.taskMask.mapValues { try $0.to(device: .cpu).array(Float.self)[sample] }
            if let segmentation = output.segmentation, (tasks[.segmentation] ?? 0) > 0 {
                // One case per subject: [1, D, H, W].
                record.dice += try DiceMetric.scores(prediction: segmentation[.at(sample)].argmax(dim: 0).unsqueeze(dim: 0),
                                                     target: batch.structures[.at(sample)].unsqueeze(dim: 0),
                                                     known: batch.structuresKnown[.at(sample)].unsqueeze(dim: 0), classes: dice.classNames.count)
            }
            if let levels = output.levels, (tasks[.localization] ?? 0) > 0 || (tasks[.identification] ?? 0) > 0 {
                let id = batch.subjectIDs[sample]
                // The batch holds the whole volume padded at the end: decode on the padded grid, same world frame.
                var geometry = try reader.geometry(of: id)
                geometry.shape = Array(levels.shape[2...])
                geometry.originMM = geometry.worldMM(index: batch.cropOffsets[sample].map(Double.init))
                let probabilities = try levels[.at(sample)].softmax(dim: 0).to(.float32, device: .cpu).contiguous().array(Float.self)
                let heatmap = try output.heatmap.map { try $0[.at(sample), .at(0)].to(.float32, device: .cpu).contiguous().array(Float.self) }
                let features = try output.features.slice(dim: 0, start: sample, end: sample + 1)
                let sampleContext = try context?.slice(dim: 0, start: sample, end: sample + 1)
                let structures = try output.segmentation.map { try $0[.at(sample)].argmax(dim: 0).to(.uint8, device: .cpu).contiguous().array(UInt8.self) }
                let predicted = try decoder.decode(heatmap: heatmap, levelProbabilities: probabilities, geometry: geometry,
                                                   structures: structures) { owner, count in
                    guard let model, let sampleContext else { return nil }
                    return try model.levelTables(features: features, context: sampleContext, owner: owner, count: count)
                }.vertebrae
                let truth = try reader.vertebrae(of: id).compactMap { v in v.centroidMM.map { SubjectRecord.Point(levelID: v.level.id, centroidMM: $0) } }
                record.localization.append(.init(predicted: predicted.map { .init(levelID: $0.levelID, centroidMM: $0.centroidMM) }, truth: truth))
            }
            if let reconstruction = output.reconstruction {
                record.psnr += try PSNRMetric.values(prediction: reconstruction[.at(sample)], target: batch.image[.at(sample)])
            }
        }
        return record
    }

    mutating func add(_ record: SubjectRecord) throws {
        for task in LearningTask.allCases {
            guard let term = record.losses[task.rawValue] else { continue }
            losses["val.loss." + task.rawValue, default: (0, 0)].sum += term.value
            losses["val.loss." + task.rawValue, default: (0, 0)].count += 1
            weights[task, default: (0, 0)].sum += term.weight
            weights[task, default: (0, 0)].count += 1
        }
        for (name, value) in record.extra {
            losses["val.loss." + name, default: (0, 0)].sum += value
            losses["val.loss." + name, default: (0, 0)].count += 1
        }
        if !record.classLabels.isEmpty {
            try classification.add(probabilities: record.classProbabilities, labels: record.classLabels)
        }
        for scores in record.dice { dice.add(scores: scores) }
        for subject in record.localization {
            localization.add(predicted: subject.predicted.map { VertebraPoint(levelID: $0.levelID, centroidMM: $0.centroidMM) },
                             truth: subject.truth.map { VertebraPoint(levelID: $0.levelID, centroidMM: $0.centroidMM) })
        }
        for value in record.psnr { psnr.add(value: value) }
        regions.correct += record.regionsCorrect
        regions.total += record.regionsTotal
    }

    func result() -> [String: Double] {
        var row = losses.mapValues { $0.sum / Swift.max($0.count, 1) }
        // The total weighs each task's mean over the subjects annotated for it, as a training step weighs its batch.
        row["val.loss.total"] = weights.reduce(0.0) { total, entry in
            total + entry.value.sum / entry.value.count * (row["val.loss." + entry.key.rawValue] ?? 0)
        }
        let c = classification.aggregate()
        row["val.metric.balancedAccuracy"] = c.balancedAccuracy
        row["val.metric.auc"] = c.macroAUC
        let d = dice.aggregate()
        row["val.metric.dice"] = d.foregroundMean
        // Per structure (`val.metric.dice.vertebralBody`, ...): the mean hides a small structure that is never predicted.
        for (index, part) in d.perClass.enumerated() {
            let key = StructureLabel(rawValue: UInt8(index + 1)).map { "\($0)" } ?? "structure\(index + 1)"
            row["val.metric.dice." + key] = part.dice
        }
        let l = localization.aggregate()
        row["val.metric.localizationMM"] = l.meanDistanceMM
        row["val.metric.identificationRate"] = l.identificationRate
        row["val.metric.psnr"] = psnr.aggregate().meanDB
        row["val.metric.regionAccuracy"] = regions.total > 0 ? Double(regions.correct) / Double(regions.total) : .nan
        return row
    }
}
