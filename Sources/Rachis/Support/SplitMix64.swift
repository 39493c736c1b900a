/// Seedable SplitMix64 generator (Steele, Lea, Flood 2014): small, fast, and stable across Swift versions. Every
/// random choice of the phantoms, the splits, the loader's crops and augmentation and the benchmarks flows from one
/// of these, so a seed fixes the output.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A generator for one independent stream, e.g. (recipe seed, subject index, stage).
    public init(seed: UInt64, stream: UInt64...) {
        var s = seed
        for value in stream { s = Self.mix(s &+ 0x9E37_79B9_7F4A_7C15 &* (value &+ 1)) }
        state = s
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in [range[0], range[1]] (a two-element recipe range).
    public mutating func uniform(_ range: [Double]) -> Double { range[0] + (range[1] - range[0]) * unit() }

    public mutating func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * unit() }

    public mutating func bernoulli(_ p: Double) -> Bool { unit() < p }

    /// Standard normal (one value per call).
    public mutating func normal() -> Double { normalPair().0 }

    /// Two independent standard normals (Marsaglia's polar method: no trigonometry).
    public mutating func normalPair() -> (Double, Double) {
        while true {
            let u = 2 * unit() - 1, v = 2 * unit() - 1, s = u * u + v * v
            if s > 0 && s < 1 {
                let f = (-2 * log(s) / s).squareRoot()
                return (u * f, v * f)
            }
        }
    }

    /// Two independent standard normals in single precision (polar method, two draws per 64-bit word).
    public mutating func normalPairFloat() -> (Float, Float) {
        while true {
            let bits = next()
            let u = Float(bits >> 40) * 0x1p-23 - 1, v = Float((bits >> 8) & 0xFF_FFFF) * 0x1p-23 - 1
            let s = u * u + v * v
            if s > 0 && s < 1 {
                let f = (-2 * logf(s) / s).squareRoot()
                return (u * f, v * f)
            }
        }
    }

    /// Index drawn with probability proportional to `weights`.
    public mutating func categorical(_ weights: [Double]) -> Int {
        var r = unit() * weights.reduce(0, +)
        for (i, w) in weights.enumerated() {
            r -= w
            if r < 0 { return i }
        }
        return weights.lastIndex(where: { $0 > 0 }) ?? 0
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
