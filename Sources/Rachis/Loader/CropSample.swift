import Foundation

/// One sample being prepared: a crop `[D, H, W]` of a subject's volumes, in crop coordinates, with a field-of-view
/// mask (0 in padding) and the vertebra centroids moved along with every spatial change.
struct CropSample {
    let layout: SubjectLayout
    /// Crop origin in the subject's voxels (negative where the crop pads before the volume).
    let offset: [Int]
    let size: [Int]
    var image: [Float]
    var vertebraLabels: [UInt8]
    var vertebraKnown: [UInt8]
    var structureLabels: [UInt8]
    var structureKnown: [UInt8]
    var fieldOfView: [UInt8]
    /// Per table row: centroid as a continuous crop voxel index, nil when not annotated.
    var centroids: [[Double]?]
    /// Per rater: structure labels (empty unless asked for and the subject has raters).
    var raterStructures: [[UInt8]] = []
    /// Per `layout.structureDescriptors` entry: its centroid as a continuous crop voxel index, moved with the crop.
    var descriptorCentroids: [[Double]]

    var voxelCount: Int { size.reduce(1, *) }
    var channels: Int { image.count / voxelCount }

    /// Reads the part of the crop that lies inside the volume with hyperslabs and pads the rest.
    /// - Parameter raters: also read the raters' structure labels.
    init(reader: DatasetReader, layout: SubjectLayout, offset: [Int], size: [Int], raters: Bool = false) throws {
        (self.layout, self.offset, self.size) = (layout, offset, size)
        let shape = layout.shape, n = size.reduce(1, *)
        let lo = (0..<3).map { max(offset[$0], 0) }, hi = (0..<3).map { min(offset[$0] + size[$0], shape[$0]) }
        let inner = (0..<3).map { hi[$0] - lo[$0] }
        guard inner.allSatisfy({ $0 > 0 }) else {
            throw LoaderError.sampleFailed(subject: layout.id, message: "crop at \(offset) of size \(size) misses the volume \(shape)")
        }
        let id = layout.id
        let channelCrop = try reader.imageCrop(id, offset: lo, size: inner)
        let channels = channelCrop.count / inner.reduce(1, *)
        func place<T: Numeric>(_ values: [T], channels: Int) -> [T] {
            var out = [T](repeating: 0, count: channels * n)
            var i = 0
            for c in 0..<channels {
                for d in 0..<inner[0] {
                    for h in 0..<inner[1] {
                        let start = ((c * size[0] + d + lo[0] - offset[0]) * size[1] + h + lo[1] - offset[1]) * size[2] + lo[2] - offset[2]
                        for w in 0..<inner[2] { out[start + w] = values[i + w] }
                        i += inner[2]
                    }
                }
            }
            return out
        }
        image = place(channelCrop, channels: channels)
        vertebraLabels = place(try reader.volumeCrop(id, "labels/vertebrae", offset: lo, size: inner), channels: 1)
        vertebraKnown = place(try reader.volumeCrop(id, "annotated/vertebrae", offset: lo, size: inner), channels: 1)
        structureLabels = place(try reader.volumeCrop(id, "labels/structures", offset: lo, size: inner), channels: 1)
        structureKnown = place(try reader.volumeCrop(id, "annotated/structures", offset: lo, size: inner), channels: 1)
        fieldOfView = place([UInt8](repeating: 1, count: inner.reduce(1, *)), channels: 1)
        centroids = layout.vertebrae.map { record in
            record.centroidMM.map { c in zip(layout.geometry.index(worldMM: c), offset).map { $0 - Double($1) } }
        }
        if raters {
            raterStructures = try (0..<layout.raterCount).map { r in
                place(try reader.volumeCrop(id, "raters/\(r)/structures", offset: lo, size: inner), channels: 1)
            }
        }
        let spacing = layout.geometry.spacingMM
        descriptorCentroids = layout.structureDescriptors.map { d in
            (0..<3).map { d.values[ShapeDescriptors.Component.centroidD.rawValue + $0] / spacing[$0] - Double(offset[$0]) }
        }
    }

    // MARK: Spatial augmentation

