import Foundation
import Testing
@testable import Torch

/// Forward values against closed forms and independent Swift computations.
struct ForwardValueTests {
    /// A naive direct convolution over `[1, C, D, H, W]` with stride and zero padding.
    static func naiveConv3d(_ x: [Double], _ xs: [Int], _ w: [Double], _ ws: [Int], bias: [Double],
                            stride: [Int], padding: [Int]) -> (values: [Double], shape: [Int]) {
        let (c, d, h, wd) = (xs[1], xs[2], xs[3], xs[4])
        let (oc, kd, kh, kw) = (ws[0], ws[2], ws[3], ws[4])
        let od = (d + 2 * padding[0] - kd) / stride[0] + 1
        let oh = (h + 2 * padding[1] - kh) / stride[1] + 1
        let ow = (wd + 2 * padding[2] - kw) / stride[2] + 1
        var out = [Double](repeating: 0, count: oc * od * oh * ow)
        for o in 0..<oc {
            for z in 0..<od {
                for y in 0..<oh {
                    for q in 0..<ow {
                        var acc = bias[o]
                        for ci in 0..<c {
                            for a in 0..<kd {
                                for b in 0..<kh {
                                    for e in 0..<kw {
                                        let iz = z * stride[0] - padding[0] + a
                                        let iy = y * stride[1] - padding[1] + b
                                        let ix = q * stride[2] - padding[2] + e
                                        guard (0..<d).contains(iz), (0..<h).contains(iy), (0..<wd).contains(ix) else { continue }
                                        acc += x[((ci * d + iz) * h + iy) * wd + ix] * w[(((o * c + ci) * kd + a) * kh + b) * kw + e]
                                    }
                                }
                            }
                        }
                        out[((o * od + z) * oh + y) * ow + q] = acc
                    }
                }
            }
        }
        return (out, [1, oc, od, oh, ow])
    }

    @Test(arguments: [([1, 1, 1], [0, 0, 0]), ([2, 1, 2], [1, 0, 1]), ([1, 2, 1], [0, 1, 1])])
    func conv3dMatchesNaiveLoop(stride: [Int], padding: [Int]) throws {
        let xs = [1, 2, 3, 4, 5], ws = [3, 2, 2, 3, 2]
        let x = try randomTensor(xs, seed: 21), w = try randomTensor(ws, seed: 22), b = try randomTensor([3], seed: 23)
        let y = try x.conv3d(w, bias: b, stride: Triple(stride[0], stride[1], stride[2]), padding: Triple(padding[0], padding[1], padding[2]))
        let expected = Self.naiveConv3d(try x.array(), xs, try w.array(), ws, bias: try b.array(), stride: stride, padding: padding)
        #expect(y.shape == expected.shape)
        #expect(try allClose(y, expected.values, rtol: 1e-12, atol: 1e-12))
    }

    @Test func softmaxMatchesClosedForm() throws {
        let values: [Double] = [0.5, -1, 2, 0, 3, 1]
        let s = try doubles(values, shape: [2, 3]).softmax(dim: 1)
        var expected: [Double] = []
        for row in 0..<2 {
            let e = values[(row * 3)..<(row * 3 + 3)].map { Foundation.exp($0) }
            let total = e.reduce(0, +)
            expected += e.map { $0 / total }
        }
        #expect(try allClose(s, expected, rtol: 1e-12))
        #expect(try allClose(doubles(values, shape: [2, 3]).logSoftmax(dim: 1), expected.map { Foundation.log($0) }, rtol: 1e-12))
        // Softmax over dim 0 sums to one down each column.
        #expect(try allClose(doubles(values, shape: [2, 3]).softmax(dim: 0).sum(dims: [0]), [1, 1, 1], rtol: 1e-12))
    }

