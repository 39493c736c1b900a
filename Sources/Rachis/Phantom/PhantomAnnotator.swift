/// Labels and table as delivered by the annotators of one subject.
struct PhantomAnnotation {
    var vertebraLabels: [UInt8]
    var structureLabels: [UInt8]
    var vertebraAnnotated: [UInt8]
    var structureAnnotated: [UInt8]
    var raters: [RaterLabels]
    var records: [VertebraRecord]
}

/// A set of label values as a lookup table (hash-free in per-voxel loops).
private struct LabelSet {
    private var member = [Bool](repeating: false, count: 256)
    private(set) var isEmpty = true

    init(_ values: [UInt8] = []) { for v in values { insert(v) } }

    mutating func insert(_ v: UInt8) {
        member[Int(v)] = true
        isEmpty = false
    }

    func contains(_ v: UInt8) -> Bool { member[Int(v)] }
}

/// Turns ground-truth labels into what an annotator would have delivered, per `AnnotationMode`.
struct PhantomAnnotator {
    let shape: [Int]

    /// In-plane (H, W) morphology of a label volume, `steps` times: erosion clears a labelled voxel next
    /// to background (so labels that touch, like a lesion inside a body, stay touching); dilation gives a
    /// background voxel the label of a labelled neighbour. `only` restricts both to some labels.
    func morph(_ labels: [UInt8], steps: Int, erode: Bool, only keep: ((UInt8) -> Bool)? = nil) -> [UInt8] {
        var current = labels
        let (nh, nw) = (shape[1], shape[2])
        for _ in 0..<steps {
            var next = current
            for d in 0..<shape[0] {
                for h in 0..<nh {
                    for w in 0..<nw {
                        let i = (d * nh + h) * nw + w, v = current[i]
                        guard erode ? v != 0 && keep?(v) ?? true : v == 0 else { continue }
                        for n in [h > 0 ? current[i - nw] : v, h + 1 < nh ? current[i + nw] : v,
                                  w > 0 ? current[i - 1] : v, w + 1 < nw ? current[i + 1] : v] {
                            if erode, n == 0 {
                                next[i] = 0
                                break
                            } else if !erode, n != 0, keep?(n) ?? true {
                                next[i] = n
                                break
                            }
                        }
                    }
                }
            }
            current = next
        }
        return current
    }

    /// Each level's voxels replaced by its bounding box (boxes claim only voxels no earlier box holds).
    func boxes(_ labels: [UInt8]) -> [UInt8] {
        var lo: [UInt8: [Int]] = [:], hi: [UInt8: [Int]] = [:]
        let (nh, nw) = (shape[1], shape[2])
        for (i, v) in labels.enumerated() where v != 0 {
            let p = [i / (nh * nw), (i / nw) % nh, i % nw]
            lo[v] = lo[v].map { zip($0, p).map { min($0, $1) } } ?? p
            hi[v] = hi[v].map { zip($0, p).map { max($0, $1) } } ?? p
        }
        var out = [UInt8](repeating: 0, count: labels.count)
        for v in lo.keys.sorted(by: { try! VertebraLevel(id: Int($0)) < VertebraLevel(id: Int($1)) }) {
            let a = lo[v]!, b = hi[v]!
            for d in a[0]...b[0] { for h in a[1]...b[1] { for w in a[2]...b[2] {
                let i = (d * nh + h) * nw + w
                if out[i] == 0 { out[i] = v }
            } } }
        }
        return out
    }

    /// The most frequent value per voxel across `volumes`; ties go to the earliest volume.
    func majority(_ volumes: [[UInt8]]) -> [UInt8] {
        var out = volumes[0]
        for i in out.indices {
            var bestCount = 0
            for r in volumes.indices {
                let v = volumes[r][i]
                var count = 0
                for other in volumes where other[i] == v { count += 1 }
                if count > bestCount {
                    out[i] = v
                    bestCount = count
                }
            }
        }
        return out
    }

    func majority(_ classes: [Int]) -> Int {
        classes.max { a, b in
            let ca = classes.filter { $0 == a }.count, cb = classes.filter { $0 == b }.count
            return ca < cb || (ca == cb && classes.firstIndex(of: a)! > classes.firstIndex(of: b)!)
        }!
    }

