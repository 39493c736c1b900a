/// Where a voxel array sits in the world.
///
/// Arrays are C-ordered `[D, H, W]` (the last index fastest). World coordinates are RAS+ millimetres
/// (x toward the patient's Right, y toward Anterior, z toward Superior: NIfTI's scanner convention).
///
///     worldMM = originMM + direction · diag(spacingMM) · [d, h, w]ᵀ
///
/// `direction` holds one unit column per array axis, in the order D, H, W: `direction[row][axis]`.
/// The canonical orientation Rachis stores is VerSe's "PIR": W increases toward Posterior, H toward
/// Inferior, D toward Right, so that `image[c, d]` is a sagittal slice, head up, anterior left.
public struct Geometry: Equatable, Codable, Sendable {
    /// Voxels per array axis, `[D, H, W]`.
    public var shape: [Int]
    /// Voxel size in millimetres per array axis, `[D, H, W]`.
    public var spacingMM: [Double]
    /// RAS+ world position of the centre of voxel `[0, 0, 0]`, in millimetres.
    public var originMM: [Double]
    /// 3x3 direction cosines: column `a` is the RAS+ unit vector of array axis `a` (D, H, W).
    public var direction: [[Double]]

    /// The canonical direction (PIR): D → +x (Right), H → −z (Inferior), W → −y (Posterior).
    public static let canonicalDirection: [[Double]] = [
        [1, 0, 0],
        [0, 0, -1],
        [0, -1, 0],
    ]

    public init(shape: [Int], spacingMM: [Double], originMM: [Double] = [0, 0, 0],
                direction: [[Double]] = Geometry.canonicalDirection) {
        precondition(shape.count == 3 && spacingMM.count == 3 && originMM.count == 3 && direction.count == 3)
        self.shape = shape
        self.spacingMM = spacingMM
        self.originMM = originMM
        self.direction = direction
    }

    public var voxelCount: Int { shape.reduce(1, *) }

    /// World position (RAS+ mm) of a continuous voxel index `[d, h, w]`.
    public func worldMM(index: [Double]) -> [Double] {
        (0..<3).map { row in
            originMM[row] + (0..<3).reduce(0.0) { $0 + direction[row][$1] * spacingMM[$1] * index[$1] }
        }
    }

    /// Continuous voxel index `[d, h, w]` of a world position (RAS+ mm). Inverts `worldMM(index:)`
    /// for orthonormal directions.
    public func index(worldMM p: [Double]) -> [Double] {
        let delta = (0..<3).map { p[$0] - originMM[$0] }
        return (0..<3).map { axis in
            (0..<3).reduce(0.0) { $0 + direction[$1][axis] * delta[$1] } / spacingMM[axis]
        }
    }
}
