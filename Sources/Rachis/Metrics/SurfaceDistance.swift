/// Surface distances between binary masks on an anisotropic `[D, H, W]` grid (C order, W fastest).
///
/// - Surface: the voxels of a mask with at least one 6-neighbour outside the mask; the volume's edge counts as
///   outside (scipy's `binary_erosion` with `border_value=0`, as MONAI's `get_mask_edges`).
/// - Directed distances from A to B: for each surface voxel of A, the Euclidean distance in mm to the nearest surface
///   voxel of B, read from an exact Euclidean distance transform of B's surface.
/// - HD95, two definitions in use (`HD95Definition`), P95 the 95th percentile with linear interpolation between
///   order statistics (numpy's default):
///   - MONAI's `compute_hausdorff_distance(percentile: 95)`: max(P95(A→B), P95(B→A));
///   - medpy's `metric.binary.hd95`: P95 of the pooled distances A→B and B→A.
///   Both use the same surfaces (medpy's `result ^ binary_erosion(result)` with connectivity 1 is this surface).
public enum SurfaceDistance {
    /// The surface of `mask` (see the type's doc).
    public static func surface(_ mask: [Bool], shape: [Int]) -> [Bool] {
        precondition(shape.count == 3 && mask.count == shape.reduce(1, *))
        let (nd, nh, nw) = (shape[0], shape[1], shape[2])
        var edge = [Bool](repeating: false, count: mask.count)
        for d in 0..<nd {
            for h in 0..<nh {
                for w in 0..<nw {
                    let i = (d * nh + h) * nw + w
                    guard mask[i] else { continue }
                    edge[i] = d == 0 || d == nd - 1 || h == 0 || h == nh - 1 || w == 0 || w == nw - 1
                        || !mask[i - nh * nw] || !mask[i + nh * nw] || !mask[i - nw] || !mask[i + nw] || !mask[i - 1] || !mask[i + 1]
                }
            }
        }
        return edge
    }

    /// Squared Euclidean distance in mm² from every voxel to the nearest `true` voxel of `sites` (+∞ when there is
    /// none): exact, separable, one pass per axis of Felzenszwalb & Huttenlocher's lower envelope of parabolas
    /// (2012), with each axis's positions in mm, so the cost is linear in the voxel count.
    public static func squaredDistanceTransform(_ sites: [Bool], shape: [Int], spacingMM: [Double]) -> [Double] {
        precondition(shape.count == 3 && spacingMM.count == 3 && sites.count == shape.reduce(1, *))
        var f = sites.map { $0 ? 0.0 : Double.infinity }
        let strides = [shape[1] * shape[2], shape[2], 1]
        for axis in 0..<3 {
            let n = shape[axis], stride = strides[axis]
            guard n > 1 else { continue }
            var line = [Double](repeating: 0, count: n), out = [Double](repeating: 0, count: n)
            var workspace = Envelope(capacity: n)
            // Every line along `axis`: start indices are the voxels whose `axis` coordinate is 0.
            let others = (0..<3).filter { $0 != axis }
            for a in 0..<shape[others[0]] {
                for b in 0..<shape[others[1]] {
                    let start = a * strides[others[0]] + b * strides[others[1]]
                    for i in 0..<n { line[i] = f[start + i * stride] }
                    workspace.transform(line, spacing: spacingMM[axis], into: &out)
                    for i in 0..<n { f[start + i * stride] = out[i] }
                }
            }
        }
        return f
    }

    /// The 1D lower envelope of the parabolas `(x − x_q)² + f(q)`, x_q = q·spacing, over the finite f(q).
    struct Envelope {
        var vertices: [Int]
        var boundaries: [Double]
        init(capacity n: Int) { (vertices, boundaries) = ([Int](repeating: 0, count: n), [Double](repeating: 0, count: n + 1)) }

        mutating func transform(_ f: [Double], spacing s: Double, into out: inout [Double]) {
            let n = f.count
            var k = -1
            for q in 0..<n where f[q].isFinite {
                let xq = Double(q) * s
                while k >= 0 {
                    let v = vertices[k], xv = Double(v) * s
                    let boundary = ((f[q] + xq * xq) - (f[v] + xv * xv)) / (2 * (xq - xv))
                    if boundary <= boundaries[k] { k -= 1 } else {
                        k += 1
                        vertices[k] = q
                        boundaries[k] = boundary
                        break
                    }
                }
                if k < 0 {
                    k = 0
                    vertices[0] = q
                    boundaries[0] = -.infinity
                }
                boundaries[k + 1] = .infinity
            }
            guard k >= 0 else {
                for i in 0..<n { out[i] = .infinity }
                return
            }
            var j = 0
            for i in 0..<n {
                let x = Double(i) * s
                while boundaries[j + 1] < x { j += 1 }
                let dx = x - Double(vertices[j]) * s
                out[i] = dx * dx + f[vertices[j]]
            }
        }
    }

