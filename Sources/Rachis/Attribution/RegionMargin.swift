import Foundation
import Torch

/// What `marginMM` means wherever a vertebra's region is grown by it: every voxel whose centre lies within
/// `marginMM` of a region voxel's centre (a ball in millimetres, an ellipsoid in voxels of anisotropic spacing).
/// The one definition for the attribution check (`rachis attribution validate --margin-mm`,
/// `AttributionConsistency.grow`) and the training constraint (`loss.attribution.marginMM`).
public struct RegionMargin: Sendable, Equatable {
    public var marginMM: Double

    public init(marginMM: Double) { self.marginMM = marginMM }

    /// The largest offset [d, h, w] in voxels the margin reaches.
    public func radius(spacingMM: [Double]) -> [Int] {
        (0..<3).map { Int((marginMM / spacingMM[$0]).rounded(.down)) }
    }

    /// The voxel offsets [d, h, w] within the margin (the origin included).
    public func offsets(spacingMM: [Double]) -> [[Int]] {
        let radius = radius(spacingMM: spacingMM)
        var offsets: [[Int]] = []
        for d in -radius[0]...radius[0] { for h in -radius[1]...radius[1] { for w in -radius[2]...radius[2] {
            let r2 = pow(Double(d) * spacingMM[0], 2) + pow(Double(h) * spacingMM[1], 2) + pow(Double(w) * spacingMM[2], 2)
            if r2 <= marginMM * marginMM { offsets.append([d, h, w]) }
        } } }
        return offsets
    }

    /// `mask` (`[D, H, W]` of `shape`) grown by the margin.
    public func grow(_ mask: [Bool], shape: [Int], spacingMM: [Double]) -> [Bool] {
        guard marginMM > 0 else { return mask }
        let offsets = offsets(spacingMM: spacingMM)
        var out = mask
        let (sd, sh, sw) = (shape[0], shape[1], shape[2])
        for i in mask.indices where mask[i] {
            let d = i / (sh * sw), h = (i / sw) % sh, w = i % sw
            // Only boundary voxels can grow the region.
            let interior = [(-1, 0, 0), (1, 0, 0), (0, -1, 0), (0, 1, 0), (0, 0, -1), (0, 0, 1)].allSatisfy { o in
                let (a, b, c) = (d + o.0, h + o.1, w + o.2)
                return a >= 0 && a < sd && b >= 0 && b < sh && c >= 0 && c < sw && mask[(a * sh + b) * sw + c]
            }
            if interior { continue }
            for o in offsets {
                let (a, b, c) = (d + o[0], h + o[1], w + o[2])
                if a >= 0, a < sd, b >= 0, b < sh, c >= 0, c < sw { out[(a * sh + b) * sw + c] = true }
            }
        }
        return out
    }

    /// `mask` (`[D, H, W]` float 0/1, on any device) grown by the margin: a convolution with the ball's voxels as
    /// its kernel, then > 0. Same voxels as the array version.
    public func grow(_ mask: Tensor, spacingMM: [Double]) throws -> Tensor {
        guard marginMM > 0 else { return mask }
        let radius = radius(spacingMM: spacingMM)
        let size = radius.map { 2 * $0 + 1 }
        var kernel = [Float](repeating: 0, count: size[0] * size[1] * size[2])
        for o in offsets(spacingMM: spacingMM) {
            kernel[((o[0] + radius[0]) * size[1] + o[1] + radius[1]) * size[2] + o[2] + radius[2]] = 1
        }
        let weight = try Tensor(kernel, shape: [1, 1] + size).to(mask.dtype, device: mask.device)
        let counts = try mask.unsqueeze(dim: 0).unsqueeze(dim: 0)
            .conv3d(weight, padding: Triple(radius[0], radius[1], radius[2]))[.at(0), .at(0)]
        return try counts.gt(0.5).to(mask.dtype)
    }
}
