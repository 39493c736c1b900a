/// Reorientation to Rachis's canonical orientation (PIR, `Geometry.canonicalDirection`) by axis permutation and
/// flips only: voxel values are moved, never resampled, and every voxel keeps its world position.
extension Geometry {
    /// The 3x4 voxel-to-world matrix: `[direction · diag(spacingMM) | originMM]`, columns in array order D, H, W.
    public var affine: [[Double]] {
        (0..<3).map { r in (0..<3).map { direction[r][$0] * spacingMM[$0] } + [originMM[r]] }
    }

    /// The geometry whose `worldMM(index:)` is `affine · [d, h, w, 1]ᵀ` exactly (3x4, columns D, H, W, origin).
    /// Column norms become the spacing, normalised columns the direction (not required to be orthogonal).
    /// Returns nil when a column has zero or non-finite length.
    public init?(shape: [Int], affine: [[Double]]) {
        let spacing = (0..<3).map { c in (0..<3).reduce(0.0) { $0 + affine[$1][c] * affine[$1][c] }.squareRoot() }
        guard spacing.allSatisfy({ $0 > 0 && $0.isFinite }) else { return nil }
        self.init(shape: shape, spacingMM: spacing, originMM: (0..<3).map { affine[$0][3] },
                  direction: (0..<3).map { r in (0..<3).map { affine[r][$0] / spacing[$0] } })
    }

    /// The axis permutation and flips that bring this geometry's array axes closest to `target` directions:
    /// new axis `a` is old axis `permutation[a]`, reversed when `flips[a]`. Of the 48 signed permutations it
    /// picks the one whose axes are most aligned with the target's (largest sum of |cosines|; the sign of each
    /// cosine gives the flip), like nibabel's `io_orientation` + `ornt_transform`.
    public func orientationTransform(to target: [[Double]] = Geometry.canonicalDirection)
        -> (permutation: [Int], flips: [Bool]) {
        let cosine = { (old: Int, new: Int) in (0..<3).reduce(0.0) { $0 + direction[$1][old] * target[$1][new] } }
        let permutations = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]]
        let best = permutations.max { p, q in
            (0..<3).reduce(0.0) { $0 + abs(cosine(p[$1], $1)) } < (0..<3).reduce(0.0) { $0 + abs(cosine(q[$1], $1)) }
        }!
        return (best, (0..<3).map { cosine(best[$0], $0) < 0 })
    }

    /// The transform that undoes `permuted(permutation, flips:)`.
    public static func inverse(permutation: [Int], flips: [Bool]) -> (permutation: [Int], flips: [Bool]) {
        var inverse = [0, 1, 2], inverseFlips = [false, false, false]
        for a in 0..<3 { (inverse[permutation[a]], inverseFlips[permutation[a]]) = (a, flips[a]) }
        return (inverse, inverseFlips)
    }

    /// This geometry after permuting and flipping its axes (see `orientationTransform`): new origin is the world
    /// position of the old voxel that becomes `[0, 0, 0]`.
    public func permuted(_ permutation: [Int], flips: [Bool]) -> Geometry {
        var corner = [0.0, 0.0, 0.0]
        for a in 0..<3 where flips[a] { corner[permutation[a]] = Double(shape[permutation[a]] - 1) }
        return Geometry(
            shape: permutation.map { shape[$0] },
            spacingMM: permutation.map { spacingMM[$0] },
            originMM: worldMM(index: corner),
            direction: (0..<3).map { r in (0..<3).map { a in direction[r][permutation[a]] * (flips[a] ? -1 : 1) } })
    }
}

extension ImageVolume {
    /// The volume with its voxels permuted and flipped to the orientation closest to `target` (default: PIR).
    /// Each channel is moved the same way; world positions of voxels are unchanged.
    public func reoriented(to target: [[Double]] = Geometry.canonicalDirection) -> ImageVolume {
        let (permutation, flips) = geometry.orientationTransform(to: target)
        return permuted(permutation, flips: flips)
    }

    /// The volume with its axes permuted and flipped: new axis `a` is old axis `permutation[a]`, reversed when
    /// `flips[a]` (as `Geometry.permuted`).
    public func permuted(_ permutation: [Int], flips: [Bool]) -> ImageVolume {
        if permutation == [0, 1, 2] && flips == [false, false, false] { return self }
        let old = geometry.shape
        let oldStride = [old[1] * old[2], old[2], 1]
        let new = permutation.map { old[$0] }
        // Step through the old array for one step along each new axis, and the old offset of new [0, 0, 0].
        let step = (0..<3).map { a in oldStride[permutation[a]] * (flips[a] ? -1 : 1) }
        let start = (0..<3).reduce(0) { $0 + (flips[$1] ? oldStride[permutation[$1]] * (old[permutation[$1]] - 1) : 0) }
        let perChannel = geometry.voxelCount
        var moved = [Float](repeating: 0, count: voxels.count)
        voxels.withUnsafeBufferPointer { src in
            moved.withUnsafeMutableBufferPointer { dst in
                var o = 0
                for c in 0..<channels {
                    let base = c * perChannel + start
                    for i in 0..<new[0] {
                        for j in 0..<new[1] {
                            var s = base + i * step[0] + j * step[1]
                            for _ in 0..<new[2] {
                                dst[o] = src[s]
                                o += 1
                                s += step[2]
                            }
                        }
                    }
                }
            }
        }
        return ImageVolume(geometry: geometry.permuted(permutation, flips: flips), channels: channels,
                           voxels: moved, voxelType: voxelType)
    }
}
