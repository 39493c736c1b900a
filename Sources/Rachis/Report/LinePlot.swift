import Foundation

/// Line charts rendered to an RGB image: one or more panels side by side, each with axes, tick labels, a title and a
/// legend. Used for training curves (`progress.png`).
public struct LinePlot: Sendable {
    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public init(name: String, points: [(x: Double, y: Double)]) { (self.name, self.points) = (name, points) }
    }

    public struct Panel: Sendable {
        public var title: String
        public var xLabel: String
        public var series: [Series]
        /// Logarithmic y axis (non-positive values are left out).
        public var logY: Bool
        public init(title: String, xLabel: String, series: [Series], logY: Bool = false) {
            (self.title, self.xLabel, self.series, self.logY) = (title, xLabel, series, logY)
        }
    }

    public static let palette: [(UInt8, UInt8, UInt8)] = [
        (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75), (227, 119, 194), (127, 127, 127),
    ]

    public var panels: [Panel]
    public var panelWidth = 520
    public var height = 400

    public init(panels: [Panel]) { self.panels = panels }

    public func render() -> RGBImage {
        var image = RGBImage(width: panelWidth * Swift.max(panels.count, 1), height: height)
        for (i, panel) in panels.enumerated() { draw(panel, originX: i * panelWidth, into: &image) }
        return image
    }

    static func tickText(_ v: Double) -> String {
        if v == 0 { return "0" }
        let magnitude = Swift.abs(v)
        if magnitude >= 1e4 || magnitude < 1e-3 { return String(format: "%.1e", v) }
        if magnitude >= 100 { return String(format: "%.0f", v) }
        if magnitude >= 1 { return String(format: "%.2f", v) }
        return String(format: "%.3f", v)
    }

    func draw(_ panel: Panel, originX: Int, into image: inout RGBImage) {
        let black: (UInt8, UInt8, UInt8) = (30, 30, 30), grey: (UInt8, UInt8, UInt8) = (225, 225, 225)
        let left = originX + 64, right = originX + panelWidth - 16, top = 36, bottom = height - 40
        BitmapFont.draw(panel.title, x: originX + (panelWidth - BitmapFont.measure(panel.title, scale: 2)) / 2, y: 10, color: black, scale: 2, into: &image)
        BitmapFont.draw(panel.xLabel, x: (left + right - BitmapFont.measure(panel.xLabel)) / 2, y: height - 14, color: black, into: &image)
        func transform(_ y: Double) -> Double { panel.logY ? log10(y) : y }
        let points = panel.series.flatMap(\.points).filter { $0.y.isFinite && (!panel.logY || $0.y > 0) }
        guard !points.isEmpty else {
            BitmapFont.draw("NO DATA YET", x: (left + right) / 2 - 30, y: (top + bottom) / 2, color: black, into: &image)
            return
        }
        var (x0, x1) = (points.map(\.x).min()!, points.map(\.x).max()!)
        var (y0, y1) = (points.map { transform($0.y) }.min()!, points.map { transform($0.y) }.max()!)
        if x1 == x0 { (x0, x1) = (x0 - 1, x1 + 1) }
        if y1 == y0 { (y0, y1) = (y0 - 0.5, y1 + 0.5) }
        let pad = (y1 - y0) * 0.05
        (y0, y1) = (y0 - pad, y1 + pad)
        func px(_ x: Double) -> Int { left + Int((x - x0) / (x1 - x0) * Double(right - left)) }
        func py(_ y: Double) -> Int { bottom - Int((transform(y) - y0) / (y1 - y0) * Double(bottom - top)) }
        for k in 0...4 {
            let yv = y0 + (y1 - y0) * Double(k) / 4
            let y = bottom - (bottom - top) * k / 4
            image.line(left, y, right, y, grey, thickness: 1)
            let label = Self.tickText(panel.logY ? pow(10, yv) : yv)
            BitmapFont.draw(label, x: left - 6 - BitmapFont.measure(label), y: y - 3, color: black, into: &image)
            let xv = x0 + (x1 - x0) * Double(k) / 4
            let x = left + (right - left) * k / 4
            let xl = Self.tickText(xv)
            BitmapFont.draw(xl, x: x - BitmapFont.measure(xl) / 2, y: bottom + 6, color: black, into: &image)
        }
        image.line(left, top, left, bottom, black, thickness: 1)
        image.line(left, bottom, right, bottom, black, thickness: 1)
        for (i, series) in panel.series.enumerated() {
            let color = Self.palette[i % Self.palette.count]
            let valid = series.points.filter { $0.y.isFinite && (!panel.logY || $0.y > 0) }
            for (a, b) in zip(valid, valid.dropFirst()) { image.line(px(a.x), py(a.y), px(b.x), py(b.y), color, thickness: 2) }
            if valid.count == 1 { image.line(px(valid[0].x) - 2, py(valid[0].y), px(valid[0].x) + 2, py(valid[0].y), color, thickness: 3) }
            let ly = top + 6 + 12 * i
            image.line(right - 150, ly + 3, right - 134, ly + 3, color, thickness: 3)
            BitmapFont.draw(series.name, x: right - 128, y: ly, color: black, into: &image)
        }
    }

}

extension RGBImage {
    /// Bresenham line with a square pen of `thickness` pixels (pixels outside the image are skipped).
    mutating func line(_ xa: Int, _ ya: Int, _ xb: Int, _ yb: Int, _ color: (UInt8, UInt8, UInt8), thickness: Int = 1) {
        var (x, y) = (xa, ya)
        let dx = Swift.abs(xb - xa), dy = -Swift.abs(yb - ya)
        let sx = xa < xb ? 1 : -1, sy = ya < yb ? 1 : -1
        var error = dx + dy
        while true {
            for oy in 0..<thickness { for ox in 0..<thickness { self[x + ox - thickness / 2, y + oy - thickness / 2] = color } }
            if x == xb && y == yb { break }
            let e2 = 2 * error
            if e2 >= dy { error += dy; x += sx }
            if e2 <= dx { error += dx; y += sy }
        }
    }

    /// Fills the rectangle [x0, x1) × [y0, y1), clipped to the image.
    mutating func fill(x0: Int, y0: Int, x1: Int, y1: Int, _ color: (UInt8, UInt8, UInt8)) {
        for y in Swift.max(0, y0)..<Swift.max(Swift.max(0, y0), Swift.min(height, y1)) {
            for x in Swift.max(0, x0)..<Swift.max(Swift.max(0, x0), Swift.min(width, x1)) { self[x, y] = color }
        }
    }
}
