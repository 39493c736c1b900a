import Foundation

/// Tissue signal on (T1, STIR), relative to fat on T1.
private enum Tissue {
    static let fat = SIMD2<Float>(0.95, 0.08)
    static let muscle = SIMD2<Float>(0.35, 0.18)
    static let viscera = SIMD2<Float>(0.30, 0.32)
    static let csf = SIMD2<Float>(0.12, 0.95)
    static let cord = SIMD2<Float>(0.45, 0.42)
    static let flowVoid = SIMD2<Float>(0.06, 0.05)
    static let cortex = SIMD2<Float>(0.10, 0.07)
    static let marrow = SIMD2<Float>(0.62, 0.16)
    static let posterior = SIMD2<Float>(0.50, 0.15)
    static let annulus = SIMD2<Float>(0.30, 0.30)
    static let nucleus = SIMD2<Float>(0.38, 0.85)
    static let cue = SIMD2<Float>(0.85, 0.85)
    /// Change of marrow signal at full lesion contrast.
    static let oedema = SIMD2<Float>(-0.35, 0.60)
    static let fatLesion = SIMD2<Float>(0.30, -0.10)
}

/// Noise-free T1/STIR volumes and ground-truth labels, then scanner effects. Voxel `i` covers
/// `[i, i + 1) · spacing` in grid millimetres along each axis (its centre at `(i + 0.5) · spacing`).
struct PhantomRenderer {
    let shape: [Int]
    let spacing: SIMD3<Double>
    let sub: [Int]
    var signal: [SIMD2<Float>]
    var vertebra: [UInt8]
    var structure: [UInt8]

    init(recipe: PhantomRecipe) {
        shape = recipe.shape
        spacing = SIMD3(recipe.spacingMM[0], recipe.spacingMM[1], recipe.spacingMM[2])
        sub = recipe.supersampling
        let n = shape.reduce(1, *)
        signal = Array(repeating: .zero, count: n)
        vertebra = Array(repeating: 0, count: n)
        structure = Array(repeating: 0, count: n)
    }

    /// Local spacing for soft edges: D across the sagittal plane, the mean in-plane size along a and b.
    private var edgeSpacing: SIMD3<Double> {
        let inPlane = (spacing.y + spacing.z) / 2
        return SIMD3(spacing.x, inPlane, inPlane)
    }

    private func ramp(_ t: Double) -> Double { min(max(0.5 + t, 0), 1) }

    /// Soft-tissue background, canal, cord and aorta, row by row.
    mutating func paintBackground(_ anatomy: PhantomAnatomy) {
        let (nd, nh, nw) = (shape[0], shape[1], shape[2])
        for h in 0..<nh {
            let row = anatomy.rows[h]
            let cosA = cos(row.angle)
            let back = row.bodyDepth / 2 + anatomy.backOffsetMM
            let canalCentre = row.bodyDepth / 2 + 1.5 + row.canalAP / 2
            for d in 0..<nd {
                let x = (Double(d) + 0.5) * spacing.x - row.centreX
                for w in 0..<nw {
                    let u = ((Double(w) + 0.5) * spacing.z - row.centreZ) * cosA
                    let inside = ramp((back - u) / spacing.z)
                    let anterior = ramp((-row.bodyDepth / 2 - 8 - u) / 6)
                    var s = Tissue.muscle + Float(anterior) * (Tissue.viscera - Tissue.muscle)
                    s += Float(ramp((u - back + anatomy.fatMM) / spacing.z)) * (Tissue.fat - s)
                    s *= Float(inside)
                    let canal = ellipse(x, u - canalCentre, row.canalWidth / 2, row.canalAP / 2)
                    s += Float(canal) * (Tissue.csf - s)
                    if row.cord > 0 && abs(x) < 5 * row.cord + spacing.x {
                        s += Float(ellipse(x, u - canalCentre, 5 * row.cord, 4 * row.cord)) * (Tissue.cord - s)
                    }
                    if row.aorta && abs(x + 12) < 10 + spacing.x {
                        s += Float(ellipse(x + 12, u + row.bodyDepth / 2 + 16, 10, 10)) * (Tissue.flowVoid - s)
                    }
                    let i = (d * nh + h) * nw + w
                    signal[i] = s
                    if canal >= 0.5 { structure[i] = StructureLabel.spinalCanal.rawValue }
                }
            }
        }
    }

    /// Soft occupancy of an axis-aligned ellipse in (x along D, u across the spine).
    private func ellipse(_ x: Double, _ u: Double, _ rx: Double, _ ru: Double) -> Double {
        let f = ((x / rx) * (x / rx) + (u / ru) * (u / ru)).squareRoot()
        if f < 1e-9 { return 1 }
        let distance = ((x / spacing.x) * (x / spacing.x) + (u / spacing.z) * (u / spacing.z)).squareRoot() * (1 - 1 / f)
        return min(max(0.5 - distance, 0), 1)
    }

