import Foundation
import Testing
@testable import Rachis

struct PNGTests {
    @Test func crcMatchesTheStandardCheckValue() {
        #expect(CRC32.checksum(Data("123456789".utf8)) == 0xCBF4_3926)
    }

    /// Python's zlib decodes our PNG back to the same pixels (an independent decoder of the format).
    @Test func pngDecodesToTheSamePixels() throws {
        var image = RGBImage(width: 7, height: 5)
        for y in 0..<5 { for x in 0..<7 { image[x, y] = (UInt8(x * 30), UInt8(y * 50), UInt8((x + y) % 2 * 255)) } }
        let folder = try TemporaryFolder()
        let url = folder.file("t.png")
        try image.writePNG(to: url)
        let script = """
            import struct, sys, zlib
            d = open(sys.argv[1], 'rb').read()
            assert d[:8] == b'\\x89PNG\\r\\n\\x1a\\n'
            pos, chunks = 8, {}
            while pos < len(d):
                n, = struct.unpack('>I', d[pos:pos+4]); t = d[pos+4:pos+8]; body = d[pos+8:pos+8+n]
                crc, = struct.unpack('>I', d[pos+8+n:pos+12+n]); assert zlib.crc32(t + body) == crc, t
                chunks[t] = chunks.get(t, b'') + body; pos += 12 + n
            w, h, depth, kind = struct.unpack('>IIBB', chunks[b'IHDR'][:10])
            raw = zlib.decompress(chunks[b'IDAT'])
            rows = [raw[y*(3*w+1)+1:(y+1)*(3*w+1)] for y in range(h)]
            print(w, h, depth, kind, b''.join(rows).hex())
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, url.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let expected = "7 5 8 2 " + image.pixels.map { String(format: "%02x", $0) }.joined()
        #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == expected)
    }

    @Test func plotDrawsEachSeriesInItsColour() throws {
        let plot = LinePlot(panels: [LinePlot.Panel(title: "loss", xLabel: "epoch", series: [
            LinePlot.Series(name: "train", points: [(0, 1), (1, 0.5), (2, 0.25)]),
            LinePlot.Series(name: "val", points: [(0, 0.9), (2, 0.4)]),
        ], logY: true)])
        let image = plot.render()
        let colours = Set(stride(from: 0, to: image.pixels.count, by: 3).map { [image.pixels[$0], image.pixels[$0 + 1], image.pixels[$0 + 2]] })
        #expect(colours.contains(rgb(LinePlot.palette[0])) && colours.contains(rgb(LinePlot.palette[1])))
        if let path = ProcessInfo.processInfo.environment["RACHIS_PLOT_PREVIEW"] { try image.writePNG(to: URL(fileURLWithPath: path)) }
    }
}

private func rgb(_ c: (UInt8, UInt8, UInt8)) -> [UInt8] { [c.0, c.1, c.2] }
