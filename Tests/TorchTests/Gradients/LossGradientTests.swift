import Testing
@testable import Torch

/// Finite-difference checks of the losses with respect to their inputs.
struct LossGradientTests {
    static let cases: [GradientCase] = [
        GradientCase("crossEntropy", [[3, 4]]) { try Loss.crossEntropy($0[0], longs([2, 0, 3])) },
        GradientCase("crossEntropy weights ignoreIndex", [[4, 3]]) {
            try Loss.crossEntropy($0[0], longs([2, -1, 0, 1]), weight: doubles([0.5, 2, 1]), ignoreIndex: -1)
        },
        GradientCase("crossEntropy label smoothing sum", [[3, 4]]) {
            try Loss.crossEntropy($0[0], longs([1, 1, 3]), reduction: .sum, labelSmoothing: 0.2)
        },
        GradientCase("crossEntropy weights smoothing", [[3, 4]]) {
            try Loss.crossEntropy($0[0], longs([1, 0, 3]), weight: doubles([1, 2, 0.5, 3]), labelSmoothing: 0.1)
        },
        GradientCase("crossEntropy spatial none", [[2, 3, 2, 2]]) {
            try Loss.crossEntropy($0[0], longs([0, 1, 2, 1, 2, 2, 0, 1], shape: [2, 2, 2]), reduction: .none)
        },
        GradientCase("crossEntropy soft targets", [[3, 4]]) {
            let target = try doubles([0.1, 0.2, 0.3, 0.4, 1, 0, 0, 0, 0.25, 0.25, 0.25, 0.25], shape: [3, 4])
            return try Loss.crossEntropy($0[0], target)
        },
        GradientCase("nll", [[3, 4]]) { try Loss.nll($0[0].logSoftmax(dim: 1), longs([3, 1, 0])) },
        GradientCase("nll weight ignoreIndex sum", [[4, 3]]) {
            try Loss.nll($0[0].logSoftmax(dim: 1), longs([2, 1, 5, 0]), weight: doubles([1, 3, 0.5]), reduction: .sum, ignoreIndex: 5)
        },
        GradientCase("nll spatial", [[1, 3, 2, 2]]) { try Loss.nll($0[0].logSoftmax(dim: 1), longs([0, 1, 2, 1], shape: [1, 2, 2])) },
        GradientCase("bceWithLogits", [[2, 3]]) {
            try Loss.binaryCrossEntropyWithLogits($0[0], doubles([0, 1, 0.3, 1, 0, 0.7], shape: [2, 3]))
        },
        GradientCase("bceWithLogits weight positiveWeight", [[2, 3]]) {
            try Loss.binaryCrossEntropyWithLogits($0[0], doubles([0, 1, 0.3, 1, 0, 0.7], shape: [2, 3]),
                                                  weight: doubles([2, 0.5], shape: [2, 1]), positiveWeight: doubles([1, 3, 0.5]),
                                                  reduction: .sum)
        },
        GradientCase("bceWithLogits wrt target", [[2, 3], [2, 3]]) {
            try Loss.binaryCrossEntropyWithLogits($0[0], $0[1].sigmoid(), reduction: .none)
        },
        GradientCase("mse", [[2, 3], [2, 3]]) { try Loss.mse($0[0], $0[1]) },
        GradientCase("mse none", [[2, 3]]) { try Loss.mse($0[0], doubles([0.5], shape: [1]).expand([2, 3]), reduction: .none) },
        GradientCase("l1", [[2, 3]], .awayFromZero) { try Loss.l1($0[0], Tensor.zeros([2, 3], dtype: .float64)) },
        GradientCase("l1 sum", [[2, 3]], .awayFromZero) { try Loss.l1($0[0], Tensor.zeros([2, 3], dtype: .float64), reduction: .sum) },
        GradientCase("smoothL1", [[2, 4]], .awayFromZero) { try Loss.smoothL1($0[0], Tensor.zeros([2, 4], dtype: .float64), beta: 0.5) },
        GradientCase("smoothL1 none", [[2, 4]]) { try Loss.smoothL1($0[0], Tensor.zeros([2, 4], dtype: .float64), reduction: .none) },
    ]

    @Test(arguments: cases) func lossGradient(_ c: GradientCase) throws { try c.run() }
}