    /// Distances in mm from every voxel of `from` to the nearest voxel of `to` (both surfaces, or any sets), in
    /// voxel order; empty when `from` is empty, +∞ each when `to` is empty.
    public static func directedDistancesMM(from: [Bool], to: [Bool], shape: [Int], spacingMM: [Double]) -> [Double] {
        let field = squaredDistanceTransform(to, shape: shape, spacingMM: spacingMM)
        return from.indices.compactMap { from[$0] ? field[$0].squareRoot() : nil }
    }

    /// The `p`-th percentile (0-100) with linear interpolation between the closest ranks (numpy's default): rank
    /// r = p/100·(n − 1), value x₍⌊r⌋₎ + (r − ⌊r⌋)·(x₍⌈r⌉₎ − x₍⌊r⌋₎) of the sorted values. NaN when empty.
    public static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        let rank = p / 100 * Double(sorted.count - 1)
        let low = Int(rank.rounded(.down)), high = Int(rank.rounded(.up))
        return sorted[low] + (rank - Double(low)) * (sorted[high] - sorted[low])
    }

    /// HD95 in mm between two masks, MONAI's definition; NaN when either is empty.
    public static func hausdorff95MM(prediction: [Bool], reference: [Bool], shape: [Int], spacingMM: [Double]) -> Double {
        hausdorffMM(prediction: prediction, reference: reference, shape: shape, spacingMM: spacingMM, percentile: 95)
    }

    /// HD95 in mm between two masks by both definitions (`HD95Definition`), from one pair of distance transforms;
    /// NaN each when either mask is empty.
    public static func hausdorff95BothMM(prediction: [Bool], reference: [Bool], shape: [Int], spacingMM: [Double]) -> (monai: Double, medpy: Double) {
        let a = surface(prediction, shape: shape), b = surface(reference, shape: shape)
        guard a.contains(true), b.contains(true) else { return (.nan, .nan) }
        let ab = directedDistancesMM(from: a, to: b, shape: shape, spacingMM: spacingMM)
        let ba = directedDistancesMM(from: b, to: a, shape: shape, spacingMM: spacingMM)
        return (Swift.max(percentile(ab, 95), percentile(ba, 95)), percentile(ab + ba, 95))
    }

    /// max(P(A→B), P(B→A)) of the surface-to-surface distances; `percentile` 100 gives the Hausdorff distance. NaN
    /// when either mask is empty.
    public static func hausdorffMM(prediction: [Bool], reference: [Bool], shape: [Int], spacingMM: [Double], percentile p: Double) -> Double {
        let a = surface(prediction, shape: shape), b = surface(reference, shape: shape)
        guard a.contains(true), b.contains(true) else { return .nan }
        let ab = directedDistancesMM(from: a, to: b, shape: shape, spacingMM: spacingMM)
        let ba = directedDistancesMM(from: b, to: a, shape: shape, spacingMM: spacingMM)
        return Swift.max(percentile(ab, p), percentile(ba, p))
    }
}

/// Which HD95 a figure is: the two definitions in use differ by up to a few millimetres on the same masks.
public enum HD95Definition: String, CaseIterable, Codable, Sendable {
    /// max(P95(A→B), P95(B→A)): MONAI's `compute_hausdorff_distance(percentile=95)`, the definition of Metrics
    /// Reloaded and of DeepMind's `surface_distance.compute_robust_hausdorff` (BraTS 2023's lesion-wise HD95).
    case monai
    /// P95 of the pooled distances A→B and B→A: medpy's `metric.binary.hd95`.
    case medpy

    /// The definition written out, for evaluation.json and the docs.
    public var text: String {
        switch self {
        case .monai:
            "MONAI: max(P95(pred→ref), P95(ref→pred)) of the surface-to-surface distances in mm (surface: mask voxels with a 6-neighbour outside the mask or the volume; P95: numpy's linear percentile)"
        case .medpy:
            "medpy: P95 of the pooled distances pred→ref and ref→pred, in mm (same surfaces and percentile)"
        }
    }
}
