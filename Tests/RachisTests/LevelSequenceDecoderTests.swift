import Foundation
import Testing
@testable import Rachis

struct LevelSequenceDecoderTests {
    /// With as many vertebrae as levels only one labelling exists: every marginal of it is 1, and none exceeds 1
    /// (rounding in log space gave 1 + 1e-14, which the prediction schema rejects).
    @Test(arguments: [0.2, 1.0 / 27, 0.9])
    func marginalsAreProbabilitiesWhenEveryLevelIsTaken(p: Double) throws {
        let k = LevelSequenceDecoder.levelCount
        let rows = (0..<k).map { i in (0..<k).map { $0 == (i * 7) % k ? p : (1 - p) / Double(k - 1) } }
        let result = try LevelSequenceDecoder().decode(rows)
        #expect(result.positions == Array(0..<k))
        for (i, row) in result.marginals.enumerated() {
            #expect(row.allSatisfy { (0...1).contains($0) }, "vertebra \(i): \(row.filter { $0 > 1 })")
            #expect(abs(row[i] - 1) < 1e-9)
        }
    }
}
