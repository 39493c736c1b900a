import Torch

/// Supervision from boxes (a box per object, as in the dataset's `box` annotation mode, where each vertebra's
/// label is its bounding box): with p_C = Σ_{c ∈ C} softmax(logits)_c the probability of the boxed classes C
/// (e.g. vertebral body, lesion and posterior elements for vertebra boxes; one structure for structure boxes):
///
/// - outside every box, C is absent:
///       L_out = mean over outside voxels of −log(1 − p_C) = −(logsumexp_{c ∉ C} z_c − logsumexp_c z_c)
///   (the cross-entropy toward "not C"; with C every foreground class it is −log p_background);
/// - size prior, per box B: the structure fills between `fill.lower` and `fill.upper` of the box,
///       φ_B = Σ_{v ∈ B} p_C(v) / |B|,    L_size(B) = ψ_t(a − φ_B) + ψ_t(φ_B − b)          (`LogBarrier`)
/// - tightness prior (Hsu et al. 2019, "Weakly supervised instance segmentation using the bounding box tightness
///   prior"; Kervadec et al. 2020, "Bounding boxes for weakly supervised segmentation: global constraints get
///   close to full supervision"), in 3-D: every slice of the box perpendicular to an axis holds the object, so
///   its largest probability reaches `tightnessThreshold` θ:
///       m_P = max_{v ∈ P} p_C(v),    L_tight(B) = mean over the slices P of B normal to D, H and W of ψ_t(θ − m_P)
///   (the max passes its gradient to the slice's most probable voxel). A connected object spans its bounding box
///   along every axis, so every such slice meets it. The 2-D papers' lines do not carry over to 3-D: a line
///   parallel to an axis is a point of the object's projection on the other two axes, which need not fill the
///   box's face (a ball's lines miss it in 1 − π/4 of the cases; a vertebra's lines along D and H miss it about
///   half the time, through the spinal canal and the corners), and the prior would then teach those voxels as C.
///
///     L = L_out + sizeWeight·mean_B L_size(B) + tightnessWeight·mean_{B not cut} L_tight(B)
///
/// Boxes come as a `[N, D, H, W]` id map (0 outside every box, k > 0 inside box k), like the dataset's box labels;
/// box k is the bounding box of its voxels (where boxes overlap, the map may give a shared voxel to one box: the
/// other still covers it through its bounding box). Only samples with `sampleMask` > 0 take part; the count is
/// the number of those samples.
public struct BoxLoss: Sendable {
    /// The classes a box encloses (indices into the logits' S).
    public var classes: [Int]
    public var fill: (lower: Double, upper: Double)
    public var sizeWeight: Double
    /// 0 switches the tightness prior off.
    public var tightnessWeight: Double
    public var tightnessThreshold: Double
    public var barrier: LogBarrier

    public init(classes: [Int], fill: (lower: Double, upper: Double) = (0.25, 0.85), sizeWeight: Double = 1,
                tightnessWeight: Double = 0.5, tightnessThreshold: Double = 0.5, barrier: LogBarrier = LogBarrier()) {
        precondition(!classes.isEmpty, "a box loss needs the classes its boxes enclose")
        precondition(0 <= fill.lower && fill.lower <= fill.upper && fill.upper <= 1, "fill bounds must satisfy 0 ≤ lower ≤ upper ≤ 1")
        self.classes = classes
        self.fill = fill
        self.sizeWeight = sizeWeight
        self.tightnessWeight = tightnessWeight
        self.tightnessThreshold = tightnessThreshold
        self.barrier = barrier
    }

    /// A box: its sample and the half-open voxel ranges [lo, hi) per axis.
    public struct Box: Equatable, Sendable {
        public var sample: Int
        public var id: Int
        public var lower: [Int]
        public var upper: [Int]
    }

    /// A box by sample and id.
    public struct BoxKey: Hashable, Sendable {
        public var sample: Int
        public var id: Int
        public init(sample: Int, id: Int) { (self.sample, self.id) = (sample, id) }
    }

    /// The bounding box of every id > 0 in a `[N, D, H, W]` id map, by sample then id.
    public static func boxes(in map: Tensor) throws -> [Box] {
        let shape = map.shape
        let ids = try map.to(.int64, device: .cpu).array(Int64.self)
        let (d, h, w) = (shape[1], shape[2], shape[3])
        var boxes: [Box] = []
        for n in 0..<shape[0] {
            var extent: [Int: (lo: [Int], hi: [Int])] = [:]
            for z in 0..<d { for y in 0..<h { for x in 0..<w {
                let id = Int(ids[((n * d + z) * h + y) * w + x])
                guard id > 0 else { continue }
                let p = [z, y, x]
                if let e = extent[id] {
                    extent[id] = (zip(e.lo, p).map { min($0, $1) }, zip(e.hi, p).map { max($0, $1 + 1) })
                } else {
                    extent[id] = (p, p.map { $0 + 1 })
                }
            } } }
            boxes += extent.keys.sorted().map { Box(sample: n, id: $0, lower: extent[$0]!.lo, upper: extent[$0]!.hi) }
        }
        return boxes
    }