    /// Blends `tissue` into the voxels covered by the intersection of `shapes` (one or two); where the cover is at
    /// least a half, sets the structure (and vertebra) label.
    mutating func paint(_ shapes: [Superellipsoid], tissue: SIMD2<Float>,
                        structure label: StructureLabel?, level: UInt8? = nil) {
        let (lo, hi) = shapes[0].bounds
        let first = (0..<3).map { max(Int(floor(lo[$0] / spacing[$0] - 0.5)) - 1, 0) }
        let last = (0..<3).map { min(Int(ceil(hi[$0] / spacing[$0] - 0.5)) + 1, shape[$0] - 1) }
        guard (0..<3).allSatisfy({ first[$0] <= last[$0] }) else { return }
        let edge = edgeSpacing, outer = shapes[0], inner = shapes.dropFirst().first
        // Sub-sample centres in voxel units, relative to the voxel corner.
        var offsets: [SIMD3<Double>] = []
        for a in 0..<sub[0] { for b in 0..<sub[1] { for c in 0..<sub[2] {
            offsets.append((SIMD3(Double(a), Double(b), Double(c)) + 0.5) / SIMD3(Double(sub[0]), Double(sub[1]), Double(sub[2])))
        } } }
        for d in first[0]...last[0] {
            for h in first[1]...last[1] {
                for w in first[2]...last[2] {
                    var alpha = 0.0
                    for offset in offsets {
                        let p = (SIMD3(Double(d), Double(h), Double(w)) + offset) * spacing
                        let a = outer.occupancy(p, spacing: edge)
                        alpha += a > 0 ? min(a, inner?.occupancy(p, spacing: edge) ?? 1) : 0
                    }
                    alpha /= Double(offsets.count)
                    guard alpha > 0 else { continue }
                    let i = (d * shape[1] + h) * shape[2] + w
                    signal[i] += Float(alpha) * (tissue - signal[i])
                    if alpha >= 0.5 {
                        if let label { structure[i] = label.rawValue }
                        if let level { vertebra[i] = level }
                    }
                }
            }
        }
    }

    mutating func paintAnatomy(_ anatomy: PhantomAnatomy) {
        paintBackground(anatomy)
        for disc in anatomy.discs {
            paint([disc.shape], tissue: Tissue.annulus, structure: .intervertebralDisc)
            var nucleus = disc.shape
            nucleus.radii *= SIMD3(0.6, 0.55, 0.6)
            let tone = Tissue.annulus + Float(disc.hydration) * (Tissue.nucleus - Tissue.annulus)
            paint([nucleus], tissue: tone, structure: nil)
        }
        for v in anatomy.vertebrae {
            let id = UInt8(v.level.id)
            for rib in v.ribs { paint([rib], tissue: Tissue.posterior, structure: .rib) }
            for element in v.posterior {
                paint([element], tissue: Tissue.posterior, structure: .posteriorElements, level: id)
            }
            paint([v.body], tissue: Tissue.cortex, structure: .vertebralBody, level: id)
            var marrow = v.body
            marrow.radii -= 1.2
            let tone = Tissue.marrow * SIMD2(Float(v.marrowTone), 1)
            paint([marrow], tissue: tone, structure: nil)
            if !v.lesions.isEmpty {
                let change = (v.classIndex == 1 ? Tissue.oedema : Tissue.fatLesion) * Float(v.lesionContrast)
                for lesion in v.lesions {
                    paint([lesion, marrow], tissue: tone + change, structure: .lesion)
                }
            }
            if let cue = v.cue { paint([cue], tissue: Tissue.cue, structure: nil) }
        }
    }

    /// Scanner effects: per-channel scale, smooth multiplicative bias, Rician noise (`noiseSigma` times the recipe's
    /// `noiseScale` at its spacing). Returns `[C, D, H, W]`.
    func acquire(recipe: PhantomRecipe, rng: inout SplitMix64) -> [Float] {
        let n = signal.count
        let scales = (0..<2).map { _ in Float(rng.uniform(recipe.intensityScale)) }
        let sigma = Float(rng.uniform(recipe.noiseSigma) * recipe.noiseScale)
        // Separable bias: exp(strength · mean of one low-frequency cosine per axis), one factor per axis.
        let strength = log1p(recipe.biasStrength)
        let axes = (0..<3).map { a -> [Float] in
            let frequency = rng.uniform(0.3, 1.0), phase = rng.uniform(0, 2 * .pi), count = Double(shape[a])
            return (0..<shape[a]).map { Float(exp(strength * cos(2 * .pi * frequency * Double($0) / count + phase) / 3)) }
        }
        let noise = scales.map { sigma * $0 }
        var image = [Float](repeating: 0, count: 2 * n)
        var i = 0
        for d in 0..<shape[0] {
            for h in 0..<shape[1] {
                let bdh = axes[0][d] * axes[1][h]
                for w in 0..<shape[2] {
                    let clean = signal[i] * (bdh * axes[2][w]) * SIMD2(scales[0], scales[1])
                    let (n1, n2) = rng.normalPairFloat(), (n3, n4) = rng.normalPairFloat()
                    let re = clean + SIMD2(noise[0] * n1, noise[1] * n3), im = SIMD2(noise[0] * n2, noise[1] * n4)
                    let magnitude = (re * re + im * im).squareRoot()
                    image[i] = magnitude.x
                    image[n + i] = magnitude.y
                    i += 1
                }
            }
        }
        return image
    }
}
