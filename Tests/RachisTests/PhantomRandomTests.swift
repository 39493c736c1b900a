import Testing
import Rachis

struct PhantomRandomTests {
    @Test func streamsAreReproducibleAndDistinct() {
        var a = SplitMix64(seed: 42, stream: 3, 1), b = SplitMix64(seed: 42, stream: 3, 1)
        var c = SplitMix64(seed: 42, stream: 3, 2), d = SplitMix64(seed: 42, stream: 4, 1)
        let first = (0..<8).map { _ in a.next() }
        #expect(first == (0..<8).map { _ in b.next() })
        #expect(first != (0..<8).map { _ in c.next() })
        #expect(first != (0..<8).map { _ in d.next() })
    }

    @Test func categoricalFollowsTheWeights() {
        var rng = SplitMix64(seed: 1)
        var counts = [0, 0, 0, 0]
        let n = 40_000
        for _ in 0..<n { counts[rng.categorical([1, 0, 3, 4])] += 1 }
        #expect(counts[1] == 0)
        for (i, p) in [0.125, 0, 0.375, 0.5].enumerated() where p > 0 {
            #expect(abs(Double(counts[i]) / Double(n) - p) < 4 * (p * (1 - p) / Double(n)).squareRoot())
        }
    }

    @Test func normalsHaveUnitMoments() {
        var rng = SplitMix64(seed: 9)
        let n = 20_000
        var values: [Double] = []
        for _ in 0..<n / 2 {
            let (x, y) = rng.normalPair()
            values += [x, y]
        }
        for _ in 0..<n / 2 {
            let (x, y) = rng.normalPairFloat()
            values += [Double(x), Double(y)]
        }
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
        #expect(abs(mean) < 0.03)
        #expect(abs(variance - 1) < 0.05)
    }
}
