import Testing
@testable import Torch

/// Finite-difference checks of shape, indexing, concatenation and padding ops.
struct ShapeGradientTests {
    static let cases: [GradientCase] = [
        GradientCase("reshape", [[2, 6]]) { try $0[0].reshape([3, 2, 2]) },
        GradientCase("reshape inferred", [[2, 6]]) { try $0[0].reshape([4, -1]) },
        GradientCase("permute", [[2, 3, 4]]) { try $0[0].permute([2, 0, 1]) },
        GradientCase("transpose", [[2, 3, 4]]) { try $0[0].transpose(0, 2) },
        GradientCase("expand", [[3, 1]]) { try $0[0].expand([2, 3, 4]) },
        GradientCase("repeat", [[2, 3]]) { try $0[0].repeated([2, 1, 2]) },
        GradientCase("squeeze", [[2, 1, 3]]) { try $0[0].squeeze(dim: 1) },
        GradientCase("unsqueeze", [[2, 3]]) { try $0[0].unsqueeze(dim: -1) },
        GradientCase("flatten", [[2, 3, 2, 2]]) { try $0[0].flatten(from: 1, to: 2) },
        GradientCase("flip", [[2, 3, 4]]) { try $0[0].flip([0, 2]) },
        GradientCase("slice step", [[3, 7]]) { try $0[0].slice(dim: 1, start: 1, end: 6, step: 2) },
        GradientCase("slice negative", [[5, 2]]) { try $0[0].slice(dim: 0, start: -3) },
        GradientCase("select", [[3, 4]]) { try $0[0].select(dim: 1, index: -2) },
        GradientCase("subscript", [[3, 4, 5]]) { try $0[0][1, .range(0, 4, step: 2), .newAxis, .all] },
        GradientCase("indexSelect repeats", [[4, 3]]) { try $0[0].indexSelect(dim: 0, index: longs([3, 0, 3])) },
        GradientCase("gather", [[2, 4]]) { try $0[0].gather(dim: 1, index: longs([0, 3, 3, 1, 2, 0], shape: [2, 3])) },
        GradientCase("scatterAdd", [[2, 4], [2, 3]]) { x in
            try x[0].scatterAdd(dim: 1, index: longs([0, 3, 3, 1, 2, 0], shape: [2, 3]), source: x[1])
        },
        GradientCase("maskedSelect broadcast mask", [[2, 3]]) { try $0[0].maskedSelect(bools([true, false, true])) },
        GradientCase("maskedFill", [[2, 3]]) { try $0[0].maskedFill(bools([false, true, false, true, true, false], shape: [2, 3]), value: 7) },
        GradientCase("cat", [[2, 3], [1, 3]]) { try Tensor.cat([$0[0], $0[1]], dim: 0) },
        GradientCase("cat last dim", [[2, 3], [2, 1]]) { try Tensor.cat([$0[0], $0[1], $0[0]], dim: -1) },
        GradientCase("stack", [[2, 3], [2, 3]]) { try Tensor.stack([$0[0], $0[1]], dim: 1) },
        GradientCase("pad constant", [[1, 2, 3]]) { try $0[0].pad([1, 2, 0, 1], value: 0.5) },
        GradientCase("pad reflect 3d", [[1, 1, 3, 3, 3]]) { try $0[0].pad([1, 1, 2, 0, 0, 1], mode: .reflect) },
        GradientCase("pad reflect 1d", [[1, 2, 4]]) { try $0[0].pad([2, 1], mode: .reflect) },
        GradientCase("pad replicate 3d", [[1, 1, 2, 2, 3]]) { try $0[0].pad([1, 2, 0, 1, 1, 0], mode: .replicate) },
        GradientCase("pad replicate 2d", [[1, 2, 2, 3]]) { try $0[0].pad([1, 0, 0, 2], mode: .replicate) },
        GradientCase("matmul", [[2, 3], [3, 4]]) { try $0[0].matmul($0[1]) },
        GradientCase("matmul batched broadcast", [[2, 2, 3], [3, 2]]) { try $0[0].matmul($0[1]) },
        GradientCase("matmul vector", [[3], [3, 2]]) { try $0[0].matmul($0[1]) },
        GradientCase("linear with bias", [[2, 3], [4, 3], [4]]) { try $0[0].linear($0[1], bias: $0[2]) },
        GradientCase("linear without bias", [[2, 2, 3], [4, 3]]) { try $0[0].linear($0[1]) },
    ]

    @Test(arguments: cases) func shapeGradient(_ c: GradientCase) throws { try c.run() }

    @Test func indexingValues() throws {
        let x = try Tensor.arange(0, 24, dtype: .float64).reshape([2, 3, 4])
        #expect(x.shape == [2, 3, 4])
        #expect(try x[1, 2].array(Double.self) == [20, 21, 22, 23])
        #expect(try x[.all, .range(1, nil), -1].array(Double.self) == [7, 11, 19, 23])
        #expect(try x[0, .newAxis].shape == [1, 3, 4])
        #expect(try x.slice(dim: 2, start: 0, end: 4, step: 3).array(Double.self) == [0, 3, 4, 7, 8, 11, 12, 15, 16, 19, 20, 23])
        #expect(try x.permute([2, 0, 1]).shape == [4, 2, 3])
        #expect(try x.transpose(0, 1).contiguous().array(Double.self)[0..<8] == [0, 1, 2, 3, 12, 13, 14, 15])
        #expect(try x.flip([2])[0, 0].array(Double.self) == [3, 2, 1, 0])
        #expect(try x.gather(dim: 2, index: longs([3, 0], shape: [1, 1, 2])).array(Double.self) == [3, 0])
        let m = try x.gt(20)
        #expect(try x.maskedSelect(m).array(Double.self) == [21, 22, 23])
        #expect(try Tensor.zeros([3], dtype: .float64).scatterAdd(dim: 0, index: longs([0, 2, 0]), source: doubles([1, 2, 3]))
            .array(Double.self) == [4, 0, 2])
        #expect(try doubles([1, 2, 3]).pad([2, 1], mode: .constant, value: 9).array(Double.self) == [9, 9, 1, 2, 3, 9])
        #expect(try doubles([1, 2, 3], shape: [1, 1, 3]).pad([2, 1], mode: .reflect).array(Double.self) == [3, 2, 1, 2, 3, 2])
        #expect(try doubles([1, 2, 3], shape: [1, 1, 3]).pad([2, 1], mode: .replicate).array(Double.self) == [1, 1, 1, 2, 3, 3])
        #expect(try longs([2, 0]).oneHot(classes: 3).array(Int64.self) == [0, 0, 1, 1, 0, 0])
        #expect(try doubles([0, 3, 0, 5]).nonzero().array(Int64.self) == [1, 3])
    }
}
