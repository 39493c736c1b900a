import Foundation

/// A rounded box or ellipsoid, `(|x/rx|^p + |a/ra|^p + |b/rb|^p)^(1/p) ≤ 1`, in a frame tilted in the
/// sagittal plane. Positions are grid millimetres: X along D (right), Y along H (inferior), Z along W
/// (posterior); `a` runs along the spine (inferior), `b` across it (posterior).
struct Superellipsoid: Sendable {
    var centre: SIMD3<Double>
    /// Tilt of the `a` axis from +Y toward +Z, radians.
    let angle: Double
    var radii: SIMD3<Double>
    var exponent: Double
    private let c: Double, s: Double

    init(centre: SIMD3<Double>, angle: Double, radii: SIMD3<Double>, exponent: Double) {
        self.centre = centre
        self.angle = angle
        self.radii = radii
        self.exponent = exponent
        (c, s) = (cos(angle), sin(angle))
    }

    func local(_ p: SIMD3<Double>) -> SIMD3<Double> {
        let d = p - centre
        return SIMD3(d.x, d.y * c + d.z * s, -d.y * s + d.z * c)
    }

    /// Grid-mm point of local coordinates `(x, a, b)`.
    func world(_ q: SIMD3<Double>) -> SIMD3<Double> {
        centre + SIMD3(q.x, q.y * c - q.z * s, q.y * s + q.z * c)
    }

    /// Fraction of a voxel inside, with a linear ramp one voxel wide (`spacing` in mm per X, a, b).
    func occupancy(_ p: SIMD3<Double>, spacing: SIMD3<Double>) -> Double {
        let q = local(p), r = q / radii
        let n = SIMD3(Swift.abs(r.x), Swift.abs(r.y), Swift.abs(r.z))
        let f: Double
        switch exponent {
        case 2: f = (n * n).sum().squareRoot()
        case 4:
            let n2 = n * n
            f = (n2 * n2).sum().squareRoot().squareRoot()
        default: f = pow(pow(n.x, exponent) + pow(n.y, exponent) + pow(n.z, exponent), 1 / exponent)
        }
        if f < 1e-9 { return 1 }
        let distance = ((q / spacing) * (q / spacing)).sum().squareRoot() * (1 - 1 / f)
        return min(max(0.5 - distance, 0), 1)
    }

    /// Bounding box in grid mm: (min, max).
    var bounds: (SIMD3<Double>, SIMD3<Double>) {
        var lo = SIMD3(repeating: Double.infinity), hi = -lo
        for corner in 0..<8 {
            let sign = SIMD3<Double>((0..<3).map { corner >> $0 & 1 == 0 ? -1 : 1 })
            let p = world(radii * sign)
            lo = pointwiseMin(lo, p)
            hi = pointwiseMax(hi, p)
        }
        return (lo, hi)
    }
}

struct PhantomVertebra: Sendable {
    var level: VertebraLevel
    var body: Superellipsoid
    var posterior: [Superellipsoid]
    /// Rib necks beside a thoracic body (unlabelled bone), empty elsewhere.
    var ribs: [Superellipsoid] = []
    var classIndex: Int
    var lesions: [Superellipsoid]
    var lesionContrast: Double
    /// Shortcut cue in front of the body, if drawn.
    var cue: Superellipsoid?
    var marrowTone: Double
}

struct PhantomDisc: Sendable {
    var shape: Superellipsoid
    var hydration: Double
}

/// The spine at one row of the grid (one H index): where the centreline crosses it and how big things are.
struct PhantomRow: Sendable {
    var centreZ: Double
    var centreX: Double
    var angle: Double
    var bodyDepth: Double
    var canalAP: Double
    var canalWidth: Double
    /// Cord radius scale: 1 above the conus, tapering to 0 below it.
    var cord: Double
    var aorta: Bool
}

/// The whole layout of one subject: vertebrae, discs, per-row spine data, soft-tissue sizes.
struct PhantomAnatomy: Sendable {
    var vertebrae: [PhantomVertebra]
    var discs: [PhantomDisc]
    var rows: [PhantomRow]
    var backOffsetMM: Double
    var fatMM: Double

