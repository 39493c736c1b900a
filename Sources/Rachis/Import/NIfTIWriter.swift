import Foundation

extension NIfTI {
    /// Encodes a NIfTI-1 file (uncompressed, little-endian, `vox_offset` 352) in the volume's array order:
    /// NIfTI `(i, j, k)` are array axes `(W, H, D)`, channels go to `dim[4]`, the datatype is `voxelType`.
    /// Both sform (the exact affine) and qform (its rotation; an improper one via `qfac = pixdim[0] = −1`) are
    /// set with code 1 (scanner), units mm, so ITK-SNAP, 3D Slicer and nibabel place it identically.
    public static func encode(_ volume: ImageVolume, path: String) throws -> Data {
        try volume.checkWritable(path: path)
        let g = volume.geometry
        guard let code = datatypeCodes.first(where: { $0.value == volume.voxelType })?.key else {
            throw ImageIOError.unsupportedDatatype(path: path, field: "datatype", value: volume.voxelType.rawValue)
        }
        let ijk = [2, 1, 0]  // array axis of NIfTI i, j, k
        let affine = g.affine
        var h = ByteFieldWriter(count: 352)
        h.put(Int32(348), at: 0)
        h.put(UInt8(ascii: "r"), at: 38)
        let dims = [volume.channels > 1 ? 4 : 3] + ijk.map { g.shape[$0] } + [volume.channels, 1, 1, 1]
        for (i, n) in dims.enumerated() { h.put(Int16(clamping: n), at: 40 + 2 * i) }
        guard dims.allSatisfy({ $0 <= Int(Int16.max) }) else {
            throw ImageIOError.invalidField(path: path, field: "dim", value: "\(dims)", expected: "≤ 32767 per axis")
        }
        h.put(Int16(code), at: 70)
        h.put(Int16(volume.voxelType.size * 8), at: 72)
        let rotation = (0..<3).map { r in ijk.map { g.direction[r][$0] } }
        let q = NIfTIQuaternion.quaternion(of: rotation)
        let pixdim = [q.qfac] + ijk.map { g.spacingMM[$0] } + [1, 1, 1, 1]
        for (i, v) in pixdim.enumerated() { h.putFloat32(v, at: 76 + 4 * i) }
        h.putFloat32(352, at: 108)
        h.putFloat32(1, at: 112)
        h.put(UInt8(2), at: 123)  // xyzt_units: mm
        h.putString("Rachis", at: 148, length: 80)
        h.put(Int16(1), at: 252)
        h.put(Int16(1), at: 254)
        for (i, v) in ([q.b, q.c, q.d] + (0..<3).map({ affine[$0][3] })).enumerated() { h.putFloat32(v, at: 256 + 4 * i) }
        for r in 0..<3 {
            for (i, v) in (ijk.map { affine[r][$0] } + [affine[r][3]]).enumerated() { h.putFloat32(v, at: 280 + 16 * r + 4 * i) }
        }
        h.putString("n+1", at: 344, length: 4)
        return h.bytes + VoxelCodec.encode(volume.voxels, type: volume.voxelType)
    }
}
