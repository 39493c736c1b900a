/// Intensity normalisation shared by training crops and inference volumes.
public enum Intensity {
    /// Z-scores each channel of `image` (`[C, voxels]`, C order) over the voxels in `inside` (all voxels when nil):
    /// `(x − mean) / std`, std taken as 1 when the channel is constant. Voxels outside are left as they are.
    public static func zscore(_ image: inout [Float], channels: Int, inside: [Int]? = nil) {
        let n = image.count / max(channels, 1)
        let voxels = inside ?? Array(0..<n)
        guard !voxels.isEmpty else { return }
        image.withUnsafeMutableBufferPointer { image in
            for c in 0..<channels {
                let base = c * n
                let mean = voxels.reduce(0.0) { $0 + Double(image[base + $1]) } / Double(voxels.count)
                let variance = voxels.reduce(0.0) { $0 + (Double(image[base + $1]) - mean) * (Double(image[base + $1]) - mean) } / Double(voxels.count)
                let std = variance > 1e-12 ? variance.squareRoot() : 1
                for i in voxels { image[base + i] = Float((Double(image[base + i]) - mean) / std) }
            }
        }
    }
}