    /// Body (height, depth, width), disc height below, canal (AP, width), in mm, for a level.
    static func dimensions(_ level: VertebraLevel) -> (height: Double, depth: Double, width: Double,
                                                       disc: Double, canalAP: Double, canalWidth: Double) {
        switch level.id {
        case 1...7:
            let k = Double(level.id)
            return (11 + 0.4 * k, 14 + 0.3 * k, 17 + 1.2 * k, 4.5, 14, 22)
        case 8...19, 28:
            let k = Double(level.id == 28 ? 13 : level.id - 7)
            return (15 + 0.8 * k, 16 + 1.3 * k, 25 + 1.4 * k, 3.5 + 0.3 * k, 13, 17)
        case 20...25:
            let k = Double(level.id - 19)
            return (24 + 0.6 * min(k, 5), 31 + 0.9 * min(k, 5), 40 + 1.5 * min(k, 5), 8.5 + 0.5 * k, 16, 22)
        default:
            return (42, 32, 46, 0, 14, 22)
        }
    }

    /// Pedicles (either side of the canal) and a spinous process pointing posteriorly and caudally.
    static func posteriorElements(of body: Superellipsoid, level: VertebraLevel, scale: Double) -> [Superellipsoid] {
        let dim = dimensions(level), radii = body.radii, angle = body.angle
        let canal = scale * dim.canalAP, wing = 0.3 * radii.x + 0.25 * scale * dim.canalWidth
        let pedicles = [-1.0, 1].map { side in
            Superellipsoid(centre: body.world(SIMD3(side * wing, -0.1 * radii.y, radii.z + canal / 2)),
                           angle: angle, radii: SIMD3(3.5, 0.35 * radii.y, canal / 2 + 2), exponent: 2)
        }
        let length = scale * (level.region == .cervical ? 14 : level.region == .thoracic ? 24 : 26)
        let tilt = angle - (level.region == .thoracic ? 0.7 : 0.3)
        let base = body.world(SIMD3(0, 0.1 * radii.y, radii.z + 1.5 + canal))
        let spinous = Superellipsoid(centre: base + (length / 2) * SIMD3(0, -sin(tilt), cos(tilt)), angle: tilt,
                                     radii: SIMD3(4, 0.35 * radii.y, length / 2 + 1), exponent: 4)
        return pedicles + [spinous]
    }

    /// A rib on either side of a thoracic body: from the costovertebral joint at the body's posterolateral corner,
    /// running laterally (along X) and slightly posteriorly, 30 mm long (cut by the field of view's sides) or, at
    /// T13, a rudimentary pair 10 mm long.
    static func ribs(of body: Superellipsoid, level: VertebraLevel, scale: Double) -> [Superellipsoid] {
        guard level.region == .thoracic else { return [] }
        let length = scale * (level.id == 28 ? 10 : 30), radii = body.radii
        return [-1.0, 1].map { side in
            Superellipsoid(centre: body.world(SIMD3(side * (radii.x + 1 + length / 2), 0, 0.55 * radii.z)),
                           angle: body.angle, radii: SIMD3(length / 2, 3.5 * scale, 4.5 * scale), exponent: 2)
        }
    }

    /// SpA lesions at the body's corners: anterior (more often) or posterior, superior or inferior.
    static func cornerLesions(in body: Superellipsoid, recipe: PhantomRecipe, rng: inout SplitMix64) -> [Superellipsoid] {
        let (low, high) = (recipe.lesionsPerVertebra[0], recipe.lesionsPerVertebra[1])
        let count = low + Int(rng.unit() * Double(high - low + 1))
        return (0..<count).map { _ in
            let ap: Double = rng.bernoulli(0.75) ? -1 : 1, si: Double = rng.bernoulli(0.5) ? -1 : 1
            let radius = rng.uniform(recipe.lesionRadiusMM)
            let corner = SIMD3(rng.uniform(-0.3, 0.3) * body.radii.x, si * (body.radii.y - 0.6 * radius),
                               ap * (body.radii.z - 0.6 * radius))
            return Superellipsoid(centre: body.world(corner), angle: body.angle,
                                  radii: SIMD3(radius * rng.uniform(1.5, 2.5), radius, radius), exponent: 2)
        }
    }

