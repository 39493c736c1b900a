import Foundation

/// A sagittal slice of one image channel on the canonical PIR grid (`[D, H, W]`: the slice `image[c, d]` shows the head
/// up and anterior left), greyscale-windowed, scaled up with its H/W spacing kept (nearest neighbour), with vertebra
/// regions overlaid in their class colour, region outlines, and the centroids marked with their level names.
public struct SagittalView: Sendable {
    public typealias RGB = ClassPalette.RGB

    /// A centroid marker: a continuous voxel index `(h, w)` and its label.
    public struct Marker: Sendable {
        public var h: Double
        public var w: Double
        public var label: String
        public init(h: Double, w: Double, label: String) { (self.h, self.w, self.label) = (h, w, label) }
    }

    /// Output pixels per millimetre.
    public var pixelsPerMM: Double
    /// Opacity of the region fill over the greyscale image.
    public var fillAlpha: Double = 0.4
    /// Opacity of the fill on channels where the signal inside the vertebra is the point (`showsLesions`).
    public var lightFillAlpha: Double = 0.12
    /// Outline thickness in output pixels.
    public var outlineWidth = 2
    /// The font scale of marker labels.
    public var labelScale = 2

    public init(pixelsPerMM: Double = 3) { self.pixelsPerMM = pixelsPerMM }

    /// The same view with the light fill: the outlines in the class colour keep the decision readable, and the grey
    /// level inside the vertebra (a lesion's bright signal) stays visible.
    public var lighter: SagittalView {
        var view = self
        view.fillAlpha = lightFillAlpha
        return view
    }

    /// Whether channel `index` named `name` is drawn with the light fill: every channel after the first (the first is
    /// the anatomical one, T1 in the phantoms), and any whose name says it is fluid-sensitive (STIR, TIRM, T2), where
    /// bone-marrow oedema, the lesion signal, is bright.
    public static func showsLesions(channel index: Int, name: String) -> Bool {
        let upper = name.uppercased()
        return index > 0 || ["STIR", "TIRM", "T2"].contains { upper.contains($0) }
    }

    /// The D index of the mid-sagittal slice: the one through the median of the centroids' `d`, or the volume's
    /// centre when there are none.
    public static func sliceIndex(centroidsD: [Double], depth: Int) -> Int {
        let finite = centroidsD.filter(\.isFinite).sorted()
        guard !finite.isEmpty else { return depth / 2 }
        let n = finite.count
        let median = n % 2 == 1 ? finite[n / 2] : (finite[n / 2 - 1] + finite[n / 2]) / 2
        return Swift.min(Swift.max(Int(median.rounded()), 0), depth - 1)
    }

    /// The 1st and 99th percentiles of `values` (linear interpolation; an evenly strided sample of at most
    /// `maximumSample` values for large volumes); `high > low` always.
    public static func window(_ values: ArraySlice<Float>, maximumSample: Int = 1 << 21) -> (low: Float, high: Float) {
        let stride = Swift.max(1, (values.count + maximumSample - 1) / maximumSample)
        var sample: [Float] = []
        sample.reserveCapacity(values.count / stride + 1)
        var i = values.startIndex
        while i < values.endIndex {
            if values[i].isFinite { sample.append(values[i]) }
            i += stride
        }
        guard !sample.isEmpty else { return (0, 1) }
        sample.sort()
        func percentile(_ q: Double) -> Float {
            let position = q * Double(sample.count - 1)
            let lower = Int(position.rounded(.down)), upper = Swift.min(lower + 1, sample.count - 1)
            let t = Float(position - Double(lower))
            return sample[lower] + (sample[upper] - sample[lower]) * t
        }
        let low = percentile(0.01), high = percentile(0.99)
        return high > low ? (low, high) : (low, low + 1)
    }

    /// The output size for a `[H, W]` slice with spacing `(h, w)` in mm.
    public func size(height: Int, width: Int, spacingMM: (h: Double, w: Double)) -> (width: Int, height: Int) {
        (Swift.max(1, Int((Double(width) * spacingMM.w * pixelsPerMM).rounded())),
         Swift.max(1, Int((Double(height) * spacingMM.h * pixelsPerMM).rounded())))
    }

    /// The output pixel at the centre of a continuous voxel position `(h, w)`.
    public func pixel(h: Double, w: Double, spacingMM: (h: Double, w: Double)) -> (x: Int, y: Int) {
        (Int(((w + 0.5) * spacingMM.w * pixelsPerMM).rounded(.down)), Int(((h + 0.5) * spacingMM.h * pixelsPerMM).rounded(.down)))
    }

    /// The blend of a grey level with a region colour, as the fill draws it.
    public func blend(grey: UInt8, _ colour: RGB) -> RGB {
        func mix(_ c: UInt8) -> UInt8 { UInt8((Double(grey) * (1 - fillAlpha) + Double(c) * fillAlpha).rounded()) }
        return (mix(colour.0), mix(colour.1), mix(colour.2))
    }

