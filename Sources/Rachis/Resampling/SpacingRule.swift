import Foundation

/// nnU-Net's rules for anisotropic (thick-sliced) data, which spine MRI usually is: sagittal slices 3-4 mm thick,
/// 0.5-1 mm in plane.
public enum SpacingRule {
    /// A spacing is anisotropic when its largest entry is more than this times its smallest (nnU-Net's
    /// `ANISO_THRESHOLD`).
    public static let anisotropyThreshold = 3.0

    /// The axis with the largest spacing when it is more than `anisotropyThreshold` times the smallest and no other
    /// axis ties with it; nil otherwise.
    public static func thickAxis(_ spacingMM: [Double]) -> Int? {
        guard let largest = spacingMM.max(), let smallest = spacingMM.min(), largest > anisotropyThreshold * smallest else { return nil }
        let axes = spacingMM.indices.filter { spacingMM[$0] == largest }
        return axes.count == 1 ? axes[0] : nil
    }

    /// How each axis is interpolated from `sourceMM` to `targetMM` spacing (nnU-Net's `resample_data_or_seg_to_spacing`):
    /// when the source spacing, or else the target spacing, has a thick axis, that axis is interpolated by nearest
    /// neighbour (order_z = 0: a thick slice is not blended with its neighbour, which lies far away) and the others with
    /// `inPlane`; otherwise every axis with `inPlane`.
    public static func interpolation(fromMM sourceMM: [Double], toMM targetMM: [Double], inPlane: Interpolation = .linear) -> [Interpolation] {
        let thick = thickAxis(sourceMM) ?? thickAxis(targetMM)
        return (0..<3).map { $0 == thick ? .nearest : inPlane }
    }

    /// The spacing a model is trained at for a dataset of subjects with these spacings and shapes (per axis
    /// `[D, H, W]`; nnU-Net's `determine_fullres_target_spacing`): the median spacing per axis, except when that
    /// median is strongly anisotropic in both spacing and voxel count (its thick axis more than 3x the largest other
    /// spacing, and fewer than a third of the voxels of the smallest other axis): then the thick axis takes the 10th
    /// percentile of its spacings (but no less than the largest other spacing), so thin-sliced subjects are not
    /// thrown away to match the thickest.
    public static func targetSpacing(spacingsMM: [[Double]], shapes: [[Int]]) -> [Double]? {
        guard !spacingsMM.isEmpty, spacingsMM.count == shapes.count else { return nil }
        var target = (0..<3).map { axis in percentile(spacingsMM.map { $0[axis] }, 50) }
        let size = (0..<3).map { axis in percentile(shapes.map { Double($0[axis]) }, 50) }
        let worst = target.indices.max { target[$0] < target[$1] }!
        let others = (0..<3).filter { $0 != worst }
        let otherSpacing = others.map { target[$0] }.max()!, otherSize = others.map { size[$0] }.min()!
        if target[worst] > anisotropyThreshold * otherSpacing, size[worst] * anisotropyThreshold < otherSize {
            var axis = percentile(spacingsMM.map { $0[worst] }, 10)
            if axis < otherSpacing { axis = max(otherSpacing, axis) + 1e-5 }
            target[worst] = axis
        }
        return target
    }

    /// NumPy's default (linear) percentile.
    static func percentile(_ values: [Double], _ q: Double) -> Double {
        let sorted = values.sorted()
        let x = q / 100 * Double(sorted.count - 1)
        let lower = Int(x.rounded(.down)), upper = min(lower + 1, sorted.count - 1)
        return sorted[lower] + (x - Double(lower)) * (sorted[upper] - sorted[lower])
    }
}
