import Testing
@testable import Torch

/// Finite-difference checks of convolutions, pooling, resampling, normalisation and softmax.
struct NNGradientTests {
    static let convolution: [GradientCase] = [
        GradientCase("conv3d with bias", [[1, 2, 3, 3, 3], [3, 2, 2, 2, 2], [3]]) { try $0[0].conv3d($0[1], bias: $0[2]) },
        GradientCase("conv3d stride padding dilation", [[1, 2, 4, 4, 4], [2, 2, 2, 2, 2]]) {
            try $0[0].conv3d($0[1], stride: [2, 1, 2], padding: [1, 0, 1], dilation: [1, 2, 1])
        },
        GradientCase("conv3d groups", [[1, 4, 3, 3, 3], [4, 2, 2, 2, 2], [4]]) { try $0[0].conv3d($0[1], bias: $0[2], groups: 2) },
        GradientCase("convTranspose3d outputPadding", [[1, 2, 2, 2, 2], [2, 3, 2, 2, 2], [3]]) {
            try $0[0].convTranspose3d($0[1], bias: $0[2], stride: 2, outputPadding: [1, 0, 1])
        },
        GradientCase("convTranspose3d padding groups", [[1, 4, 2, 2, 2], [4, 1, 3, 3, 3]]) {
            try $0[0].convTranspose3d($0[1], stride: 2, padding: 1, groups: 2)
        },
        GradientCase("convTranspose3d dilation", [[1, 2, 2, 2, 1], [2, 2, 2, 2, 2], [2]]) {
            try $0[0].convTranspose3d($0[1], bias: $0[2], stride: [1, 2, 1], padding: [1, 0, 0], dilation: 2)
        },
        GradientCase("conv3d channels-last", [[2, 3, 2, 3, 3], [2, 3, 2, 2, 2], [2]]) {
            try $0[0].channelsLast3d().conv3d($0[1].channelsLast3d(), bias: $0[2], padding: 1)
        },
    ]

    static let pooling: [GradientCase] = [
        GradientCase("maxPool3d", [[1, 2, 4, 4, 4]]) { try $0[0].maxPool3d(kernel: 2) },
        GradientCase("maxPool3d overlapping padded", [[1, 1, 3, 4, 4]]) { try $0[0].maxPool3d(kernel: 3, stride: [1, 2, 2], padding: 1) },
        GradientCase("avgPool3d", [[1, 2, 4, 4, 2]]) { try $0[0].avgPool3d(kernel: [2, 2, 1]) },
        GradientCase("avgPool3d padded excluding pad ceil", [[1, 1, 3, 3, 3]]) {
            try $0[0].avgPool3d(kernel: 2, stride: 2, padding: 1, ceilMode: true, countIncludePad: false)
        },
        GradientCase("adaptiveAvgPool3d", [[1, 2, 3, 4, 5]]) { try $0[0].adaptiveAvgPool3d([2, 1, 3]) },
        GradientCase("adaptiveMaxPool3d", [[1, 1, 3, 4, 4]]) { try $0[0].adaptiveMaxPool3d(2) },
        GradientCase("upsampleTrilinear", [[1, 2, 2, 3, 2]]) { try $0[0].upsampleTrilinear(size: [4, 5, 3]) },
        GradientCase("upsampleTrilinear alignCorners", [[1, 2, 2, 3, 2]]) { try $0[0].upsampleTrilinear(size: [4, 5, 3], alignCorners: true) },
        GradientCase("upsampleNearest", [[1, 1, 2, 2, 2]]) { try $0[0].upsampleNearest(size: [4, 3, 2]) },
    ]

    static let normalization: [GradientCase] = [
        GradientCase("groupNorm affine", [[2, 4, 2, 2, 2], [4], [4]]) { try $0[0].groupNorm(groups: 2, weight: $0[1], bias: $0[2]) },
        GradientCase("groupNorm plain", [[1, 3, 2, 2, 3]]) { try $0[0].groupNorm(groups: 3) },
        GradientCase("batchNorm training", [[3, 2, 2, 2, 2], [2], [2]]) {
            try $0[0].batchNorm(weight: $0[1], bias: $0[2], runningMean: nil, runningVar: nil, training: true)
        },
        GradientCase("batchNorm training with running stats", [[3, 2, 2, 1, 2]]) {
            try $0[0].batchNorm(weight: nil, bias: nil, runningMean: Tensor.zeros([2], dtype: .float64),
                                runningVar: Tensor.ones([2], dtype: .float64), training: true)
        },
        GradientCase("instanceNorm", [[2, 2, 2, 2, 3], [2], [2]]) { try $0[0].instanceNorm(weight: $0[1], bias: $0[2]) },
        GradientCase("layerNorm", [[2, 3, 4], [3, 4], [3, 4]]) { try $0[0].layerNorm([3, 4], weight: $0[1], bias: $0[2]) },
        GradientCase("layerNorm last dim", [[3, 5]]) { try $0[0].layerNorm([5]) },
        GradientCase("softmax", [[2, 3, 4]]) { try $0[0].softmax(dim: 1) },
        GradientCase("logSoftmax", [[2, 3, 4]]) { try $0[0].logSoftmax(dim: -1) },
        GradientCase("dropout evaluation", [[2, 3]]) { try $0[0].dropout(p: 0.5, training: false) },
    ]

    @Test(arguments: convolution) func convolutionGradient(_ c: GradientCase) throws { try c.run() }
    @Test(arguments: pooling) func poolingGradient(_ c: GradientCase) throws { try c.run() }
    @Test(arguments: normalization) func normalizationGradient(_ c: GradientCase) throws { try c.run() }
}
