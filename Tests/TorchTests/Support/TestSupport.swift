import Foundation
import Testing
@testable import Torch

/// A small deterministic generator (SplitMix64) for test inputs, so tests do not draw from libtorch's global
/// generator (Swift Testing runs tests in parallel; libtorch's generator is process-wide).
struct TestRNG {
    private var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform on [low, high).
    mutating func uniform(_ low: Double = -1, _ high: Double = 1) -> Double {
        low + (high - low) * Double(next() >> 11) / Double(1 << 53)
    }

    mutating func uniform(count: Int, _ low: Double = -1, _ high: Double = 1) -> [Double] {
        (0..<count).map { _ in uniform(low, high) }
    }
}

/// Where test inputs are drawn from.
enum Domain: Sendable {
    /// Uniform on [-1, 1).
    case symmetric
    /// Uniform on [0.5, 2): for log, sqrt, reciprocal, pow bases.
    case positive
    /// ±[0.2, 1.2): away from kinks at 0 (abs, relu, leaky ReLU, elu).
    case awayFromZero

    func values(count: Int, rng: inout TestRNG) -> [Double] {
        switch self {
        case .symmetric: rng.uniform(count: count)
        case .positive: rng.uniform(count: count, 0.5, 2)
        case .awayFromZero: (0..<count).map { _ in
            let magnitude = rng.uniform(0.2, 1.2)
            return rng.next() % 2 == 0 ? magnitude : -magnitude
        }
        }
    }
}

/// A float64 tensor of `shape` drawn from `domain`.
func randomTensor(_ shape: [Int], seed: UInt64, domain: Domain = .symmetric) throws -> Tensor {
    var rng = TestRNG(seed: seed)
    return try Tensor(domain.values(count: shape.reduce(1, *), rng: &rng), shape: shape)
}

/// Serialises every test that draws from libtorch's process-wide generator (seeding, randn, module
/// initialisation, dropout), so a reproducibility check is not disturbed by another test drawing in between.
enum TorchRNG {
    static func seeded<T>(_ seed: UInt64, _ body: () throws -> T) rethrows -> T {
        try Torch.exclusiveRandomness(seed: seed, body)
    }
}

/// True when every |a - b| <= atol + rtol·|b|.
func allClose(_ a: [Double], _ b: [Double], rtol: Double = 1e-6, atol: Double = 1e-9) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { Swift.abs($0 - $1) <= atol + rtol * Swift.abs($1) }
}

func allClose(_ a: Tensor, _ b: [Double], rtol: Double = 1e-6, atol: Double = 1e-9) throws -> Bool {
    try allClose(a.array(Double.self), b, rtol: rtol, atol: atol)
}

func allClose(_ a: Tensor, _ b: Tensor, rtol: Double = 1e-6, atol: Double = 1e-9) throws -> Bool {
    guard a.shape == b.shape else { return false }
    return allClose(try a.array(Double.self), try b.array(Double.self), rtol: rtol, atol: atol)
}

/// Compares `Torch.gradients` of L = Σ f(inputs) · W, with W fixed random weights (so every output element
/// matters), against central differences of L in float64. Inputs must be float64; integer operands (indices,
/// masks) are captured by `f`. Records one issue per mismatching input with the worst element.
func checkGradient(inputs: [Tensor], eps: Double = 1e-6, rtol: Double = 1e-5, atol: Double = 1e-6,
                   sourceLocation: SourceLocation = #_sourceLocation,
                   _ f: ([Tensor]) throws -> Tensor) throws {
    for input in inputs {
        let isDouble = input.dtype == DType.float64
        try #require(isDouble, "gradient checks run in float64", sourceLocation: sourceLocation)
    }
    let shapes = inputs.map(\.shape)
    let values = try inputs.map { try $0.array(Double.self) }

    let leaves = try zip(values, shapes).map { try Tensor($0, shape: $1).requiringGrad() }
    let output = try f(leaves)
    var rng = TestRNG(seed: 7)
    let weights = try Tensor(rng.uniform(count: output.count, 0.5, 1.5), shape: output.shape)
    let loss = try (output.to(.float64) * weights).sum()
    let analytic = try Torch.gradients(of: loss, wrt: leaves).map { try $0.array(Double.self) }

    func lossValue(_ perturbed: [[Double]]) throws -> Double {
        try Torch.noGrad {
            let tensors = try zip(perturbed, shapes).map { try Tensor($0, shape: $1) }
            return try (f(tensors).to(.float64) * weights).sum().item()
        }
    }

    for i in inputs.indices {
        var worst: (index: Int, analytic: Double, numeric: Double, excess: Double)?
        for j in values[i].indices {
            var plus = values, minus = values
            plus[i][j] += eps
            minus[i][j] -= eps
            let numeric = (try lossValue(plus) - lossValue(minus)) / (2 * eps)
            let excess = Swift.abs(analytic[i][j] - numeric) - (atol + rtol * Swift.abs(numeric))
            if excess > 0, excess > (worst?.excess ?? 0) { worst = (j, analytic[i][j], numeric, excess) }
        }
        if let worst {
            Issue.record("input \(i) \(shapes[i]), element \(worst.index): autograd \(worst.analytic), finite differences \(worst.numeric)",
                         sourceLocation: sourceLocation)
        }
    }
}

/// One row of a gradient-check table.
struct GradientCase: Sendable, CustomTestStringConvertible {
    let name: String
    let shapes: [[Int]]
    let domain: Domain
    let f: @Sendable ([Tensor]) throws -> Tensor

    init(_ name: String, _ shapes: [[Int]], _ domain: Domain = .symmetric, _ f: @escaping @Sendable ([Tensor]) throws -> Tensor) {
        (self.name, self.shapes, self.domain, self.f) = (name, shapes, domain, f)
    }

    var testDescription: String { name }

    func run() throws {
        let inputs = try shapes.enumerated().map { try randomTensor($1, seed: UInt64($0 + 1) &* 7919 &+ UInt64(name.utf8.count), domain: domain) }
        try checkGradient(inputs: inputs, f)
    }
}

/// int64 tensor helper.
func longs(_ values: [Int], shape: [Int]? = nil) throws -> Tensor {
    try Tensor(values.map(Int64.init), shape: shape ?? [values.count])
}

func bools(_ values: [Bool], shape: [Int]? = nil) throws -> Tensor {
    try Tensor(values, shape: shape ?? [values.count])
}

func doubles(_ values: [Double], shape: [Int]? = nil) throws -> Tensor {
    try Tensor(values, shape: shape ?? [values.count])
}
