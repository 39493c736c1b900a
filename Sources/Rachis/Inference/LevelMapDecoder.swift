/// Vertebrae read off the identification head's per-voxel level probabilities, each level on its own: a level is
/// detected where it wins the voxel-wise argmax on at least `minimumVoxels` voxels; its centroid is the
/// probability-weighted mean position of those voxels and its confidence their mean probability.
public struct LevelMapDecoder: Sendable {
    public struct Vertebra: Equatable, Sendable {
        public var levelID: Int
        public var centroidMM: [Double]
        public var confidence: Double
        public var voxels: Int
    }

    public var minimumVoxels: Int

    public init(minimumVoxels: Int = 20) { self.minimumVoxels = minimumVoxels }

    /// - Parameters:
    ///   - probabilities: `[LevelIndex.count, D, H, W]` softmax over levels (channel 0 background), C-ordered.
    ///   - geometry: the grid of the volume, for world coordinates.
    ///   - offset: the crop's origin [d, h, w] inside `geometry`'s grid.
    public func decode(probabilities: [Float], shape: [Int], geometry: Geometry, offset: [Int] = [0, 0, 0]) -> [Vertebra] {
        let k = LevelIndex.count
        let n = shape.reduce(1, *)
        precondition(probabilities.count == k * n, "expected \(k) x \(n) probabilities")
        var sums = [Double](repeating: 0, count: k)
        var counts = [Int](repeating: 0, count: k)
        var weighted = [[Double]](repeating: [0, 0, 0], count: k)
        for i in 0..<n {
            var best = 0
            var bestP = probabilities[i]
            for c in 1..<k where probabilities[c * n + i] > bestP {
                best = c
                bestP = probabilities[c * n + i]
            }
            guard best > 0 else { continue }
            let p = Double(bestP)
            let d = i / (shape[1] * shape[2]), h = (i / shape[2]) % shape[1], w = i % shape[2]
            sums[best] += p
            counts[best] += 1
            weighted[best][0] += p * Double(d + offset[0])
            weighted[best][1] += p * Double(h + offset[1])
            weighted[best][2] += p * Double(w + offset[2])
        }
        return (1..<k).compactMap { c in
            guard counts[c] >= minimumVoxels, let level = LevelIndex.levelID(ofIndex: c) else { return nil }
            let index = weighted[c].map { $0 / sums[c] }
            return Vertebra(levelID: level, centroidMM: geometry.worldMM(index: index), confidence: sums[c] / Double(counts[c]), voxels: counts[c])
        }
    }
}