    static func make(recipe: PhantomRecipe, rng: inout SplitMix64) -> PhantomAnatomy {
        // Level sequence with transitional anatomy.
        var ids = Array(1...19)
        let r = rng.unit(), rate = recipe.transitionalRate
        if r < rate / 3 { ids.append(28) }
        ids += Array(20...24)
        if r >= rate / 3 && r < 2 * rate / 3 { ids.append(25) }
        if r >= 2 * rate / 3 && r < rate { ids.removeLast() }
        ids.append(26)
        let levels = ids.map { try! VertebraLevel(id: $0) }
        let scale = rng.uniform(0.92, 1.08)

        // Arc length along the spine (mm from the top of C1) of each body centre and disc centre.
        var sBody: [Double] = [], sDisc: [Double] = [], s = 0.0
        for level in levels {
            let dim = dimensions(level)
            sBody.append(s + scale * dim.height / 2)
            s += scale * dim.height
            sDisc.append(s + scale * dim.disc / 2)
            s += scale * dim.disc
        }
        let total = s
        let index = { (id: Int) in levels.firstIndex { $0.id == id }! }
        let lastThoracic = levels.lastIndex { $0.region == .thoracic }!
        // Tangent angle: lordosis turns the tangent posteriorly going down (+), kyphosis anteriorly (−).
        let ramps: [(Double, Double, Double)] = [
            (sBody[index(2)], sBody[index(8)], 35 * rng.uniform(recipe.curvatureScale)),
            (sBody[index(9)], sBody[lastThoracic], -45 * rng.uniform(recipe.curvatureScale)),
            (sBody[lastThoracic + 1], sBody[levels.count - 1], 55 * rng.uniform(recipe.curvatureScale)),
        ]
        func tangentAngle(_ s: Double) -> Double {
            ramps.reduce(0.0) { sum, ramp in
                sum + ramp.2 * .pi / 180 * min(max((s - ramp.0) / (ramp.1 - ramp.0), 0), 1)
            }
        }
        let step = 0.5
        var points: [SIMD2<Double>] = [SIMD2(0, 0)], angles: [Double] = [tangentAngle(0)]
        for i in 1...Int(total / step) + 1 {
            let theta = tangentAngle(Double(i) * step - step / 2)
            points.append(points[i - 1] + step * SIMD2(cos(theta), sin(theta)))
            angles.append(tangentAngle(Double(i) * step))
        }
        func at(_ s: Double) -> (SIMD2<Double>, Double) {
            let i = min(max(Int((s / step).rounded()), 0), points.count - 1)
            return (points[i], angles[i])
        }

        // Field of view: a level near the centre, the spine turned upright there, with jitter.
        let g = recipe.shape.indices.map { Double(recipe.shape[$0]) * recipe.spacingMM[$0] }
        let lo = try! VertebraLevel(name: recipe.fovCenterLevels[0]), hi = try! VertebraLevel(name: recipe.fovCenterLevels[1])
        let candidates = levels.indices.filter { levels[$0] >= min(lo, hi) && levels[$0] <= max(lo, hi) }
        let centreIndex = candidates.isEmpty ? index(22) : candidates[Int(rng.unit() * Double(candidates.count))]
        let (pivot, pivotAngle) = at(sBody[centreIndex])
        let rotation = -pivotAngle + rng.uniform(-5, 5) * .pi / 180
        let dimC = dimensions(levels[centreIndex])
        let target = SIMD2(g[1] / 2 + rng.uniform(-0.6, 0.6) * scale * (dimC.height + dimC.disc),
                           g[2] * rng.uniform(0.3, 0.38))
        let centreX = g[0] / 2 + rng.uniform(-4, 4)
        func place(_ s: Double) -> (SIMD2<Double>, Double) {
            let (p, a) = at(s), d = p - pivot, c = cos(rotation), sn = sin(rotation)
            return (target + SIMD2(d.x * c - d.y * sn, d.x * sn + d.y * c), a + rotation)
        }

        // Vertebrae, with classes, lesions and cues.
        let prevalence = recipe.classPrevalence
        var vertebrae: [PhantomVertebra] = [], discs: [PhantomDisc] = []
        for (i, level) in levels.enumerated() {
            let dim = dimensions(level)
            let (p, angle) = place(sBody[i])
            let isSacrum = level.id == 26
            let radii = scale * SIMD3(dim.width / 2, dim.height / 2, dim.depth / 2)
            let body = Superellipsoid(centre: SIMD3(centreX, p.x, p.y), angle: angle + (isSacrum ? 0.35 : 0),
                                      radii: radii, exponent: isSacrum ? 2 : 4)
            let posterior = recipe.posteriorElements && !isSacrum ? posteriorElements(of: body, level: level, scale: scale) : []
            let classIndex = isSacrum ? 0 : rng.categorical(prevalence)
            let lesions = classIndex == 0 ? [] : cornerLesions(in: body, recipe: recipe, rng: &rng)
            var cue: Superellipsoid?
            if recipe.shortcut && !isSacrum {
                let agrees = rng.bernoulli(recipe.shortcutStrength)
                if (classIndex != 0) == agrees {
                    cue = Superellipsoid(centre: body.world(SIMD3(0, 0, -radii.z - 7)), angle: angle,
                                         radii: SIMD3(6, 3.5, 3.5), exponent: 2)
                }
            }
            vertebrae.append(PhantomVertebra(
                level: level, body: body, posterior: posterior, ribs: recipe.ribs ? ribs(of: body, level: level, scale: scale) : [],
                classIndex: classIndex, lesions: lesions,
                lesionContrast: rng.uniform(recipe.lesionContrast), cue: cue, marrowTone: rng.uniform(0.92, 1.08)))
            if i + 1 < levels.count {
                let (q, discAngle) = place(sDisc[i])
                let next = dimensions(levels[i + 1])
                let discRadii = scale * SIMD3(min(dim.width, next.width) / 2 * 0.96, dim.disc / 2 + 1.2,
                                              min(dim.depth, next.depth) / 2 * 0.97)
                discs.append(PhantomDisc(
                    shape: Superellipsoid(centre: SIMD3(centreX, q.x, q.y), angle: discAngle, radii: discRadii, exponent: 4),
                    hydration: rng.bernoulli(0.2) ? rng.uniform(0.1, 0.5) : rng.uniform(0.7, 1)))
            }
        }

        // Per-row spine data: find the arc length whose placed point crosses each row.
        let conus = sBody[index(20)] + scale * 15
        let aortaRange = sBody[index(11)]...sBody[index(23)]
        var rows: [PhantomRow] = [], sCursor = 0.0
        for h in 0..<recipe.shape[1] {
            let y = (Double(h) + 0.5) * recipe.spacingMM[1]
            while sCursor < total && place(sCursor).0.x < y { sCursor += step }
            let (p, angle) = place(sCursor)
            // Sizes interpolated between the two nearest body centres.
            let j = min(max((sBody.lastIndex { $0 <= sCursor } ?? 0), 0), sBody.count - 2)
            let t = min(max((sCursor - sBody[j]) / (sBody[j + 1] - sBody[j]), 0), 1)
            let (a, b) = (dimensions(levels[j]), dimensions(levels[j + 1]))
            let mix = { (u: Double, v: Double) in scale * (u + t * (v - u)) }
            rows.append(PhantomRow(
                centreZ: p.y + (y - p.x) * tan(angle), centreX: centreX, angle: angle,
                bodyDepth: mix(a.depth, b.depth),
                canalAP: mix(a.canalAP, b.canalAP), canalWidth: mix(a.canalWidth, b.canalWidth),
                cord: min(max((conus - sCursor) / 20, 0), 1).squareRoot(), aorta: aortaRange.contains(sCursor)))
        }
        return PhantomAnatomy(vertebrae: vertebrae, discs: discs, rows: rows,
                              backOffsetMM: rng.uniform(35, 50), fatMM: rng.uniform(6, 16))
    }
}
