import Foundation

/// How values are interpolated along one array axis when a volume is resampled.
public enum Interpolation: String, Codable, CaseIterable, Sendable {
    /// The value of the closest source voxel (nnU-Net's order 0).
    case nearest
    /// Linear between the two closest source voxels (order 1; trilinear when every axis is linear).
    case linear
}

/// Resampling between two grids over the same field of view: the first voxel's outer edge and the last voxel's outer
/// edge lie at the same world positions in both (as nnU-Net's `resize` and PyTorch's `align_corners=False`), so a grid
/// of `n` voxels of `s` mm becomes `m` voxels of `n·s/m` mm and output voxel `j` samples the source at the continuous
/// index
///
///     x = (j + ½) · n / m − ½        (clamped to [0, n − 1]: the border voxel's value continues outwards)
///
/// Interpolation is separable: one axis at a time, each with its own `Interpolation`, which is how nnU-Net treats a
/// thick-sliced axis (nearest along it, linear or cubic in the plane).
///
/// Label maps are resampled per label (nnU-Net's "per-label linear"): each label's indicator is interpolated as an
/// image, and a voxel takes the label with the largest interpolated indicator when it beats the background
/// (1 − the sum of the indicators), so boundaries are smooth and no label is invented between two others.
public enum Resampler {
    /// Where output voxel `j` samples, per output voxel of one axis: `(i0, i1, w1)` meaning
    /// `(1 − w1)·v[i0] + w1·v[i1]`.
    struct Taps {
        var i0: [Int], i1: [Int], w1: [Float]

        init(from n: Int, to m: Int, interpolation: Interpolation) {
            (i0, i1, w1) = ([], [], [])
            i0.reserveCapacity(m); i1.reserveCapacity(m); w1.reserveCapacity(m)
            let scale = Double(n) / Double(m)
            for j in 0..<m {
                let x = min(max((Double(j) + 0.5) * scale - 0.5, 0), Double(n - 1))
                switch interpolation {
                case .nearest:
                    let i = min(Int((x + 0.5).rounded(.down)), n - 1)
                    i0.append(i); i1.append(i); w1.append(0)
                case .linear:
                    let lower = Int(x.rounded(.down)), upper = min(lower + 1, n - 1)
                    i0.append(lower); i1.append(upper); w1.append(Float(x - Double(lower)))
                }
            }
        }
    }

    /// Resamples `[C, D, H, W]` values from a grid of shape `from` to one of shape `to` over the same field of view.
    public static func resample(_ values: [Float], channels: Int = 1, from: [Int], to: [Int], interpolation: [Interpolation]) -> [Float] {
        precondition(values.count == channels * from.reduce(1, *) && interpolation.count == 3)
        if from == to { return values }
        var current = values, shape = [channels] + from
        for axis in 0..<3 where from[axis] != to[axis] {
            current = resampleAxis(current, shape: shape, axis: axis + 1, taps: Taps(from: from[axis], to: to[axis], interpolation: interpolation[axis]))
            shape[axis + 1] = to[axis]
        }
        return current
    }

