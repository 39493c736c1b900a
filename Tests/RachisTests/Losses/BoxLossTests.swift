import Foundation
import Testing
@testable import Rachis
import Torch

struct BoxLossTests {
    static let shape = [4, 6, 6]

    /// One sample, one box (id 7) over d 1..<3, h 1..<5, w 2..<5.
    static func boxMap() throws -> Tensor {
        var ids = [Int64](repeating: 0, count: shape.reduce(1, *))
        for d in 1..<3 { for h in 1..<5 { for w in 2..<5 { ids[(d * shape[1] + h) * shape[2] + w] = 7 } } }
        return try Tensor(ids, shape: [1] + shape)
    }

    @Test func boxesAreBoundingBoxes() throws {
        let boxes = try BoxLoss.boxes(in: Self.boxMap())
        #expect(boxes == [BoxLoss.Box(sample: 0, id: 7, lower: [1, 1, 2], upper: [3, 5, 5])])
    }

    /// Uniform logits over 3 classes, boxes enclosing classes 1 and 2: p_C = 2/3 everywhere.
    /// Outside: −log(1/3); size: φ = 2/3 → ψ(0.25 − 2/3) + ψ(2/3 − 0.85); every slice's max is 2/3 → ψ(0.5 − 2/3).
    @Test func uniformPredictionMatchesHand() throws {
        let logits = try Tensor.zeros([1, 3] + Self.shape, dtype: .float64)
        let barrier = LogBarrier(t: 5)
        let loss = try BoxLoss(classes: [1, 2], fill: (0.25, 0.85), sizeWeight: 2, tightnessWeight: 0.5,
                               tightnessThreshold: 0.5, barrier: barrier)(logits: logits, boxes: Self.boxMap())
        let expected = log(3) + 2 * (barrier.value(0.25 - 2.0 / 3) + barrier.value(2.0 / 3 - 0.85)) + 0.5 * barrier.value(0.5 - 2.0 / 3)
        #expect(loss.count == 1)
        let value = try loss.value.item()
        #expect(abs(value - expected) < 1e-9, "\(value) vs \(expected)")
    }

    @Test func aTightFilledBoxCostsLessAndGradientsPointThere() throws {
        let n = Self.shape.reduce(1, *)
        let ids = try Self.boxMap().array(Int64.self)
        // Class 1 on a plus-shaped half of the box that meets every slice, background elsewhere.
        var good = [Double](repeating: 0, count: 3 * n)
        for i in 0..<n {
            let (d, h, w) = (i / 36, (i / 6) % 6, i % 6)
            let object = ids[i] == 7 && (h == 2 || h == 3 || w == 3 || d == 1)
            good[i] = object ? 0 : 6
            good[n + i] = object ? 6 : 0
        }
        let loss = BoxLoss(classes: [1], fill: (0.25, 0.85))
        let uniform = try loss(logits: Tensor.zeros([1, 3] + Self.shape, dtype: .float64), boxes: Self.boxMap())
        let tight = try loss(logits: Tensor(good, shape: [1, 3] + Self.shape), boxes: Self.boxMap())
        let (tightValue, uniformValue) = (try tight.value.item(), try uniform.value.item())
        #expect(tightValue < uniformValue)
        // From uniform logits, descending the gradient lowers class 1 outside the box.
        let logits = try Tensor.zeros([1, 3] + Self.shape, dtype: .float64).requiringGrad()
        let g = try gradient(of: loss(logits: logits, boxes: Self.boxMap()).value, wrt: logits)
        let (towardC, towardBackground) = (g[n], g[0])
        #expect(towardC > 0 && towardBackground < 0)
        #expect(!g.contains { !$0.isFinite })
    }

    /// The tightness prior holds for the true mask of a ball in its bounding box: every slice normal to an axis
    /// meets the ball, so each costs ψ_t(θ − p), p the ball's probability, and the voxels in the box's corners
    /// (outside the ball) get no gradient from it. With lines parallel to an axis instead of slices, the lines
    /// through the corners miss the ball and would pull the corners towards C.
    @Test func aBallSatisfiesTheTightnessPriorOfItsBox() throws {
        let shape = [7, 7, 7], n = shape.reduce(1, *), centre = [3.0, 3, 3]
        var logits = [Double](repeating: 0, count: 2 * n)
        var inBall = [Bool](repeating: false, count: n)
        for i in 0..<n {
            let (d, h, w) = (Double(i / 49), Double((i / 7) % 7), Double(i % 7))
            inBall[i] = (d - centre[0]) * (d - centre[0]) + (h - centre[1]) * (h - centre[1]) + (w - centre[2]) * (w - centre[2]) <= 9.5
            (logits[i], logits[n + i]) = inBall[i] ? (0, 12) : (12, 0)
        }
        // The box map is the ball's bounding box: the whole volume (the ball touches every face).
        let boxes = try Tensor([Int64](repeating: 1, count: n), shape: [1] + shape)
        #expect(try BoxLoss.boxes(in: boxes) == [BoxLoss.Box(sample: 0, id: 1, lower: [0, 0, 0], upper: shape)])
        let barrier = LogBarrier(t: 5)
        let loss = BoxLoss(classes: [1], sizeWeight: 0, tightnessWeight: 1, tightnessThreshold: 0.5, barrier: barrier)
        let x = try Tensor(logits, shape: [1, 2] + shape).requiringGrad()
        let value = try loss(logits: x, boxes: boxes).value
        let (found, expected) = (try value.item(), barrier.value(0.5 - 1 / (1 + exp(-12.0))))
        #expect(abs(found - expected) < 1e-9, "\(found) vs \(expected)")
        let g = try gradient(of: value, wrt: x)
        #expect((0..<n).allSatisfy { inBall[$0] || (g[$0] == 0 && g[n + $0] == 0) })
        #expect((0..<n).contains { inBall[$0] && g[n + $0] != 0 })
    }

    @Test func maskedSamplesAndBadInput() throws {
        let logits = try Tensor.zeros([1, 3] + Self.shape).requiringGrad()
        let masked = try BoxLoss(classes: [1])(logits: logits, boxes: Self.boxMap(), sampleMask: Tensor([Float(0)], shape: [1]))
        let maskedValue = try masked.value.item()
        #expect(masked.count == 0 && maskedValue == 0)
        #expect(throws: LossError.self) { try BoxLoss(classes: [3])(logits: logits, boxes: Self.boxMap()) }
        #expect(throws: LossError.self) { try BoxLoss(classes: [0, 1, 2])(logits: logits, boxes: Self.boxMap()) }
        #expect(throws: LossError.self) { try BoxLoss(classes: [1])(logits: logits, boxes: Tensor.zeros([1, 4, 6, 5])) }
    }
}
