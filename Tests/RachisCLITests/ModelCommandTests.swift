import Foundation
import Testing

/// `rachis model summary` end to end.
struct ModelCommandTests {
    static let baseConfig = CLI.repository.appendingPathComponent("examples/configs/base.yaml").path

    @Test func summaryOfTheBaseConfig() throws {
        let scratch = try Scratch()
        let table = try CLI.run(["model", "summary", "--config", Self.baseConfig, "--crop", "8,16,16"], in: scratch.url)
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("encoder.stem.conv (Conv3d)") && table.stdout.contains("Total params: "), "\(table.stdout)")

        let json = try CLI.run(["model", "summary", "--config", Self.baseConfig, "--crop", "8,16,16", "--json"], in: scratch.url)
        let report = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let summary = report?["summary"] as? [String: Any]
        #expect(summary?["inputShape"] as? [Int] == [1, 2, 8, 16, 16])
        #expect((summary?["totalParameters"] as? Int ?? 0) > 0)
    }

    @Test func unknownModelKeyAndIndivisibleCropAreRejected() throws {
        let scratch = try Scratch()
        try "model:\n  width: 4\n  normGroups: 4\n  featureChannels: 4\n  widht: 8\ntrain:\n  epochs: 3\n"
            .write(to: scratch.url.appendingPathComponent("c.yaml"), atomically: true, encoding: .utf8)
        let unknown = try CLI.run(["model", "summary", "--config", "c.yaml"], in: scratch.url)
        #expect(unknown.status != 0 && unknown.stderr.contains("widht"), "\(unknown.stderr)")
        let crop = try CLI.run(["model", "summary", "--config", Self.baseConfig, "--crop", "7,16,16"], in: scratch.url)
        #expect(crop.status != 0 && crop.stderr.contains("divisible"), "\(crop.stderr)")
    }
}