    /// One axis of a C-ordered array of `shape` (any rank), through `taps`.
    static func resampleAxis(_ values: [Float], shape: [Int], axis: Int, taps: Taps) -> [Float] {
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
        let n = shape[axis], m = taps.i0.count
        var out = [Float](repeating: 0, count: outer * m * inner)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                taps.i0.withUnsafeBufferPointer { i0 in
                    taps.i1.withUnsafeBufferPointer { i1 in
                        taps.w1.withUnsafeBufferPointer { w1 in
                            for o in 0..<outer {
                                let sBase = o * n * inner, dBase = o * m * inner
                                for j in 0..<m {
                                    let a = sBase + i0[j] * inner, b = sBase + i1[j] * inner, d = dBase + j * inner
                                    let w = w1[j], v = 1 - w
                                    if w == 0 {
                                        for k in 0..<inner { dst[d + k] = src[a + k] }
                                    } else {
                                        for k in 0..<inner { dst[d + k] = v * src[a + k] + w * src[b + k] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Resamples a `[D, H, W]` label map per label (see the type's documentation); with every axis `nearest` it is
    /// plain nearest-neighbour.
    public static func resampleLabels(_ labels: [UInt8], from: [Int], to: [Int], interpolation: [Interpolation]) -> [UInt8] {
        precondition(labels.count == from.reduce(1, *))
        if from == to { return labels }
        if interpolation.allSatisfy({ $0 == .nearest }) {
            let taps = (0..<3).map { Taps(from: from[$0], to: to[$0], interpolation: .nearest).i0 }
            var out = [UInt8](repeating: 0, count: to.reduce(1, *))
            var o = 0
            for d in taps[0] { for h in taps[1] { for w in taps[2] {
                out[o] = labels[(d * from[1] + h) * from[2] + w]
                o += 1
            } } }
            return out
        }
        let n = to.reduce(1, *)
        var best = [UInt8](repeating: 0, count: n), bestValue = [Float](repeating: 0, count: n), sum = [Float](repeating: 0, count: n)
        // Every label's bounding box, in one pass.
        var boxLo = [[Int]](repeating: from, count: 256), boxHi = [[Int]](repeating: [-1, -1, -1], count: 256)
        var i = 0
        for d in 0..<from[0] { for h in 0..<from[1] { for w in 0..<from[2] {
            let l = Int(labels[i])
            i += 1
            guard l != 0 else { continue }
            if d < boxLo[l][0] { boxLo[l][0] = d }; if d > boxHi[l][0] { boxHi[l][0] = d }
            if h < boxLo[l][1] { boxLo[l][1] = h }; if h > boxHi[l][1] { boxHi[l][1] = h }
            if w < boxLo[l][2] { boxLo[l][2] = w }; if w > boxHi[l][2] { boxHi[l][2] = w }
        } } }
        for label in 1..<256 where boxHi[label][0] >= 0 {
            let value = UInt8(label)
            // The label's bounding box, one voxel wider, and the output voxels whose taps can reach it.
            let lo = (0..<3).map { max(boxLo[label][$0] - 1, 0) }
            let hi = (0..<3).map { min(boxHi[label][$0] + 1, from[$0] - 1) }
            let blockShape = (0..<3).map { hi[$0] - lo[$0] + 1 }
            var block = [Float](repeating: 0, count: blockShape.reduce(1, *))
            for d in 0..<blockShape[0] { for h in 0..<blockShape[1] { for w in 0..<blockShape[2] {
                if labels[((lo[0] + d) * from[1] + lo[1] + h) * from[2] + lo[2] + w] == value {
                    block[(d * blockShape[1] + h) * blockShape[2] + w] = 1
                }
            } } }
            // Per axis: the output range, and its taps into the block (outside the block the indicator is 0).
            var shape = blockShape, first = [Int](repeating: 0, count: 3)
            for axis in 0..<3 {
                let taps = Taps(from: from[axis], to: to[axis], interpolation: interpolation[axis])
                let reaches = (0..<to[axis]).filter { j in
                    (taps.i0[j] >= lo[axis] && taps.i0[j] <= hi[axis]) || (taps.w1[j] > 0 && taps.i1[j] >= lo[axis] && taps.i1[j] <= hi[axis])
                }
                guard let j0 = reaches.first, let j1 = reaches.last else { shape[axis] = 0; break }
                first[axis] = j0
                // Taps into the block: an index outside it points at an extra zero row appended to the block.
                let outside = blockShape[axis]
                func local(_ i: Int) -> Int { i >= lo[axis] && i <= hi[axis] ? i - lo[axis] : outside }
                var sub = Taps(from: 1, to: 1, interpolation: .nearest)
                sub.i0 = (j0...j1).map { local(taps.i0[$0]) }
                sub.i1 = (j0...j1).map { local(taps.i1[$0]) }
                sub.w1 = (j0...j1).map { taps.w1[$0] }
                var padded = shape
                padded[axis] += 1
                block = resampleAxis(appendZeroRow(block, shape: shape, axis: axis), shape: padded, axis: axis, taps: sub)
                shape[axis] = j1 - j0 + 1
            }
            guard shape.allSatisfy({ $0 > 0 }) else { continue }
            for d in 0..<shape[0] { for h in 0..<shape[1] { for w in 0..<shape[2] {
                let v = block[(d * shape[1] + h) * shape[2] + w]
                guard v > 0 else { continue }
                let o = ((first[0] + d) * to[1] + first[1] + h) * to[2] + first[2] + w
                sum[o] += v
                if v > bestValue[o] { (bestValue[o], best[o]) = (v, value) }
            } } }
        }
        // Background keeps a voxel whose best label does not beat it.
        for o in 0..<n where best[o] != 0 && bestValue[o] < 1 - sum[o] { best[o] = 0 }
        return best
    }

    /// `values` of `shape` with one more, all-zero, slice at the end of `axis`.
    static func appendZeroRow(_ values: [Float], shape: [Int], axis: Int) -> [Float] {
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *), n = shape[axis]
        var out = [Float](repeating: 0, count: outer * (n + 1) * inner)
        for o in 0..<outer {
            for k in 0..<(n * inner) { out[o * (n + 1) * inner + k] = values[o * n * inner + k] }
        }
        return out
    }

    /// A boolean mask resampled as one label (per-label linear).
    public static func resampleMask(_ mask: [Bool], from: [Int], to: [Int], interpolation: [Interpolation]) -> [Bool] {
        resampleLabels(mask.map { $0 ? 1 : 0 }, from: from, to: to, interpolation: interpolation).map { $0 != 0 }
    }
}

extension Geometry {
    /// The grid over the same field of view (same outer voxel edges, same direction) whose spacing is as close to
    /// `targetMM` as whole voxel counts allow: `round(shape · spacing / target)` voxels (at least 1) per axis, each
    /// `shape · spacing / newShape` mm. The centre of voxel 0 moves by half the change in spacing.
    public func resampled(toSpacingMM targetMM: [Double]) -> Geometry {
        let newShape = (0..<3).map { max(1, Int((Double(shape[$0]) * spacingMM[$0] / targetMM[$0]).rounded())) }
        if newShape == shape { return self }
        let newSpacing = (0..<3).map { Double(shape[$0]) * spacingMM[$0] / Double(newShape[$0]) }
        // Voxel 0's centre sits half a new voxel inside the first edge: index (s'/s − 1)/2 of the old grid.
        let corner = (0..<3).map { (newSpacing[$0] / spacingMM[$0] - 1) / 2 }
        return Geometry(shape: newShape, spacingMM: newSpacing, originMM: worldMM(index: corner), direction: direction)
    }
}
