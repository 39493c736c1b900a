import Testing
@testable import Torch

/// Finite-difference checks of elementwise unary, binary (with broadcasting), scalar and clamp/where ops.
struct ElementwiseGradientTests {
    static let unary: [GradientCase] = [
        GradientCase("neg", [[2, 3]]) { try $0[0].neg() },
        GradientCase("prefix -", [[2, 3]]) { try -$0[0] },
        GradientCase("abs", [[2, 3]], .awayFromZero) { try $0[0].abs() },
        GradientCase("exp", [[2, 3]]) { try $0[0].exp() },
        GradientCase("log", [[2, 3]], .positive) { try $0[0].log() },
        GradientCase("sqrt", [[2, 3]], .positive) { try $0[0].sqrt() },
        GradientCase("rsqrt", [[2, 3]], .positive) { try $0[0].rsqrt() },
        GradientCase("sin", [[2, 3]]) { try $0[0].sin() },
        GradientCase("cos", [[2, 3]]) { try $0[0].cos() },
        GradientCase("tanh", [[2, 3]]) { try $0[0].tanh() },
        GradientCase("sigmoid", [[2, 3]]) { try $0[0].sigmoid() },
        GradientCase("relu", [[2, 3]], .awayFromZero) { try $0[0].relu() },
        GradientCase("gelu", [[2, 3]]) { try $0[0].gelu() },
        GradientCase("square", [[2, 3]]) { try $0[0].square() },
        GradientCase("reciprocal", [[2, 3]], .positive) { try $0[0].reciprocal() },
        GradientCase("log1p", [[2, 3]], .positive) { try $0[0].log1p() },
        GradientCase("expm1", [[2, 3]]) { try $0[0].expm1() },
        GradientCase("erf", [[2, 3]]) { try $0[0].erf() },
        GradientCase("silu", [[2, 3]]) { try $0[0].silu() },
        GradientCase("softplus", [[2, 3]]) { try $0[0].softplus() },
        GradientCase("leakyReLU", [[2, 3]], .awayFromZero) { try $0[0].leakyReLU(slope: 0.2) },
        GradientCase("elu", [[2, 3]], .awayFromZero) { try $0[0].elu(alpha: 1.5) },
        GradientCase("clamp both", [[3, 4]], .awayFromZero) { try $0[0].clamp(min: -0.7, max: 0.6) },
        GradientCase("clamp min only", [[3, 4]], .awayFromZero) { try $0[0].clamp(min: 0.1) },
        GradientCase("clamp max only", [[3, 4]], .awayFromZero) { try $0[0].clamp(max: -0.1) },
        GradientCase("pow scalar", [[2, 3]], .positive) { try $0[0].pow(2.5) },
    ]

    static let binary: [GradientCase] = [
        GradientCase("add broadcast", [[2, 3], [3]]) { try $0[0] + $0[1] },
        GradientCase("sub broadcast", [[2, 1, 3], [4, 1]]) { try $0[0] - $0[1] },
        GradientCase("mul broadcast", [[2, 3], [2, 1]]) { try $0[0] * $0[1] },
        GradientCase("div broadcast", [[2, 3], [3]], .positive) { try $0[0] / $0[1] },
        GradientCase("pow tensor", [[2, 3], [2, 3]], .positive) { try $0[0].pow($0[1]) },
        GradientCase("pow broadcast exponent", [[2, 3], [1, 3]], .positive) { try $0[0].pow($0[1]) },
        // Inputs from independent draws never tie, so maximum/minimum are differentiable there.
        GradientCase("maximum broadcast", [[2, 3], [3]]) { try $0[0].maximum($0[1]) },
        GradientCase("minimum", [[2, 3], [2, 3]]) { try $0[0].minimum($0[1]) },
        GradientCase("atan2 broadcast", [[2, 3], [2, 1]], .positive) { try $0[0].atan2($0[1]) },
        GradientCase("where", [[2, 3], [2, 3]]) { x in
            try x[0].where(bools([true, false, true, false, false, true], shape: [2, 3]), else: x[1])
        },
        GradientCase("where broadcast condition", [[2, 3], [3]]) { x in
            try x[0].where(bools([true, false], shape: [2, 1]), else: x[1])
        },
    ]

    static let scalar: [GradientCase] = [
        GradientCase("tensor + scalar", [[2, 3]]) { try $0[0] + 1.5 },
        GradientCase("tensor - scalar", [[2, 3]]) { try $0[0] - 1.5 },
        GradientCase("tensor * scalar", [[2, 3]]) { try $0[0] * -2.5 },
        GradientCase("tensor / scalar", [[2, 3]]) { try $0[0] / 4 },
        GradientCase("scalar + tensor", [[2, 3]]) { try 1.5 + $0[0] },
        GradientCase("scalar - tensor", [[2, 3]]) { try 1.5 - $0[0] },
        GradientCase("scalar * tensor", [[2, 3]]) { try 3 * $0[0] },
        GradientCase("scalar / tensor", [[2, 3]], .positive) { try 2 / $0[0] },
        GradientCase("scalar pow tensor", [[2, 3]]) { try $0[0].apply(.pow, 1.7, reversed: true) },
        GradientCase("maximum scalar", [[2, 3]], .awayFromZero) { try $0[0].apply(.maximum, 0.05) },
        GradientCase("minimum scalar", [[2, 3]], .awayFromZero) { try $0[0].apply(.minimum, 0.05) },
        GradientCase("atan2 scalar", [[2, 3]]) { try $0[0].apply(.atan2, 0.8) },
    ]

    @Test(arguments: unary) func unaryGradient(_ c: GradientCase) throws { try c.run() }
    @Test(arguments: binary) func binaryGradient(_ c: GradientCase) throws { try c.run() }
    @Test(arguments: scalar) func scalarGradient(_ c: GradientCase) throws { try c.run() }

    /// Scalar forms compute what the tensor forms compute.
    @Test func scalarFormsMatchTensorForms() throws {
        let x = try randomTensor([5], seed: 3, domain: .positive)
        let s = try Tensor(scalar: 1.7)
        #expect(try allClose(2 - x, try (Tensor(scalar: 2.0) - x).array(Double.self)))
        #expect(try allClose(2 / x, try (Tensor(scalar: 2.0) / x).array(Double.self)))
        #expect(try allClose(x.apply(.pow, 1.7, reversed: true), try s.pow(x).array(Double.self)))
        #expect(try allClose(x.apply(.atan2, 1.7), try x.atan2(s).array(Double.self)))
        #expect(try allClose(x.apply(.atan2, 1.7, reversed: true), try s.atan2(x).array(Double.self)))
    }
}
