import Testing
@testable import Torch

/// Finite-difference checks of reductions.
struct ReductionGradientTests {
    static let cases: [GradientCase] = [
        GradientCase("sum all", [[2, 3]]) { try $0[0].sum() },
        GradientCase("sum dims", [[2, 3, 4]]) { try $0[0].sum(dims: [0, 2]) },
        GradientCase("sum keepDims negative dim", [[2, 3, 4]]) { try $0[0].sum(dims: [-1], keepDims: true) },
        GradientCase("mean all", [[2, 3]]) { try $0[0].mean() },
        GradientCase("mean dims", [[2, 3, 4]]) { try $0[0].mean(dims: [1]) },
        GradientCase("max all", [[2, 3]]) { try $0[0].max() },
        GradientCase("max dims", [[2, 3, 4]]) { try $0[0].max(dims: [1, 2]) },
        GradientCase("min dims keepDims", [[2, 3, 4]]) { try $0[0].min(dims: [0], keepDims: true) },
        GradientCase("max along dim", [[3, 4]]) { try $0[0].max(dim: 1).values },
        GradientCase("min along dim", [[3, 4]]) { try $0[0].min(dim: 0, keepDims: true).values },
        GradientCase("std all", [[2, 3]]) { try $0[0].std() },
        GradientCase("std dims biased", [[2, 3, 4]]) { try $0[0].std(dims: [2], unbiased: false) },
        GradientCase("variance all", [[2, 3]]) { try $0[0].variance() },
        GradientCase("variance dims keepDims", [[2, 3, 4]]) { try $0[0].variance(dims: [0, 1], keepDims: true) },
        GradientCase("logsumexp", [[2, 3, 4]]) { try $0[0].logsumexp(dims: [1]) },
        GradientCase("logsumexp two dims", [[2, 3, 4]]) { try $0[0].logsumexp(dims: [0, 2], keepDims: true) },
        GradientCase("prod all", [[2, 3]], .positive) { try $0[0].prod() },
        GradientCase("prod dims", [[2, 3, 4]], .positive) { try $0[0].prod(dims: [0, 2]) },
        GradientCase("prod mixed-sign dims", [[2, 3, 4]], .positive) { try $0[0].prod(dims: [2, -3]) },
        GradientCase("cumsum", [[2, 3]]) { try $0[0].cumsum(dim: 1) },
    ]

    @Test(arguments: cases) func reductionGradient(_ c: GradientCase) throws { try c.run() }

    /// prod, any and all reduce several dims one at a time; negative dims must name the same axes as for sum.
    @Test(arguments: [[0, 2], [2, 0], [-1, 0], [2, -3], [-3, -1], [1, -1]])
    func multiDimReductionsWithNegativeDims(_ dims: [Int]) throws {
        let x = try randomTensor([2, 3, 4], seed: 11, domain: .positive)
        let positive = dims.map { $0 < 0 ? $0 + 3 : $0 }
        let expected = try x.log().sum(dims: positive).exp()
        let prod = try x.prod(dims: dims)
        #expect(prod.shape == expected.shape)
        #expect(try allClose(prod, expected, rtol: 1e-12))
        #expect(try x.gt(0.1).all(dims: dims).shape == expected.shape)
        #expect(try x.gt(0.1).any(dims: dims, keepDims: true).shape == x.sum(dims: positive, keepDims: true).shape)
    }

    /// argmax / argmin give the first of tied values and the position of a NaN, along any dim and in the
    /// channels-last layout too: checked against a loop over the values.
    @Test func argmaxTakesTheFirstTieAndNaNInAnyLayout() throws {
        let shape = [2, 3, 2, 3, 4]
        let count = shape.reduce(1, *)
        var values: [Float] = (0..<count).map { (i: Int) -> Float in Float((i * 7 + i / 5) % 3) }
        values[17] = .nan
        let x = try Tensor(values, shape: shape)
        for tensor in [x, try x.channelsLast3d()] {
            for dim in [1, 4] {
                let stride = shape[(dim + 1)...].reduce(1, *)
                var expectedMax: [Int64] = [], expectedMin: [Int64] = []
                for i in 0..<values.count where (i / stride) % shape[dim] == 0 {
                    let line: [Float] = (0..<shape[dim]).map { values[i + $0 * stride] }
                    func first(_ better: (Float, Float) -> Bool) -> Int64 {
                        if let nan = line.firstIndex(where: { $0.isNaN }) { return Int64(nan) }
                        var best = 0
                        for k in line.indices where better(line[k], line[best]) { best = k }
                        return Int64(best)
                    }
                    expectedMax.append(first(>)); expectedMin.append(first(<))
                }
                #expect(try tensor.argmax(dim: dim).contiguous().array(Int64.self) == expectedMax, "argmax dim \(dim)")
                #expect(try tensor.argmin(dim: dim).contiguous().array(Int64.self) == expectedMin, "argmin dim \(dim)")
            }
        }
    }

    @Test func reductionValues() throws {
        let x = try doubles([1, 2, 3, 4, 5, 6], shape: [2, 3])
        #expect(try x.sum(dims: [1]).array(Double.self) == [6, 15])
        #expect(try x.mean(dims: [0]).array(Double.self) == [2.5, 3.5, 4.5])
        #expect(try x.max().item() == 6)
        #expect(try x.min(dims: [1]).array(Double.self) == [1, 4])
        #expect(try x.prod().item() == 720)
        #expect(try allClose(x.variance(dims: [1]), [1, 1]))
        #expect(try allClose(x.variance(dims: [1], unbiased: false), [2.0 / 3, 2.0 / 3]))
        #expect(try allClose(x.std(), [(17.5 / 5).squareRoot()]))
        #expect(try allClose(x.logsumexp(dims: [1]), [Foundation.log(1 + 2.7182818284590452 + 7.3890560989306495) + 1,
                                                        4 + Foundation.log(1 + 2.7182818284590452 + 7.3890560989306495)]))
        let (values, indices) = try x.max(dim: 1)
        #expect(try values.array(Double.self) == [3, 6])
        #expect(try indices.array(Int64.self) == [2, 2])
        #expect(try x.argmin(dim: 0).array(Int64.self) == [0, 0, 0])
        let y = try doubles([3, 1, 4, 1.5, 9, 2], shape: [2, 3])
        let top = try y.topk(2, dim: 1)
        #expect(try top.values.array(Double.self) == [4, 3, 9, 2])
        #expect(try top.indices.array(Int64.self) == [2, 0, 1, 2])
        #expect(try y.topk(1, dim: 0, largest: false).values.array(Double.self) == [1.5, 1, 2])
        let sorted = try y.sorted(dim: 1, descending: true)
        #expect(try sorted.values.array(Double.self) == [4, 3, 1, 9, 2, 1.5])
        #expect(try sorted.indices.array(Int64.self) == [2, 0, 1, 1, 2, 0])
        #expect(try y.cumsum(dim: 0).array(Double.self) == [3, 1, 4, 4.5, 10, 6])
        #expect(try y.gt(2).any(dims: [1]).array(Bool.self) == [true, true])
        #expect(try y.gt(2).all(dims: [1]).array(Bool.self) == [false, false])
    }
}

import Foundation
