import Foundation
import Torch

/// What the loader prepares beyond the voxel labels for the loose-label losses: shape-descriptor bounds, box maps
/// and soft rater consensus. The trainer sets it from the loss config (`LooseTargets(loss:)`); the default prepares
/// nothing extra.
public struct LooseTargets: Sendable, Equatable {
    /// Descriptor bounds for these structure classes, with this tolerance; nil: none.
    public var descriptors: DescriptorBounds.Tolerance?
    public var descriptorStructures: [Int]
    /// A box map for subjects annotated with boxes.
    public var boxes: Bool
    /// The soft multi-label STAPLE consensus of the raters' structure labels for subjects with several raters.
    public var staple: Bool

    public init(descriptors: DescriptorBounds.Tolerance? = nil, descriptorStructures: [Int] = [], boxes: Bool = false, staple: Bool = false) {
        (self.descriptors, self.descriptorStructures, self.boxes, self.staple) = (descriptors, descriptorStructures, boxes, staple)
    }

    public init(loss: LossConfig) {
        let d = loss.descriptors
        self.init(descriptors: d.weight > 0 ? DescriptorBounds.Tolerance(relative: d.relativeTolerance, centroidMM: d.centroidToleranceMM, kinds: Set(d.kinds)) : nil,
                  descriptorStructures: d.weight > 0 ? d.structures : [], boxes: loss.boxes.weight > 0, staple: loss.raters.consensus == .staple)
    }
}

/// One structure's shape descriptors over a whole subject, in the subject's array frame (millimetres from the
/// centre of voxel [0, 0, 0], `ShapeDescriptors` order), with the voxel bounding box of the structure (inclusive),
/// or nil when the structure's extent is not known (descriptor-only annotation without a box).
struct StructureDescriptor: Sendable, Equatable {
    var structure: Int
    /// `ShapeDescriptors.Component` order: size mm³, centroid D, H, W (mm), mean distance (mm), surface (mm²).
    var values: [Double]
    var lo: [Int]? = nil
    var hi: [Int]? = nil

    /// Whether the structure lies wholly inside the crop (always false when its extent is unknown and the crop does
    /// not cover the whole volume).
    func isInside(offset: [Int], size: [Int], shape: [Int]) -> Bool {
        if let lo, let hi { return (0..<3).allSatisfy { lo[$0] >= offset[$0] && hi[$0] < offset[$0] + size[$0] } }
        return (0..<3).allSatisfy { offset[$0] <= 0 && offset[$0] + size[$0] >= shape[$0] }
    }

    /// The descriptors of every structure present in a fully annotated `[D, H, W]` label volume: `ShapeDescriptors`
    /// of the one-hot masks (the same sums, ε, δ and η), computed directly in double precision.
    static func fromLabels(_ labels: [UInt8], shape: [Int], spacingMM: [Double], structures: Int) -> [StructureDescriptor] {
        let (nd, nh, nw) = (shape[0], shape[1], shape[2]), voxel = spacingMM.reduce(1, *)
        var count = [Double](repeating: 0, count: structures), sum = [[Double]](repeating: [0, 0, 0], count: structures)
        var lo = [[Int]](repeating: shape, count: structures), hi = [[Int]](repeating: [-1, -1, -1], count: structures)
        var i = 0
        for d in 0..<nd {
            for h in 0..<nh {
                for w in 0..<nw {
                    let l = Int(labels[i])
                    i += 1
                    guard l > 0, l < structures else { continue }
                    count[l] += 1
                    sum[l][0] += Double(d) * spacingMM[0]
                    sum[l][1] += Double(h) * spacingMM[1]
                    sum[l][2] += Double(w) * spacingMM[2]
                    lo[l] = [min(lo[l][0], d), min(lo[l][1], h), min(lo[l][2], w)]
                    hi[l] = [max(hi[l][0], d), max(hi[l][1], h), max(hi[l][2], w)]
                }
            }
        }
        let present = (1..<structures).filter { count[$0] > 0 }
        let centroid = (0..<structures).map { s in sum[s].map { $0 / (count[s] + ShapeDescriptors.sizeEpsilon) } }
        var distance = [Double](repeating: 0, count: structures), surface = distance
        let delta2 = ShapeDescriptors.distanceEpsilon * ShapeDescriptors.distanceEpsilon, eta = ShapeDescriptors.gradientEpsilon
        i = 0
        for d in 0..<nd {
            for h in 0..<nh {
                for w in 0..<nw {
                    defer { i += 1 }
                    let l = Int(labels[i])
                    if l > 0, l < structures {
                        let c = centroid[l]
                        let x: [Double] = [Double(d) * spacingMM[0] - c[0], Double(h) * spacingMM[1] - c[1], Double(w) * spacingMM[2] - c[2]]
                        let r2: Double = x[0] * x[0] + x[1] * x[1] + x[2] * x[2]
                        distance[l] += (r2 + delta2).squareRoot()
                    }
                    // Forward differences of each one-hot mask that is 1 here or at a forward neighbour.
                    let next = [d + 1 < nd ? Int(labels[i + nh * nw]) : l, h + 1 < nh ? Int(labels[i + nw]) : l, w + 1 < nw ? Int(labels[i + 1]) : l]
                    guard next.contains(where: { $0 != l }) else { continue }
                    for s in Set([l] + next) where s > 0 && s < structures {
                        var g2 = 0.0
                        for axis in 0..<3 {
                            let here = l == s ? 1.0 : 0, there = next[axis] == s ? 1.0 : 0
                            g2 += pow((there - here) / spacingMM[axis], 2)
                        }
                        surface[s] += ((g2 + eta * eta).squareRoot() - eta) * voxel
                    }
                }
            }
        }
        return present.map { s in
            StructureDescriptor(structure: s, values: [count[s] * voxel] + centroid[s] + [distance[s] / (count[s] + ShapeDescriptors.sizeEpsilon), surface[s]],
                                lo: lo[s], hi: hi[s])
        }
    }
}

