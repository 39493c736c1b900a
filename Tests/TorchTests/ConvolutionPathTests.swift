import Testing
@testable import Torch

/// A batch-1 3-D convolution without gradients takes oneDNN directly (ct_conv3d); it must give what libtorch's own
/// choice gives with gradients on, in both memory formats, with and without bias, stride and groups.
struct ConvolutionPathTests {
    @Test(arguments: [(false, 1, 1), (true, 1, 1), (false, 2, 1), (true, 1, 2)])
    func batchOneWithoutGradientsMatchesLibtorchsChoice(channelsLast: Bool, stride: Int, groups: Int) throws {
        let (x, w, b) = try Torch.exclusiveRandomness(seed: 11) {
            (try Tensor.randn([1, 4, 6, 20, 14]), try Tensor.randn([6, 4 / groups, 3, 3, 3]), try Tensor.randn([6]))
        }
        let input = channelsLast ? try x.channelsLast3d() : x
        for bias in [b, nil] {
            let reference = try input.conv3d(w, bias: bias, stride: Triple(stride, stride, stride), padding: 1, groups: groups)
            let fast = try Torch.noGrad { try input.conv3d(w, bias: bias, stride: Triple(stride, stride, stride), padding: 1, groups: groups) }
            #expect(fast.shape == reference.shape)
            #expect(try (fast - reference).abs().max().item() < 1e-4)
        }
    }
}