    /// Renders slice `d` of a `[D, H, W]` channel (`channel`, windowed to `window`) with the `[D, H, W]` label map
    /// `labels` overlaid: label `l` drawn in `colours[l]` (labels without a colour are left grey), then `markers`.
    ///
    /// With `heat` (`[D, H, W]` in [0, 1], an attribution heat map) the regions are only outlined, and the heat is
    /// laid over the grey image in a black-red-yellow scale, more opaque where hotter (below 0.05: not drawn).
    public func render(channel: ArraySlice<Float>, labels: [UInt8]?, shape: [Int], spacingMM: [Double], slice d: Int,
                       window: (low: Float, high: Float), colours: [UInt8: RGB], markers: [Marker], heat: [Float]? = nil) -> RGBImage {
        let (depth, height, width) = (shape[0], shape[1], shape[2])
        precondition(channel.count == depth * height * width && (0..<depth).contains(d), "slice outside the volume")
        let spacing = (h: spacingMM[1], w: spacingMM[2])
        let (outWidth, outHeight) = size(height: height, width: width, spacingMM: spacing)
        var image = RGBImage(width: outWidth, height: outHeight, fill: (0, 0, 0))
        // Output pixel -> voxel row / column (nearest neighbour).
        let rowOf = (0..<outHeight).map { Swift.min(height - 1, Int(Double($0) / (spacing.h * pixelsPerMM))) }
        let columnOf = (0..<outWidth).map { Swift.min(width - 1, Int(Double($0) / (spacing.w * pixelsPerMM))) }
        let base = channel.startIndex + d * height * width, labelBase = d * height * width
        let scale = 255 / Double(window.high - window.low)
        func label(_ x: Int, _ y: Int) -> UInt8 {
            guard let labels, x >= 0, y >= 0, x < outWidth, y < outHeight else { return 0 }
            return labels[labelBase + rowOf[y] * width + columnOf[x]]
        }
        for y in 0..<outHeight {
            for x in 0..<outWidth {
                let v = channel[base + rowOf[y] * width + columnOf[x]]
                let g = v.isFinite ? UInt8(Swift.min(255, Swift.max(0, (Double(v - window.low) * scale).rounded()))) : 0
                var background: RGB = (g, g, g)
                if let heat {
                    let t = Double(heat[labelBase + rowOf[y] * width + columnOf[x]])
                    if t >= 0.05 { background = Self.mix(background, Self.hot(t), alpha: 0.35 + 0.5 * Swift.min(1, t)) }
                }
                let l = label(x, y)
                guard l != 0, let colour = colours[l] else {
                    image[x, y] = background
                    continue
                }
                var edge = false
                for k in 1...Swift.max(1, outlineWidth) where !edge {
                    edge = label(x - k, y) != l || label(x + k, y) != l || label(x, y - k) != l || label(x, y + k) != l
                }
                image[x, y] = edge ? colour : heat != nil ? background : blend(grey: g, colour)
            }
        }
        // Labels first, nudged down past labels already placed so that none overlaps another; the dots on top.
        var placed: [(x0: Int, y0: Int, x1: Int, y1: Int)] = []
        let visible = markers.filter { $0.h.isFinite && $0.w.isFinite }.sorted { $0.h < $1.h }
        for marker in visible { placed.append(drawLabel(marker, spacing: spacing, avoiding: placed, into: &image)) }
        for marker in visible { drawDot(marker, spacing: spacing, into: &image) }
        return image
    }

    /// Black → red → yellow → white as t goes 0 → 1.
    static func hot(_ t: Double) -> RGB {
        let t = Swift.min(1, Swift.max(0, t))
        func c(_ v: Double) -> UInt8 { UInt8((Swift.min(1, Swift.max(0, v)) * 255).rounded()) }
        return (c(3 * t), c(3 * t - 1), c(3 * t - 2))
    }

    static func mix(_ a: RGB, _ b: RGB, alpha: Double) -> RGB {
        func m(_ x: UInt8, _ y: UInt8) -> UInt8 { UInt8((Double(x) * (1 - alpha) + Double(y) * alpha).rounded()) }
        return (m(a.0, b.0), m(a.1, b.1), m(a.2, b.2))
    }

    /// A white dot with a black rim at the centroid.
    func drawDot(_ marker: Marker, spacing: (h: Double, w: Double), into image: inout RGBImage) {
        let (cx, cy) = pixel(h: marker.h, w: marker.w, spacingMM: spacing)
        for dy in -5...5 {
            for dx in -5...5 {
                let r2 = dx * dx + dy * dy
                if r2 <= 9 { image[cx + dx, cy + dy] = (255, 255, 255) } else if r2 <= 25 { image[cx + dx, cy + dy] = (0, 0, 0) }
            }
        }
    }

    /// The marker's label in white on a dark box, right of the dot (left when it would leave the image), moved down
    /// below any of `placed` it would overlap. Returns the box.
    func drawLabel(_ marker: Marker, spacing: (h: Double, w: Double), avoiding placed: [(x0: Int, y0: Int, x1: Int, y1: Int)],
                   into image: inout RGBImage) -> (x0: Int, y0: Int, x1: Int, y1: Int) {
        let (cx, cy) = pixel(h: marker.h, w: marker.w, spacingMM: spacing)
        let s = labelScale
        let textWidth = BitmapFont.measure(marker.label, scale: s) - s, textHeight = BitmapFont.height * s
        var x = cx + 9
        if x + textWidth + 3 > image.width { x = cx - 9 - textWidth }
        var y = Swift.min(Swift.max(cy - textHeight / 2, 2), Swift.max(2, image.height - textHeight - 2))
        var box = (x0: x - 3, y0: y - 2, x1: x + textWidth + 3, y1: y + textHeight + 2)
        while let other = placed.first(where: { $0.x0 < box.x1 && box.x0 < $0.x1 && $0.y0 < box.y1 && box.y0 < $0.y1 }) {
            y = other.y1 + 3
            box = (x0: x - 3, y0: y - 2, x1: x + textWidth + 3, y1: y + textHeight + 2)
        }
        for by in box.y0..<box.y1 {
            for bx in box.x0..<box.x1 where bx >= 0 && by >= 0 && bx < image.width && by < image.height {
                let p = image[bx, by]
                image[bx, by] = (p.0 / 4, p.1 / 4, p.2 / 4)
            }
        }
        BitmapFont.draw(marker.label, x: x, y: y, color: (255, 255, 255), scale: s, into: &image)
        return box
    }
}
