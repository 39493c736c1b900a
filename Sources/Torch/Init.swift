/// Weight initialisers, drawing from libtorch's seeded generator.
public enum Init {
    /// (fanIn, fanOut) of a weight: dim 1 and dim 0 times the receptive field (PyTorch's rule).
    public static func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        precondition(shape.count >= 2, "fans need a weight of rank 2 or more")
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    public enum FanMode: Sendable { case fanIn, fanOut }

    /// The gain for a nonlinearity (PyTorch's `calculate_gain`).
    public static func gain(relu: Bool, negativeSlope: Double = 0) -> Double {
        relu ? (2.0 / (1 + negativeSlope * negativeSlope)).squareRoot() : 1
    }

    /// Kaiming (He) normal: N(0, gain² / fan).
    public static func kaimingNormal(_ shape: [Int], mode: FanMode = .fanIn, negativeSlope: Double = 0, dtype: DType = .float32) throws -> Tensor {
        let (fanIn, fanOut) = fans(shape)
        let std = gain(relu: true, negativeSlope: negativeSlope) / Double(mode == .fanIn ? fanIn : fanOut).squareRoot()
        return try Tensor.randn(shape, dtype: dtype) * std
    }

    /// Kaiming (He) uniform: U(-b, b) with b = gain · sqrt(3 / fan).
    public static func kaimingUniform(_ shape: [Int], mode: FanMode = .fanIn, negativeSlope: Double = 0, dtype: DType = .float32) throws -> Tensor {
        let (fanIn, fanOut) = fans(shape)
        let bound = gain(relu: true, negativeSlope: negativeSlope) * (3.0 / Double(mode == .fanIn ? fanIn : fanOut)).squareRoot()
        return try uniform(shape, -bound, bound, dtype: dtype)
    }

    public static func uniform(_ shape: [Int], _ low: Double, _ high: Double, dtype: DType = .float32) throws -> Tensor {
        try Tensor.rand(shape, dtype: dtype) * (high - low) + low
    }

    /// PyTorch's default for conv and linear layers: weights kaiming-uniform with a = √5, biases U(±1/√fanIn).
    static func torchDefault(weight shape: [Int], dtype: DType) throws -> (weight: Tensor, biasBound: Double) {
        let weight = try kaimingUniform(shape, negativeSlope: 5.0.squareRoot(), dtype: dtype)
        return (weight, 1 / Double(fans(shape).fanIn).squareRoot())
    }
}