    /// Flips along D (left-right) and/or rotates by `angle` radians in the sagittal H–W plane about the crop centre,
    /// in millimetres (so anisotropic in-plane spacing stays a rotation). The image is resampled bilinearly, labels and
    /// masks by nearest neighbour; voxels that come from outside the crop are padding (image 0, labels unknown).
    mutating func transform(flip: Bool, angle: Double) {
        guard flip || angle != 0 else { return }
        let (sd, sh, sw) = (size[0], size[1], size[2])
        let plane = sh * sw, n = voxelCount, channels = channels
        let spacing = layout.geometry.spacingMM
        // Each output (h, w) reads the same in-plane source positions in every slice (the rotation is in the H–W
        // plane), so the nearest neighbour and the four bilinear taps are found once per plane position: the inverse
        // rotation of (h, w); a tap outside the crop gets weight 0; an output whose nearest neighbour is outside
        // stays padding.
        var nearest = [Int](repeating: -1, count: plane)
        var taps = [Int](repeating: 0, count: 4 * plane), weights = [Float](repeating: 0, count: 4 * plane)
        for h in 0..<sh {
            for w in 0..<sw {
                let q = h * sw + w
                let (y, x) = rotate(h: Double(h), w: Double(w), by: -angle, spacing: spacing)
                let (nh, nw) = (Int(y.rounded()), Int(x.rounded()))
                guard nh >= 0, nh < sh, nw >= 0, nw < sw else { continue }
                nearest[q] = nh * sw + nw
                let (h0, w0) = (Int(y.rounded(.down)), Int(x.rounded(.down)))
                let (fy, fx) = (Float(y - Double(h0)), Float(x - Double(w0)))
                for (k, (dh, wy, dw, wx)) in [(0, 1 - fy, 0, 1 - fx), (0, 1 - fy, 1, fx), (1, fy, 0, 1 - fx), (1, fy, 1, fx)].enumerated()
                where h0 + dh >= 0 && h0 + dh < sh && w0 + dw >= 0 && w0 + dw < sw {
                    (taps[4 * q + k], weights[4 * q + k]) = ((h0 + dh) * sw + w0 + dw, wy * wx)
                }
            }
        }
        func resample<T>(_ source: [T], _ count: Int, zero: T, _ value: (UnsafeBufferPointer<T>, Int, Int) -> T) -> [T] {
            var out = [T](repeating: zero, count: source.count)
            source.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    for c in 0..<count {
                        for d in 0..<sd {
                            let (from, to) = (c * n + (flip ? sd - 1 - d : d) * plane, c * n + d * plane)
                            for q in 0..<plane where nearest[q] >= 0 { dst[to + q] = value(src, from, q) }
                        }
                    }
                }
            }
            return out
        }
        let image = taps.withUnsafeBufferPointer { t in
            weights.withUnsafeBufferPointer { wt in
                resample(self.image, channels, zero: Float(0)) { src, from, q in
                    let k = 4 * q
                    return wt[k] * src[from + t[k]] + wt[k + 1] * src[from + t[k + 1]]
                        + wt[k + 2] * src[from + t[k + 2]] + wt[k + 3] * src[from + t[k + 3]]
                }
            }
        }
        let volumes = ([vertebraLabels, vertebraKnown, structureLabels, structureKnown, fieldOfView] + raterStructures).map {
            resample($0, 1, zero: UInt8(0)) { src, from, q in src[from + nearest[q]] }
        }
        self.image = image
        (vertebraLabels, vertebraKnown, structureLabels, structureKnown, fieldOfView) = (volumes[0], volumes[1], volumes[2], volumes[3], volumes[4])
        raterStructures = Array(volumes[5...])
        func move(_ c: [Double]) -> [Double] {
            let p = rotate(h: c[1], w: c[2], by: angle, spacing: spacing)
            return [flip ? Double(sd - 1) - c[0] : c[0], p.h, p.w]
        }
        centroids = centroids.map { $0.map(move) }
        descriptorCentroids = descriptorCentroids.map(move)
    }

    /// Rotates the crop voxel position (h, w) about the crop centre by `angle` radians, in millimetre space.
    private func rotate(h: Double, w: Double, by angle: Double, spacing: [Double]) -> (h: Double, w: Double) {
        let (ch, cw) = (Double(size[1] - 1) / 2, Double(size[2] - 1) / 2)
        let (y, x) = ((h - ch) * spacing[1], (w - cw) * spacing[2])
        let (c, s) = (cos(angle), sin(angle))
        return ((c * y - s * x) / spacing[1] + ch, (s * y + c * x) / spacing[2] + cw)
    }

    // MARK: Intensities

    /// Gaussian blur of every channel by `sigma` voxels along each axis, within the field of view: a normalised
    /// convolution (the blurred image over the blurred field-of-view mask), so padding neither leaks in nor changes.
    /// The smoothing is the decoder's heatmap smoothing (`VertebraDecoder.smooth`: separable, cut at 3 sigma); its
    /// renormalisation at the crop's faces is the same in both terms of the ratio and cancels. A resampled finer scan
    /// or a smoother scanner looks like this: the noise shrinks and so do the bright tails a maximum reads
    /// (docs/resampling.md).
    mutating func blur(sigma: Double) {
        guard sigma > 0 else { return }
        let n = voxelCount, sigmas = [sigma, sigma, sigma]
        let fov = fieldOfView.map(Float.init)
        let weight = VertebraDecoder.smooth(fov, shape: size, sigmaVoxels: sigmas)
        for c in 0..<channels {
            let masked = (0..<n).map { fov[$0] * image[c * n + $0] }
            let blurred = VertebraDecoder.smooth(masked, shape: size, sigmaVoxels: sigmas)
            for i in 0..<n where fov[i] != 0 { image[c * n + i] = blurred[i] / weight[i] }
        }
    }

    /// Per channel over the field of view: z-score (when asked), gamma on the [0, 1]-rescaled range, scale, shift and
    /// Gaussian noise. Padding stays 0.
    mutating func adjustIntensities(zscore: Bool, gamma: Double, scale: Double, shift: Double, noiseSigma: Double, rng: inout SplitMix64) {
        let n = voxelCount
        let inside = fieldOfView.withUnsafeBufferPointer { fov in (0..<n).filter { fov[$0] != 0 } }
        guard !inside.isEmpty else { return }
        if zscore { Intensity.zscore(&image, channels: channels, inside: inside) }
        let channels = channels
        image.withUnsafeMutableBufferPointer { image in
            inside.withUnsafeBufferPointer { inside in
                for c in 0..<channels {
                    let base = c * n
                    if gamma != 1 {
                        var (lo, hi) = (image[base + inside[0]], image[base + inside[0]])
                        for i in inside { (lo, hi) = (Swift.min(lo, image[base + i]), Swift.max(hi, image[base + i])) }
                        if hi > lo {
                            for i in inside { image[base + i] = lo + (hi - lo) * powf((image[base + i] - lo) / (hi - lo), Float(gamma)) }
                        }
                    }
                    if scale != 1 || shift != 0 {
                        for i in inside { image[base + i] = image[base + i] * Float(scale) + Float(shift) }
                    }
                    if noiseSigma > 0 {
                        var k = 0
                        while k < inside.count {
                            let (a, b) = rng.normalPairFloat()
                            image[base + inside[k]] += Float(noiseSigma) * a
                            if k + 1 < inside.count { image[base + inside[k + 1]] += Float(noiseSigma) * b }
                            k += 2
                        }
                    }
                }
            }
        }
    }

    // MARK: Targets

    /// max over annotated centroids of exp(−|x − c|² / (2σ²)), distances in millimetres; exactly 0 where every
    /// Gaussian is below 1e-4.
    func heatmap(sigmaMM: Double) -> [Float] {
        var out = [Float](repeating: 0, count: voxelCount)
        let spacing = layout.geometry.spacingMM
        let radiusMM = sigmaMM * (2 * log(1e4)).squareRoot()
        for c in centroids.compactMap({ $0 }) {
            let lo = (0..<3).map { max(0, Int((c[$0] - radiusMM / spacing[$0]).rounded(.down))) }
            let hi = (0..<3).map { min(size[$0] - 1, Int((c[$0] + radiusMM / spacing[$0]).rounded(.up))) }
            guard (0..<3).allSatisfy({ lo[$0] <= hi[$0] }) else { continue }
            for d in lo[0]...hi[0] {
                let dd = pow((Double(d) - c[0]) * spacing[0], 2)
                for h in lo[1]...hi[1] {
                    let dh = dd + pow((Double(h) - c[1]) * spacing[1], 2)
                    for w in lo[2]...hi[2] {
                        let r2 = dh + pow((Double(w) - c[2]) * spacing[2], 2)
                        guard r2 <= radiusMM * radiusMM else { continue }
                        let i = (d * size[1] + h) * size[2] + w
                        out[i] = max(out[i], Float(exp(-r2 / (2 * sigmaMM * sigmaMM))))
                    }
                }
            }
        }
        return out
    }

    /// One target per table row at least partly inside the crop (rows without a known position are always listed).
    func vertebraTargets(sample: Int, classCount: Int) -> [VertebraTarget] {
        var count = [Int](repeating: 0, count: 256), touchesEdge = [Bool](repeating: false, count: 256)
        let rows = size[1], columns = size[2]
        for i in vertebraLabels.indices where vertebraKnown[i] != 0 && vertebraLabels[i] != 0 {
            let l = Int(vertebraLabels[i]), h = (i / columns) % rows
            count[l] += 1
            if h == 0 || h == rows - 1 { touchesEdge[l] = true }
        }
        let wholeVolume = (0..<3).allSatisfy { offset[$0] <= 0 && offset[$0] + size[$0] >= layout.shape[$0] }
        return layout.vertebrae.indices.compactMap { row in
            let record = layout.vertebrae[row], level = record.level.id
            let box = layout.boxes[row]
            let hasRegion = count[level] > 0
            guard hasRegion || box.map({ $0.intersects(offset: offset, size: size) }) ?? true else { return nil }
            let insideCrop = box.map { $0.isInside(offset: offset, size: size) } ?? wholeVolume
            let votes = record.raterClasses.filter { $0 >= 0 }
            let softClass: [Double]? = votes.isEmpty ? nil : (0..<classCount).map { c in
                Double(votes.filter { $0 == c }.count) / Double(votes.count)
            }
            return VertebraTarget(sample: sample, levelID: level, classIndex: record.classIndex, softClass: softClass,
                                  centroidVoxel: centroids[row], hasRegion: hasRegion,
                                  isCut: record.cutByFieldOfView || touchesEdge[level] || !insideCrop)
        }
    }
}
