import Torch

/// Per-sample, per-structure bounds a ≤ f(p) ≤ b on the shape descriptors (`ShapeDescriptors.Component`), each
/// with the scale s its violation is measured in: the barrier sees (f − b)/s and (a − f)/s. A side without a
/// bound is inactive. Built by hand (`set`) for descriptor-only annotation, or from labels (`fromLabels`).
public struct DescriptorBounds: Sendable, Equatable {
    public let samples: Int
    public let structures: Int
    /// Flat `[N, S, 6]`; NaN where there is no bound.
    public private(set) var lower: [Double]
    public private(set) var upper: [Double]
    public private(set) var scale: [Double]

    public static let componentCount = ShapeDescriptors.Component.allCases.count

    public init(samples: Int, structures: Int) {
        (self.samples, self.structures) = (samples, structures)
        let count = samples * structures * Self.componentCount
        lower = [Double](repeating: .nan, count: count)
        upper = lower
        scale = [Double](repeating: 1, count: count)
    }

    func index(_ sample: Int, _ structure: Int, _ component: ShapeDescriptors.Component) -> Int {
        (sample * structures + structure) * Self.componentCount + component.rawValue
    }

    /// Bounds one descriptor of one sample's structure; nil leaves that side unbounded.
    public mutating func set(sample: Int, structure: Int, _ component: ShapeDescriptors.Component,
                             lower a: Double?, upper b: Double?, scale s: Double = 1) {
        precondition((0..<samples).contains(sample) && (0..<structures).contains(structure), "bound outside [N, S]")
        precondition(s > 0 && s.isFinite, "the scale of a bound must be positive")
        let i = index(sample, structure, component)
        (lower[i], upper[i], scale[i]) = (a ?? .nan, b ?? .nan, s)
    }

    /// The bounds of sample n alone (`[1, S]`).
    public func sample(_ n: Int) -> DescriptorBounds {
        var one = DescriptorBounds(samples: 1, structures: structures)
        let range = (n * structures * Self.componentCount)..<((n + 1) * structures * Self.componentCount)
        (one.lower, one.upper, one.scale) = (Array(lower[range]), Array(upper[range]), Array(scale[range]))
        return one
    }

    /// Whether sample n has any bound.
    public func hasBounds(sample n: Int) -> Bool {
        let range = (n * structures * Self.componentCount)..<((n + 1) * structures * Self.componentCount)
        return range.contains { !lower[$0].isNaN || !upper[$0].isNaN }
    }

    /// How wide the bounds taken from labels are.
    public struct Tolerance: Sendable, Equatable {
        /// Size, mean distance and surface: a = f·(1 − relative), b = f·(1 + relative), scale f.
        public var relative: Double
        /// Centroid: a = c − centroidMM, b = c + centroidMM, scale centroidMM.
        public var centroidMM: Double
        /// The descriptor kinds to bound.
        public var kinds: Set<ShapeDescriptors.Kind>

        public init(relative: Double = 0.1, centroidMM: Double = 5, kinds: Set<ShapeDescriptors.Kind> = Set(ShapeDescriptors.Kind.allCases)) {
            precondition(relative >= 0 && centroidMM > 0, "tolerances must be non-negative (centroid: positive)")
            (self.relative, self.centroidMM, self.kinds) = (relative, centroidMM, kinds)
        }
    }

    /// Bounds around the descriptors of the labels (one-hot of `target`), for the samples where `samples` is true
    /// (all by default) and the structures present in them; background (class 0) only if `includeBackground`.
    /// Structures absent from a sample's labels get no bound (their size is 0, and a relative scale of 0 is none).
    /// - Parameter target: `[N, D, H, W]` int64 class per voxel, every voxel annotated.
    public static func fromLabels(_ target: Tensor, structures: Int, spacingMM: [Double], tolerance: Tolerance = Tolerance(),
                                  samples selected: [Bool]? = nil, includeBackground: Bool = false) throws -> DescriptorBounds {
        guard target.rank == 4 else {
            throw LossError.invalidTarget(loss: "descriptor bounds", message: "target must be [N, D, H, W], found \(target.shape)")
        }
        let n = target.shape[0]
        if let selected, selected.count != n {
            throw LossError.countMismatch(loss: "descriptor bounds", what: "sample flags", expected: n, found: selected.count)
        }
        let values: [Double] = try Torch.noGrad {
            let oneHot = try target.oneHot(classes: structures).permute([0, 4, 1, 2, 3]).to(.float64)
            return try ShapeDescriptors(oneHot, spacingMM: spacingMM).components.array(Double.self)
        }
        var bounds = DescriptorBounds(samples: n, structures: structures)
        for sample in 0..<n where selected?[sample] ?? true {
            for structure in (includeBackground ? 0 : 1)..<structures {
                let start = bounds.index(sample, structure, .sizeMM3)
                guard values[start] > 0 else { continue }
                bounds.set(sample: sample, structure: structure, around: Array(values[start..<(start + componentCount)]), tolerance: tolerance)
            }
        }
        return bounds
    }
}