    @Test func crossEntropyWithWeightsAndIgnoreIndexMatchesHandComputation() throws {
        let logits: [Double] = [1, 2, 0.5, -1, 0, 3, 0.2, 0.1, -0.4, 2, 2, 2]
        let targets = [2, 0, 7, 1]
        let weights: [Double] = [0.5, 2, 1.5]
        var numerator = 0.0, denominator = 0.0
        var perSample: [Double] = []
        for (i, t) in targets.enumerated() {
            let row = Array(logits[(i * 3)..<(i * 3 + 3)])
            let logZ = Foundation.log(row.map { Foundation.exp($0) }.reduce(0, +))
            guard t != 7 else { perSample.append(0); continue }
            let loss = -weights[t] * (row[t] - logZ)
            perSample.append(loss)
            numerator += loss
            denominator += weights[t]
        }
        let x = try doubles(logits, shape: [4, 3]), y = try longs(targets), w = try doubles(weights)
        #expect(try allClose(Loss.crossEntropy(x, y, weight: w, ignoreIndex: 7), [numerator / denominator], rtol: 1e-12))
        #expect(try allClose(Loss.crossEntropy(x, y, weight: w, reduction: .sum, ignoreIndex: 7), [numerator], rtol: 1e-12))
        #expect(try allClose(Loss.crossEntropy(x, y, weight: w, reduction: .none, ignoreIndex: 7), perSample, rtol: 1e-12))
        // nll on log-softmax is the same loss.
        #expect(try allClose(Loss.nll(x.logSoftmax(dim: 1), y, weight: w, ignoreIndex: 7), [numerator / denominator], rtol: 1e-12))
    }

    @Test func crossEntropyLabelSmoothingAndSoftTargetsMatchHandComputation() throws {
        let logits: [Double] = [1, 2, 0.5, -1, 0, 3]
        let targets = [1, 2], eps = 0.2
        var smoothed = 0.0, soft = 0.0
        let probabilities: [Double] = [0.2, 0.5, 0.3, 0, 0.1, 0.9]
        for i in 0..<2 {
            let row = Array(logits[(i * 3)..<(i * 3 + 3)])
            let logZ = Foundation.log(row.map { Foundation.exp($0) }.reduce(0, +))
            let logp = row.map { $0 - logZ }
            smoothed += (1 - eps) * -logp[targets[i]] + eps / 3 * -logp.reduce(0, +)
            soft += -(0..<3).map { probabilities[i * 3 + $0] * logp[$0] }.reduce(0, +)
        }
        let x = try doubles(logits, shape: [2, 3])
        #expect(try allClose(Loss.crossEntropy(x, longs(targets), labelSmoothing: eps), [smoothed / 2], rtol: 1e-12))
        #expect(try allClose(Loss.crossEntropy(x, doubles(probabilities, shape: [2, 3])), [soft / 2], rtol: 1e-12))
    }

