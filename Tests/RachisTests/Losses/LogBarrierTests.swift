import Foundation
import Testing
@testable import Rachis
import Torch

struct LogBarrierTests {
    @Test func valuesAndSlopesOnBothBranches() {
        let b = LogBarrier(t: 5)
        #expect(b.joint == -0.04)
        // Log branch: ψ(−2) = −log 2 / 5, ψ'(−2) = −1/(5·(−2)) = 0.1.
        #expect(abs(b.value(-2) + log(2) / 5) < 1e-15)
        #expect(abs(b.derivative(-2) - 0.1) < 1e-15)
        // Linear branch: ψ(0.3) = 5·0.3 − log(1/25)/5 + 1/5, ψ' = 5.
        #expect(abs(b.value(0.3) - (1.5 + log(25) / 5 + 0.2)) < 1e-12)
        #expect(b.derivative(0.3) == 5)
    }

    @Test(arguments: [0.5, 1, 5, 20])
    func continuousAtTheJoint(t: Double) {
        let b = LogBarrier(t: t)
        let z = b.joint
        // The log branch's own value and slope at z = −1/t² equal the linear branch's there.
        #expect(abs(-log(-z) / t - (t * z - log(1 / (t * t)) / t + 1 / t)) < 1e-12)
        #expect(abs(-1 / (t * z) - t) < 1e-9 * t)
        let h = 1e-9
        #expect(abs(b.value(z - h) - b.value(z + h)) < 1e-7 * max(1, t))
        #expect(abs(b.derivative(z - h) - b.derivative(z + h)) < 1e-6 * t)
    }

    @Test func tensorMatchesScalarsAndAutograd() throws {
        let b = LogBarrier(t: 5)
        let points = [-3, -1, -0.2, -0.0400001, -0.04, -0.0399999, 0, 0.5, 10]
        let z = try Tensor(points, shape: [points.count]).requiringGrad()
        let psi = try b(z)
        let values = try psi.array(Double.self)
        for (k, x) in points.enumerated() { #expect(abs(values[k] - b.value(x)) < 1e-12, "ψ(\(x))") }
        let g = try gradient(of: psi.sum(), wrt: z)
        for (k, x) in points.enumerated() { #expect(abs(g[k] - b.derivative(x)) < 1e-9, "ψ'(\(x)) = \(g[k])") }
        // Finite differences of the tensor function, either side of the joint and far out on both branches.
        for x in [-2.0, -0.05, -0.03, 1] {
            let h = 1e-6
            let plus = try b(Tensor([x + h])).item(), minus = try b(Tensor([x - h])).item()
            #expect(abs((plus - minus) / (2 * h) - b.derivative(x)) < 1e-5 * max(1, b.derivative(x)))
        }
    }
}
