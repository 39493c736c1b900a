import Testing
@testable import Torch

struct SmokeTests {
    @Test func basics() throws {
        // randn and layer initialisation draw from libtorch's process-wide generator.
        try TorchRNG.seeded(0) {
            let a = try Tensor([1, 2, 3, 4] as [Float], shape: [2, 2])
            let b = try a * a + 1
            #expect(try b.array(Float.self) == [2, 5, 10, 17])
            let x = try Tensor.randn([1, 2, 4, 4, 4])
            let w = try Tensor.randn([3, 5, 3, 3, 3])
            #expect(throws: TorchError.self) { try x.conv3d(w) }
            do { _ = try x.conv3d(w) } catch { print("\(error)") }
            let m = try Sequential(Conv3d(2, 3, kernel: 3, padding: 1), Activation(.relu), GroupNorm(groups: 1, channels: 3))
            print(m.namedParameters().map(\.name), m.parameterCount)
            let y = try m(x)
            #expect(y.shape == [1, 3, 4, 4, 4])
            print(Torch.version, Torch.threads)
        }
    }
}