    @Test func otherLossesMatchClosedForms() throws {
        let x = try doubles([0.5, -2, 1.5, 0]), t = try doubles([0, 1, 1, 0.25])
        let d: [Double] = [0.5, -3, 0.5, -0.25]
        #expect(try allClose(Loss.mse(x, t), [d.map { $0 * $0 }.reduce(0, +) / 4], rtol: 1e-12))
        #expect(try allClose(Loss.l1(x, t, reduction: .sum), [d.map(Swift.abs).reduce(0, +)], rtol: 1e-12))
        let beta = 1.0
        let huber = d.map { Swift.abs($0) < beta ? 0.5 * $0 * $0 / beta : Swift.abs($0) - 0.5 * beta }
        #expect(try allClose(Loss.smoothL1(x, t, reduction: .none, beta: beta), huber, rtol: 1e-12))
        let pw = 3.0
        let bce = zip([0.5, -2, 1.5, 0], [0, 1, 1, 0.25]).map { (z: Double, y: Double) -> Double in
            let s = 1 / (1 + Foundation.exp(-z))
            return -(pw * y * Foundation.log(s) + (1 - y) * Foundation.log(1 - s)) * 2
        }
        #expect(try allClose(Loss.binaryCrossEntropyWithLogits(x, t, weight: doubles([2]), positiveWeight: doubles([pw]), reduction: .none),
                             bce, rtol: 1e-12))
    }

    @Test func groupNormMatchesHandComputedStatistics() throws {
        let values: [Double] = [1, 2, 3, 5, -1, 0, 4, 4, 2, 8, 1, 1]
        let x = try doubles(values, shape: [1, 4, 3, 1, 1])
        let gamma: [Double] = [1, 2, 0.5, -1], beta: [Double] = [0, 1, -1, 0.5]
        let eps = 1e-5
        var expected: [Double] = []
        for g in 0..<2 {
            let group = Array(values[(g * 6)..<(g * 6 + 6)])
            let mean = group.reduce(0, +) / 6
            let variance = group.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 6
            for (k, v) in group.enumerated() {
                let channel = g * 2 + k / 3
                expected.append((v - mean) / (variance + eps).squareRoot() * gamma[channel] + beta[channel])
            }
        }
        let y = try x.groupNorm(groups: 2, weight: doubles(gamma), bias: doubles(beta), eps: eps)
        #expect(try allClose(y, expected, rtol: 1e-10, atol: 1e-12))
    }

    /// Trilinear resampling with aligned corners reproduces a linear function exactly.
    @Test func trilinearUpsamplingOfARampIsARamp() throws {
        let (a, b, c) = (0.5, -2.0, 3.0)
        func ramp(_ shape: [Int], scale: [Double]) -> [Double] {
            var out: [Double] = []
            for z in 0..<shape[0] { for y in 0..<shape[1] { for x in 0..<shape[2] {
                out.append(a * Double(z) * scale[0] + b * Double(y) * scale[1] + c * Double(x) * scale[2])
            } } }
            return out
        }
        let input = try doubles(ramp([2, 3, 4], scale: [1, 1, 1]), shape: [1, 1, 2, 3, 4])
        let output = try input.upsampleTrilinear(size: [3, 5, 7], alignCorners: true)
        #expect(output.shape == [1, 1, 3, 5, 7])
        #expect(try allClose(output, ramp([3, 5, 7], scale: [1.0 / 2, 2.0 / 4, 3.0 / 6]), rtol: 1e-12, atol: 1e-12))
        // Without aligned corners, sample centres map to (i + 0.5)·in/out − 0.5, clamped at the border.
        let line = try doubles([0, 1], shape: [1, 1, 1, 1, 2]).upsampleTrilinear(size: [1, 1, 4])
        #expect(try allClose(line, [0, 0.25, 0.75, 1], rtol: 1e-12))
    }

    @Test func poolingValues() throws {
        let x = try Tensor.arange(0, 8, dtype: .float64).reshape([1, 1, 2, 2, 2])
        #expect(try x.maxPool3d(kernel: 2).item() == 7)
        #expect(try x.avgPool3d(kernel: 2).item() == 3.5)
        #expect(try x.adaptiveAvgPool3d([2, 1, 1]).array(Double.self) == [1.5, 5.5])
        #expect(try x.adaptiveMaxPool3d([1, 1, 2]).array(Double.self) == [6, 7])
        #expect(try x.upsampleNearest(size: [2, 2, 4]).array(Double.self)[0..<4] == [0, 0, 1, 1])
    }

    @Test func matmulAndLinearValues() throws {
        let a = try doubles([1, 2, 3, 4, 5, 6], shape: [2, 3])
        let b = try doubles([1, 0, 0, 1, 1, 1], shape: [3, 2])
        #expect(try a.matmul(b).array(Double.self) == [4, 5, 10, 11])
        #expect(try a.linear(b.transpose(0, 1), bias: doubles([1, -1])).array(Double.self) == [5, 4, 11, 10])
    }

    /// A Swift scalar keeps a floating tensor's dtype, and is not truncated against an integer tensor.
    @Test func scalarOperandsOnIntegerAndFloatTensors() throws {
        let n = try Tensor([2, 4] as [Int64])
        #expect(try (1.5 / n).array(Double.self) == [0.75, 0.375])
        #expect(try (1.5 - n).array(Double.self) == [-0.5, -2.5])
        #expect(try (n + 1.5).array(Double.self) == [3.5, 5.5])
        #expect(try n.apply(.maximum, 2.5).array(Double.self) == [2.5, 4])
        #expect(try allClose(n.apply(.atan2, 0.5, reversed: true), [Foundation.atan2(0.5, 2), Foundation.atan2(0.5, 4)], rtol: 1e-6))
        #expect(try n.apply(.minimum, 3).array(Int64.self) == [2, 3])
        let f = try Tensor([1, 2] as [Float])
        #expect(try f.apply(.maximum, 1.5).dtype == .float32)
        #expect(try (2 / f).dtype == .float32)
        #expect(try (2 / f).array(Float.self) == [2, 1])
    }
}
