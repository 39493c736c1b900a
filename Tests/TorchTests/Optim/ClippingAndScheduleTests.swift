import Foundation
import Testing
@testable import Torch

struct GradientClippingTests {
    /// Two parameters with gradients [3, 4] and [12]: global norm 13.
    static func parameters() throws -> [Tensor] {
        let a = try doubles([1.5, 2]).requiringGrad(), b = try doubles([6]).requiringGrad()
        try (a.square().sum() + b.square().sum()).backward()
        return [a, b]
    }

    @Test func clipNormScalesAllGradientsTogether() throws {
        let params = try Self.parameters()
        let norm = try GradientClipping.clipNorm(params, maxNorm: 6.5)
        #expect(Swift.abs(norm - 13) < 1e-12)
        let scale = 6.5 / (13 + 1e-6)
        #expect(try allClose(#require(params[0].grad), [3 * scale, 4 * scale], rtol: 1e-12))
        #expect(try allClose(#require(params[1].grad), [12 * scale], rtol: 1e-12))
    }

    @Test func clipNormLeavesSmallGradientsAlone() throws {
        let params = try Self.parameters()
        #expect(Swift.abs(try GradientClipping.clipNorm(params, maxNorm: 20) - 13) < 1e-12)
        #expect(try params[0].grad?.array(Double.self) == [3, 4])
        #expect(try params[1].grad?.array(Double.self) == [12])
        #expect(try GradientClipping.clipNorm([try doubles([1]).requiringGrad()], maxNorm: 1) == 0)
    }

    @Test func normMeasuresWithoutChangingTheGradients() throws {
        let params = try Self.parameters()
        #expect(Swift.abs(try GradientClipping.norm(params) - 13) < 1e-12)
        #expect(try params[0].grad?.array(Double.self) == [3, 4])
        #expect(try params[1].grad?.array(Double.self) == [12])
        #expect(try GradientClipping.norm(params + [try doubles([2]).requiringGrad()]) == 13)
    }

    @Test func clipValueClampsElements() throws {
        let params = try Self.parameters()
        try GradientClipping.clipValue(params, limit: 3.5)
        #expect(try params[0].grad?.array(Double.self) == [3, 3.5])
        #expect(try params[1].grad?.array(Double.self) == [3.5])
    }
}

struct LearningRateScheduleTests {
    @Test(arguments: [(0, 0.1), (2, 0.1), (3, 0.05), (5, 0.05), (6, 0.025), (10, 0.0125)])
    func stepLR(step: Int, expected: Double) {
        #expect(Swift.abs(StepLR(base: 0.1, stepSize: 3, gamma: 0.5).learningRate(at: step) - expected) < 1e-15)
    }

    @Test(arguments: [(0, 1.0), (5, 0.55), (10, 0.1), (25, 0.1),
                      (2, 0.1 + 0.9 * (1 + cos(Double.pi * 0.2)) / 2)])
    func cosineLR(step: Int, expected: Double) {
        #expect(Swift.abs(CosineLR(base: 1, totalSteps: 10, minimum: 0.1).learningRate(at: step) - expected) < 1e-12)
    }

    @Test func linearWarmup() {
        let warm = LinearWarmup(ConstantLR(0.2), warmupSteps: 4, startFactor: 0.25)
        let expected = [0.05, 0.0875, 0.125, 0.1625, 0.2, 0.2]
        for (step, rate) in expected.enumerated() {
            #expect(Swift.abs(warm.learningRate(at: step) - rate) < 1e-15, "step \(step)")
        }
        // After warm-up the wrapped schedule starts from its own step 0.
        let cosine = LinearWarmup(CosineLR(base: 1, totalSteps: 10), warmupSteps: 2)
        #expect(cosine.learningRate(at: 0) == 0)
        #expect(Swift.abs(cosine.learningRate(at: 1) - 0.5) < 1e-15)
        #expect(Swift.abs(cosine.learningRate(at: 7) - 0.5) < 1e-12)
        #expect(cosine.learningRate(at: 12) == 0)
    }
}
