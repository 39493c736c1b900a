import Foundation
@testable import Rachis
import Torch

func floats(_ values: [Double], _ shape: [Int]) throws -> Tensor { try Tensor(values.map(Float.init), shape: shape) }
func longs(_ values: [Int], _ shape: [Int]) throws -> Tensor { try Tensor(values.map(Int64.init), shape: shape) }

/// d(loss)/d(x) as a flat array.
func gradient(of loss: Tensor, wrt x: Tensor) throws -> [Double] {
    try Torch.gradients(of: loss, wrt: [x])[0].to(.float64).array(Double.self)
}

/// Independent per-voxel cross-entropy for logits laid out `[N, C, V]` (flat) and targets `[N, V]`.
func referenceCrossEntropy(logits: [Double], target: [Int], n: Int, classes: Int, voxels: Int, sample: Int, voxel: Int) -> Double {
    let z = (0..<classes).map { logits[(sample * classes + $0) * voxels + voxel] }
    let logSum = log(z.map(exp).reduce(0, +))
    return logSum - z[target[sample * voxels + voxel]]
}

/// Flat indices of a `[N, C, V]` tensor at (sample, any class, voxel).
func indices(sample: Int, voxel: Int, classes: Int, voxels: Int) -> [Int] {
    (0..<classes).map { (sample * classes + $0) * voxels + voxel }
}
