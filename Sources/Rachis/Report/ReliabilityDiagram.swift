/// The reliability diagram of a classification (`ClassificationResult.calibrationBins`) as an RGB image: per
/// confidence bin a bar up to the fraction decided correctly, a tick at the bin's mean confidence, the diagonal of
/// perfect calibration, and under each non-empty bar how many vertebrae fell in the bin. A bar below its tick is
/// over-confident, above it under-confident.
public struct ReliabilityDiagram: Sendable {
    public var bins: [ClassificationResult.CalibrationBin]
    public var title: String
    public var width = 440
    public var height = 400

    public init(bins: [ClassificationResult.CalibrationBin], title: String) { (self.bins, self.title) = (bins, title) }

    public static let barColour: (UInt8, UInt8, UInt8) = (31, 119, 180)
    public static let gapColour: (UInt8, UInt8, UInt8) = (214, 39, 40)

    public func render() -> RGBImage {
        var image = RGBImage(width: width, height: height)
        let black: (UInt8, UInt8, UInt8) = (30, 30, 30), grey: (UInt8, UInt8, UInt8) = (225, 225, 225)
        let left = 56, right = width - 16, top = 36, bottom = height - 62
        BitmapFont.draw(title, x: (width - BitmapFont.measure(title, scale: 2)) / 2, y: 10, color: black, scale: 2, into: &image)
        func px(_ x: Double) -> Int { left + Int((x * Double(right - left)).rounded()) }
        func py(_ y: Double) -> Int { bottom - Int((y * Double(bottom - top)).rounded()) }
        for k in 0...5 {
            let v = Double(k) / 5, label = LinePlot.tickText(v)
            image.line(left, py(v), right, py(v), grey)
            BitmapFont.draw(label, x: left - 6 - BitmapFont.measure(label), y: py(v) - 3, color: black, into: &image)
            BitmapFont.draw(label, x: px(v) - BitmapFont.measure(label) / 2, y: bottom + 20, color: black, into: &image)
        }
        for bin in bins where bin.count > 0 && bin.accuracy.isFinite {
            let x0 = px(bin.lower) + 2, x1 = px(bin.upper) - 1
            image.fill(x0: x0, y0: py(bin.accuracy), x1: x1, y1: bottom, Self.barColour)
            if bin.meanConfidence.isFinite { image.line(x0, py(bin.meanConfidence), x1 - 1, py(bin.meanConfidence), Self.gapColour, thickness: 3) }
        }
        image.line(px(0), py(0), px(1), py(1), (120, 120, 120))
        image.line(left, top, left, bottom, black)
        image.line(left, bottom, right, bottom, black)
        for bin in bins where bin.count > 0 {
            let label = String(bin.count), centre = (px(bin.lower) + px(bin.upper)) / 2
            BitmapFont.draw(label, x: centre - BitmapFont.measure(label) / 2 + 1, y: bottom + 6, color: (90, 90, 90), into: &image)
        }
        let xLabel = "CONFIDENCE (MAX. PROBABILITY)"
        BitmapFont.draw(xLabel, x: (left + right - BitmapFont.measure(xLabel)) / 2, y: bottom + 34, color: black, into: &image)
        image.fill(x0: left + 8, y0: height - 14, x1: left + 20, y1: height - 6, Self.barColour)
        BitmapFont.draw("FRACTION CORRECT", x: left + 24, y: height - 14, color: black, into: &image)
        image.line(left + 150, height - 10, left + 164, height - 10, Self.gapColour, thickness: 3)
        BitmapFont.draw("MEAN CONFIDENCE", x: left + 170, y: height - 14, color: black, into: &image)
        return image
    }
}
