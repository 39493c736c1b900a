import Torch

/// A short end-to-end exercise of the engine: generates noisy volumes with a bright ball, trains a small 3-D conv
/// net to segment the ball, and reports the loss per step. It proves that tensors, autograd, layers and the
/// optimizer work together on this machine before anything larger is attempted.
public struct EngineSelfTest: Sendable {
    public var steps = 60
    public var batchSize = 2
    public var size = 24
    public var width = 8
    public var learningRate = 1e-2
    public var seed: UInt64 = 0
    public var device: Device = .cpu

    public init() {}

    public struct Result: Sendable {
        /// The training loss after each step.
        public var losses: [Double]
        /// Dice of the thresholded prediction on a fresh batch, before and after training.
        public var diceBefore: Double, diceAfter: Double
        public var seconds: Double
        /// The loss fell: the mean of the last quarter is below half the mean of the first quarter.
        public var lossFell: Bool {
            let q = Swift.max(1, losses.count / 4)
            let first = losses.prefix(q).reduce(0, +) / Double(q)
            let last = losses.suffix(q).reduce(0, +) / Double(q)
            return last < 0.5 * first
        }
    }

    /// The small segmentation net: two conv blocks at full resolution around a pooled context block.
    final class Net: Module, UnaryLayer, @unchecked Sendable {
        let stem: Sequential
        let context: Sequential
        let head: Conv3d

        init(width: Int) throws {
            stem = Sequential(try Conv3d(1, width, kernel: 3, padding: 1), try GroupNorm(groups: 2, channels: width), Activation(.relu))
            context = Sequential(try Conv3d(width, width, kernel: 3, padding: 1), try GroupNorm(groups: 2, channels: width), Activation(.relu))
            head = try Conv3d(2 * width, 1, kernel: 1)
        }

        func callAsFunction(_ x: Tensor) throws -> Tensor {
            let features = try stem(x)
            let shape = features.shape
            let pooled = try context(features.avgPool3d(kernel: 2))
            let up = try pooled.upsampleTrilinear(size: Triple(shape[2], shape[3], shape[4]))
            return try head(Tensor.cat([features, up], dim: 1))
        }
    }

    /// A batch of volumes `[N, 1, S, S, S]`, each with a ball of random centre and radius in noise, and its mask.
    func batch() throws -> (image: Tensor, mask: Tensor) {
        let n = batchSize, s = Double(size)
        let grid = try Tensor.arange(0, s).reshape([1, size, 1, 1])
        let centres = try Tensor.rand([n, 3]) * (s / 2) + s / 4
        let radii = try Tensor.rand([n, 1, 1, 1]) * (s / 8) + s / 8
        let dz = try grid - centres.select(dim: 1, index: 0).reshape([n, 1, 1, 1])
        let dy = try grid.reshape([1, 1, size, 1]) - centres.select(dim: 1, index: 1).reshape([n, 1, 1, 1])
        let dx = try grid.reshape([1, 1, 1, size]) - centres.select(dim: 1, index: 2).reshape([n, 1, 1, 1])
        let distance = try (dz.square() + dy.square() + dx.square()).sqrt()
        let mask = try distance.le(radii).to(.float32).unsqueeze(dim: 1)
        let image = try mask * 0.8 + Tensor.randn(mask.shape) * 0.5
        return (try image.to(device: device), try mask.to(device: device))
    }

    static func dice(_ logits: Tensor, _ mask: Tensor) throws -> Double {
        try Torch.noGrad {
            let prediction = try logits.gt(0).to(.float32)
            let overlap = try (prediction * mask).sum().item()
            let total = try prediction.sum().item() + mask.sum().item()
            return total == 0 ? 1 : 2 * overlap / total
        }
    }

    public func run(onStep: (Int, Double) -> Void = { _, _ in }) throws -> Result {
        let clock = ContinuousClock()
        let start = clock.now
        Torch.manualSeed(seed)
        let net = try Net(width: width)
        try net.move(to: device)
        let optimizer = try Adam(net.namedParameters(), learningRate: learningRate)
        let probe = try batch()
        let diceBefore = try Self.dice(try Torch.noGrad { try net(probe.image) }, probe.mask)
        var losses: [Double] = []
        for step in 0..<steps {
            let (image, mask) = try batch()
            let loss = try Loss.binaryCrossEntropyWithLogits(net(image), mask)
            try optimizer.zeroGrad()
            try loss.backward()
            try optimizer.step()
            let value = try loss.item()
            losses.append(value)
            onStep(step, value)
        }
        let diceAfter = try Self.dice(try Torch.noGrad { try net(probe.image) }, probe.mask)
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return Result(losses: losses, diceBefore: diceBefore, diceAfter: diceAfter, seconds: seconds)
    }
}
