import Foundation
import Torch

/// Runs a model over a whole volume: in one pass when the volume fits the window (padded at the end to the model's
/// divisor), otherwise in overlapping windows whose outputs are blended.
///
/// Per axis the window is either one window covering the axis (rounded up to the divisor) or the requested size;
/// windows overlap by `overlap` of their size, and each output voxel is the Gaussian-weighted mean of the windows
/// that cover it (σ = ⅛ of the window, as nnU-Net), so window borders leave no seams.
///
/// Memory: each output is accumulated in place in its own `[1, k, D, H, W]` buffer on the padded grid and divided in
/// place by the summed weights at the end, so the peak is the blended outputs themselves plus one window's outputs
/// (no stacked copy of every output, no second blended copy).
public struct SlidingWindow: Sendable {
    /// A model output that is blended. The typed layout replaces channel ranges looked up by name.
    public enum Output: Int, CaseIterable, Sendable, Comparable {
        /// The segmentation decoder's full-resolution features, `[1, F, …]`.
        case features
        /// The bottleneck brought to full resolution (`SpineModel.context`), `[1, B, …]`.
        case context
        /// Structure softmax, `[1, S, …]`.
        case structures
        /// Localization heatmap, `[1, 1, …]`.
        case heatmap
        /// Level softmax, `[1, LevelIndex.count, …]`.
        case levels
        /// Autoencoder reconstruction, `[1, C, …]`.
        case reconstruction

        public static func < (a: Output, b: Output) -> Bool { a.rawValue < b.rawValue }
    }

    /// The volume's shape `[D, H, W]`.
    public let shape: [Int]
    /// The window's shape `[D, H, W]`.
    public let window: [Int]
    /// The grid the windows tile: `shape` padded at the end up to at least one window.
    public let padded: [Int]
    /// Window origins per axis.
    public let starts: [[Int]]

    /// - Parameters:
    ///   - requested: the window size, already a multiple of `divisor` (the training crop, or `--window`).
    ///   - divisor: what the model's downsampling needs each input size to be a multiple of.
    public init(shape: [Int], requested: [Int], divisor: [Int], overlap: Double) {
        let window = (0..<3).map { shape[$0] <= requested[$0] ? LoaderConfig.roundUp([shape[$0]], to: [divisor[$0]])[0] : requested[$0] }
        let padded = (0..<3).map { max(shape[$0], window[$0]) }
        (self.shape, self.window, self.padded) = (shape, window, padded)
        starts = (0..<3).map { Self.windowStarts(length: padded[$0], window: window[$0], overlap: overlap) }
    }

    /// Number of windows.
    public var count: Int { starts.reduce(1) { $0 * $1.count } }

    /// Runs `model` on every window of `input` (`[1, C, D, H, W]` on `shape`, on the device the model runs on) and
    /// returns each output it gives blended, `[1, k, D, H, W]` on `shape`. `model` gets contiguous crops of the
    /// window's shape and must give every output at the crop's spatial shape.
    public func blend(_ input: Tensor, model: (Tensor) throws -> [Output: Tensor]) throws -> [Output: Tensor] {
        let device = input.device
        let source = try input.paddingEnd(from: shape, to: padded)
        let weight = count == 1 ? try Tensor.ones([1, 1] + window, device: device) : try Self.gaussian(window, device: device)
        let weightSum = try Tensor.zeros([1, 1] + padded, device: device)
        var sums: [Output: Tensor] = [:]
        func crop(_ x: Tensor, at origin: [Int]) throws -> Tensor {
            var x = x
            for axis in 0..<3 { x = try x.slice(dim: axis + 2, start: origin[axis], end: origin[axis] + window[axis]) }
            return x
        }
        for d in starts[0] { for h in starts[1] { for w in starts[2] {
            let origin = [d, h, w]
            let outputs = try model(try crop(source, at: origin).contiguous())
            for output in outputs.keys.sorted() {
                let value = outputs[output]!
                if sums[output] == nil { sums[output] = try Tensor.zeros([1, value.shape[1]] + padded, device: device) }
                try crop(sums[output]!, at: origin).addcmul_(value, weight)
            }
            try crop(weightSum, at: origin).add_(weight)
        } } }
        var blended: [Output: Tensor] = [:]
        for (output, sum) in sums {
            try sum.apply_(.div, weightSum)
            var x = sum
            for axis in 0..<3 where padded[axis] > shape[axis] { x = try x.slice(dim: axis + 2, start: 0, end: shape[axis]) }
            blended[output] = try x.contiguous()
        }
        return blended
    }

    /// Window origins along one axis: evenly spaced from 0 to `length − window`, with steps of at most
    /// `window · (1 − overlap)`.
    static func windowStarts(length: Int, window: Int, overlap: Double) -> [Int] {
        guard length > window else { return [0] }
        let step = max(1, Int((Double(window) * (1 - overlap)).rounded(.down)))
        let count = Int((Double(length - window) / Double(step)).rounded(.up)) + 1
        return (0..<count).map { Int((Double($0) * Double(length - window) / Double(count - 1)).rounded()) }
    }

    /// `[1, 1, D, H, W]` Gaussian importance map, σ = window/8 per axis, peak 1, floored at 1e-3 so that every
    /// voxel has weight.
    static func gaussian(_ window: [Int], device: Device) throws -> Tensor {
        let axes = window.map { size -> [Float] in
            let centre = Double(size - 1) / 2, sigma = Double(size) / 8
            return (0..<size).map { Float(exp(-pow(Double($0) - centre, 2) / (2 * sigma * sigma))) }
        }
        var values = [Float](repeating: 0, count: window.reduce(1, *))
        for d in 0..<window[0] { for h in 0..<window[1] { for w in 0..<window[2] {
            values[(d * window[1] + h) * window[2] + w] = max(axes[0][d] * axes[1][h] * axes[2][w], 1e-3)
        } } }
        return try Tensor(values, shape: [1, 1] + window).to(device: device)
    }
}

extension Tensor {
    /// `[N, C, D, H, W]` padded with zeros at the end of each spatial axis from `shape` to `padded`; itself when
    /// nothing is padded.
    func paddingEnd(from shape: [Int], to padded: [Int]) throws -> Tensor {
        let padding = (0..<3).reversed().flatMap { [0, padded[$0] - shape[$0]] }
        return padding.contains(where: { $0 > 0 }) ? try pad(padding) : self
    }
}
