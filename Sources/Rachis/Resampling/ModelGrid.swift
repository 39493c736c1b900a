import Foundation

/// The grids an input passes through on its way to the model, and its outputs on their way back:
///
///     input       the input's own grid: an image file's array order and affine, or a dataset subject's grid
///        │  axis permutation and flips only, no interpolation (`ImageVolume.reoriented`)
///     canonical   the same voxels in Rachis's PIR order
///        │  resampling over the same field of view to the model's spacing (`Resampler`, `SpacingRule`)
///     model       the grid the network runs on
///
/// Images go down (`imageToModel`); label maps, probability maps and masks come back up onto the input grid
/// (`labelsToInput`, `mapsToInput`), so what is written lies on the input's shape and affine. Points need no
/// mapping: every grid places its voxels exactly in the same world, so a centroid in world millimetres found on
/// the model grid is already the input's (`input.index(worldMM:)` gives its voxel index there).
public struct ModelGrid: Equatable, Sendable {
    public let input: Geometry
    /// Input → canonical: canonical axis `a` is input axis `permutation[a]`, reversed when `flips[a]`.
    public let permutation: [Int]
    public let flips: [Bool]
    public let canonical: Geometry
    public let model: Geometry
    /// Interpolation per canonical axis of images going down, and of maps and labels coming up.
    public let down: [Interpolation]
    public let up: [Interpolation]

    /// - Parameter targetSpacingMM: the model's spacing `[D, H, W]`; nil keeps the canonical grid (no resampling).
    public init(input: Geometry, targetSpacingMM: [Double]?) {
        self.input = input
        (permutation, flips) = input.orientationTransform()
        let canonical = input.permuted(permutation, flips: flips)
        self.canonical = canonical
        model = targetSpacingMM.map { canonical.resampled(toSpacingMM: $0) } ?? canonical
        down = SpacingRule.interpolation(fromMM: canonical.spacingMM, toMM: model.spacingMM)
        up = SpacingRule.interpolation(fromMM: model.spacingMM, toMM: canonical.spacingMM)
    }

    /// Whether the model grid differs from the canonical one (a spacing within half a voxel of the target over the
    /// field of view gives the same voxel counts, and then the same grid).
    public var resamples: Bool { model.shape != canonical.shape }

    /// `[C, D, H, W]` raw intensities on the input grid → the model grid.
    public func imageToModel(_ values: [Float], channels: Int) -> [Float] {
        let canonicalValues = ImageVolume(geometry: input, channels: channels, voxels: values).permuted(permutation, flips: flips).voxels
        return Resampler.resample(canonicalValues, channels: channels, from: canonical.shape, to: model.shape, interpolation: down)
    }

    /// A `[D, H, W]` label map on the input grid → the model grid (per-label linear).
    public func labelsToModel(_ labels: [UInt8]) -> [UInt8] {
        let moved = ImageVolume(geometry: input, voxels: labels.map(Float.init)).permuted(permutation, flips: flips).voxels
        return Resampler.resampleLabels(moved.map { UInt8($0) }, from: canonical.shape, to: model.shape, interpolation: down)
    }

    /// A `[D, H, W]` mask on the input grid → the model grid (per-label linear).
    public func maskToModel(_ mask: [Bool]) -> [Bool] {
        let moved = ImageVolume(geometry: input, voxels: mask.map { $0 ? 1 : 0 }).permuted(permutation, flips: flips).voxels
        return Resampler.resampleMask(moved.map { $0 != 0 }, from: canonical.shape, to: model.shape, interpolation: down)
    }

    /// `[C, D, H, W]` maps (probabilities, heatmaps, relevance) on the model grid → the input grid.
    public func mapsToInput(_ values: [Float], channels: Int) -> [Float] {
        let resampled = Resampler.resample(values, channels: channels, from: model.shape, to: canonical.shape, interpolation: up)
        return toInputOrder(resampled, channels: channels)
    }

    /// A `[D, H, W]` label map on the model grid → the input grid (per-label linear).
    public func labelsToInput(_ labels: [UInt8]) -> [UInt8] {
        let resampled = Resampler.resampleLabels(labels, from: model.shape, to: canonical.shape, interpolation: up)
        return toInputOrder(resampled.map(Float.init), channels: 1).map { UInt8($0) }
    }

    /// Canonical order → input order.
    func toInputOrder(_ values: [Float], channels: Int) -> [Float] {
        let (inverse, inverseFlips) = Geometry.inverse(permutation: permutation, flips: flips)
        return ImageVolume(geometry: canonical, channels: channels, voxels: values).permuted(inverse, flips: inverseFlips).voxels
    }
}