    /// - Parameters:
    ///   - logits: `[N, S, D, H, W]`.
    ///   - boxes: `[N, D, H, W]` integer box ids, 0 outside every box.
    ///   - sampleMask: `[N]` float 0/1 (nil: every sample).
    ///   - known: `[N, D, H, W]` or `[N, 1, D, H, W]` float 0/1, where the outside term applies (e.g. the field of
    ///     view, so crop padding is not taught as "not C"); nil: everywhere.
    ///   - cut: boxes that a crop or the field of view cuts: their box is not the object's, so the tightness prior
    ///     (every slice meets the object) is skipped for them; the size prior and the outside term still apply.
    public func callAsFunction(logits: Tensor, boxes map: Tensor, sampleMask: Tensor? = nil, known: Tensor? = nil,
                               cut: Set<BoxKey> = []) throws -> MaskedLoss {
        let shape = logits.shape
        guard shape.count == 5 else {
            throw LossError.invalidTarget(loss: "box", message: "logits must be [N, S, D, H, W], found \(shape)")
        }
        let (n, s) = (shape[0], shape[1])
        try requireShape(map, [n] + Array(shape[2...]), loss: "box", name: "box map")
        if let sampleMask { try requireShape(sampleMask, [n], loss: "box", name: "sample mask") }
        guard classes.allSatisfy({ (0..<s).contains($0) }), Set(classes).count < s else {
            throw LossError.invalidTarget(loss: "box", message: "box classes \(classes) must be distinct indices below \(s), leaving one class outside")
        }
        let selected = try sampleMask.map { try $0.gt(0).array(Bool.self) } ?? Array(repeating: true, count: n)
        let mask = try Tensor(selected.map { $0 ? 1.0 : 0.0 }, shape: [n]).to(logits.dtype, device: logits.device)
        let count = selected.filter { $0 }.count

        let inside = try Tensor(classes.map(Int64.init)).to(device: logits.device)
        let outsideClasses = (0..<s).filter { !classes.contains($0) }
        let others = try Tensor(outsideClasses.map(Int64.init)).to(device: logits.device)
        let logAll = try logits.logsumexp(dims: [1])
        let logNotC = try logits.indexSelect(dim: 1, index: others).logsumexp(dims: [1]) - logAll
        var outsideMask = try map.eq(0).to(logits.dtype) * mask.perSample(rank: 4)
        if let known { outsideMask = try outsideMask * known.reshape([n] + Array(shape[2...])).to(logits.dtype) }
        var total = try MaskedLoss.mean(logNotC.neg(), mask: outsideMask).value

        let pC = try logits.softmax(dim: 1).indexSelect(dim: 1, index: inside).sum(dims: [1])
        let boxes = try Self.boxes(in: map).filter { selected[$0.sample] }
        if !boxes.isEmpty && (sizeWeight != 0 || tightnessWeight != 0) {
            var sizeTerms: [Tensor] = [], tightTerms: [Tensor] = []
            for box in boxes {
                var crop = try pC.select(dim: 0, index: box.sample)
                for axis in 0..<3 { crop = try crop.slice(dim: axis, start: box.lower[axis], end: box.upper[axis]) }
                if sizeWeight != 0 {
                    let phi = try crop.mean()
                    sizeTerms.append(try barrier(fill.lower - phi) + barrier(phi - fill.upper))
                }
                if tightnessWeight != 0, !cut.contains(BoxKey(sample: box.sample, id: box.id)) {
                    // Per axis, the largest p_C of each slice normal to it: max over the other two axes.
                    let slices = try (0..<3).map { axis in
                        try barrier(tightnessThreshold - crop.max(dims: (0..<3).filter { $0 != axis })).flatten()
                    }
                    tightTerms.append(try Tensor.cat(slices).mean())
                }
            }
            if !sizeTerms.isEmpty { total = try total + Tensor.stack(sizeTerms).mean() * sizeWeight }
            if !tightTerms.isEmpty { total = try total + Tensor.stack(tightTerms).mean() * tightnessWeight }
        }
        guard count > 0 else { return MaskedLoss(value: try logits.sum() * 0, count: 0) }
        return MaskedLoss(value: total, count: count)
    }
}