    /// Degrades `truth` as `mode` says; `records` hold the true classes and centroids of the visible vertebrae.
    func annotate(mode: AnnotationMode, truth: PhantomTruth, records: [VertebraRecord], recipe: PhantomRecipe,
                  rng: inout SplitMix64) -> PhantomAnnotation {
        let n = truth.vertebraLabels.count
        var records = records
        var vertebraLabels = truth.vertebraLabels, structureLabels = truth.structureLabels
        var vertebraAnnotated = [UInt8](repeating: 1, count: n), structureAnnotated = vertebraAnnotated
        var raters: [RaterLabels] = []
        let margin = recipe.maskMarginVoxels
        switch mode {
        case .full:
            break
        case .partial:
            let grownTruth = morph(truth.vertebraLabels, steps: 1, erode: false)
            var dropped = LabelSet()
            for k in records.indices where rng.bernoulli(recipe.partialFraction) {
                dropped.insert(UInt8(records[k].level.id))
                records[k].annotation = .unlabelled
                records[k].classIndex = nil
                records[k].centroidMM = nil
            }
            for i in 0..<n where dropped.contains(grownTruth[i]) || dropped.contains(vertebraLabels[i]) {
                vertebraAnnotated[i] = 0
                vertebraLabels[i] = 0
            }
            let droppable: [StructureLabel] = [.intervertebralDisc, .spinalCanal, .posteriorElements]
            let droppedStructures = LabelSet(droppable.filter { _ in rng.bernoulli(recipe.partialFraction) }.map(\.rawValue))
            if !droppedStructures.isEmpty {
                let grown = morph(truth.structureLabels, steps: 1, erode: false) { droppedStructures.contains($0) }
                for i in 0..<n where droppedStructures.contains(grown[i]) || droppedStructures.contains(structureLabels[i]) {
                    structureAnnotated[i] = 0
                    structureLabels[i] = 0
                }
            }
        case .box:
            vertebraLabels = boxes(truth.vertebraLabels)
            structureLabels = [UInt8](repeating: 0, count: n)
            structureAnnotated = structureLabels
        case .eroded, .dilated:
            vertebraLabels = morph(truth.vertebraLabels, steps: margin, erode: mode == .eroded)
            structureLabels = morph(truth.structureLabels, steps: margin, erode: mode == .eroded)
        case .raters:
            var raterVertebra: [[UInt8]] = [], raterStructure: [[UInt8]] = []
            for _ in 0..<recipe.raterCount {
                let steps = Int(rng.unit() * Double(margin + 1))
                let erode = rng.bernoulli(0.5)
                let skipped = LabelSet(records.filter { _ in rng.bernoulli(recipe.raterDropout) }.map { UInt8($0.level.id) })
                var v = morph(truth.vertebraLabels, steps: steps, erode: erode)
                for i in 0..<n where skipped.contains(v[i]) { v[i] = 0 }
                raterVertebra.append(v)
                raterStructure.append(morph(truth.structureLabels, steps: steps, erode: erode))
                for k in records.indices {
                    var c = truth.classIndices[k]
                    if recipe.classNames.count > 1 && rng.bernoulli(recipe.raterClassErrorRate) {
                        c = (c + 1 + Int(rng.unit() * Double(recipe.classNames.count - 1))) % recipe.classNames.count
                    }
                    records[k].raterClasses.append(c)
                }
            }
            raters = zip(raterVertebra, raterStructure).map { RaterLabels(vertebraLabels: $0, structureLabels: $1) }
            vertebraLabels = majority(raterVertebra)
            structureLabels = majority(raterStructure)
            for k in records.indices { records[k].classIndex = majority(records[k].raterClasses) }
        case .classOnly, .unlabelled, .descriptors:
            vertebraLabels = [UInt8](repeating: 0, count: n)
            structureLabels = vertebraLabels
            vertebraAnnotated = vertebraLabels
            structureAnnotated = vertebraLabels
            // Descriptor-only annotators give centroids (and the structures' descriptors, added by the generator).
            if mode != .descriptors { for k in records.indices { records[k].centroidMM = nil } }
            if mode == .unlabelled { records = [] }
        }

        return PhantomAnnotation(vertebraLabels: vertebraLabels, structureLabels: structureLabels,
                                 vertebraAnnotated: vertebraAnnotated, structureAnnotated: structureAnnotated,
                                 raters: raters, records: records)
    }
}