extension DescriptorBounds {
    /// Bounds one structure of one sample around descriptor values f* (`ShapeDescriptors.Component` order), as
    /// `fromLabels` does: relative for size, mean distance and surface (none where f* is 0), ±centroidMM for the
    /// centroid; only the kinds of `tolerance`.
    mutating func set(sample: Int, structure: Int, around values: [Double], tolerance: Tolerance) {
        for component in ShapeDescriptors.Component.allCases where tolerance.kinds.contains(component.kind) {
            let value = values[component.rawValue]
            guard value.isFinite else { continue }
            if component.kind == .centroid {
                set(sample: sample, structure: structure, component, lower: value - tolerance.centroidMM,
                    upper: value + tolerance.centroidMM, scale: tolerance.centroidMM)
            } else if value > 0 {
                set(sample: sample, structure: structure, component, lower: value * (1 - tolerance.relative),
                    upper: value * (1 + tolerance.relative), scale: value)
            }
        }
    }
}

extension CropSample {
    /// Bounds sample `n` around the subject's structure descriptors, for the structures wholly inside the crop, with
    /// centroids in the crop's array frame (shifted by the crop offset, moved by flips and rotations).
    func addDescriptorBounds(to bounds: inout DescriptorBounds, sample n: Int, targets: LooseTargets) {
        guard let tolerance = targets.descriptors else { return }
        let spacing = layout.geometry.spacingMM, centroid = ShapeDescriptors.Component.centroidD.rawValue
        for (k, d) in layout.structureDescriptors.enumerated()
        where targets.descriptorStructures.contains(d.structure) && d.structure < bounds.structures
            && d.isInside(offset: offset, size: size, shape: layout.shape) {
            var values = d.values
            for axis in 0..<3 { values[centroid + axis] = descriptorCentroids[k][axis] * spacing[axis] }
            bounds.set(sample: n, structure: d.structure, around: values, tolerance: tolerance)
        }
    }

    /// Level ids of the boxes that the crop or the field of view cuts (their tightness prior does not hold).
    var cutBoxLevels: [Int] {
        layout.vertebrae.indices.compactMap { row in
            guard let box = layout.boxes[row] else { return nil }
            let record = layout.vertebrae[row]
            return record.cutByFieldOfView || !box.isInside(offset: offset, size: size) ? record.level.id : nil
        }
    }

    /// The multi-label STAPLE posterior of the raters' structure labels, `[S, D, H, W]`, estimated over the crop's
    /// field-of-view voxels; 0 in padding.
    func stapleConsensus(structures: Int) throws -> [Float] {
        let inside = (0..<voxelCount).filter { fieldOfView[$0] != 0 }
        let decisions = raterStructures.map { r in inside.map { r[$0] } }
        let result: MultiLabelSTAPLE.Result
        do {
            result = try MultiLabelSTAPLE()(decisions, labels: structures)
        } catch {
            throw LoaderError.sampleFailed(subject: layout.id, message: "STAPLE consensus of the raters' structure labels: \(error)")
        }
        var out = [Float](repeating: 0, count: structures * voxelCount)
        for (j, i) in inside.enumerated() {
            for s in 0..<structures { out[s * voxelCount + i] = Float(result.consensus[j * structures + s]) }
        }
        return out
    }
}
