import Foundation
import Torch

/// Peak signal-to-noise ratio of reconstructions, per sample, then the mean over samples.
///
/// PSNR = 10·log10(R² / MSE) dB, with the data range R = max − min of the *target* sample (the images are
/// normalised, not in a fixed range, so the range comes from the data, as `skimage`'s `data_range` from the
/// target). A sample with R = 0 is NaN; a perfect reconstruction (MSE = 0) is +∞ and is counted in `perfect`
/// but left out of the mean so one exact copy does not make the mean infinite.
public struct PSNRMetric: Sendable {
    private(set) var values: [Double] = []

    public init() {}

    public static func psnr(prediction: [Float], target: [Float]) -> Double {
        guard let low = target.min(), let high = target.max(), high > low, prediction.count == target.count else { return .nan }
        let mse = zip(prediction, target).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) } / Double(target.count)
        let range = Double(high - low)
        return mse == 0 ? .infinity : 10 * log10(range * range / mse)
    }

    public mutating func add(prediction: [Float], target: [Float]) {
        values.append(Self.psnr(prediction: prediction, target: target))
    }

    /// Adds one sample's PSNR (as `psnr` computes it).
    mutating func add(value: Double) { values.append(value) }

    /// Adds every sample of `[N, ...]` tensors.
    public mutating func add(prediction: Tensor, target: Tensor) throws {
        for value in try Self.values(prediction: prediction, target: target) { add(value: value) }
    }

    /// `psnr` of every sample of `[N, ...]` tensors.
    static func values(prediction: Tensor, target: Tensor) throws -> [Double] {
        guard prediction.shape == target.shape, let n = target.shape.first, n > 0 else {
            throw LossError.shapeMismatch(loss: "PSNR metric", tensor: "target", expected: prediction.shape, found: target.shape)
        }
        let p = try prediction.to(.float32).array(Float.self)
        let t = try target.to(.float32).array(Float.self)
        let size = p.count / n
        return (0..<n).map { i in psnr(prediction: Array(p[(i * size)..<((i + 1) * size)]), target: Array(t[(i * size)..<((i + 1) * size)])) }
    }

    public func aggregate() -> PSNRResult {
        let (mean, count) = nanMean(values.filter { $0.isNaN || $0.isFinite })
        return PSNRResult(meanDB: mean, count: count, perfect: values.filter { $0 == .infinity }.count, samples: values.count)
    }

    public mutating func reset() { values = [] }
}

public struct PSNRResult: Codable, Equatable, Sendable {
    /// Mean over samples with a finite PSNR; NaN when none.
    @NaNAsNull public var meanDB: Double
    public var count: Int
    /// Samples reconstructed exactly (PSNR +∞).
    public var perfect: Int
    public var samples: Int
}
