import Testing
@testable import Torch

final class Block: Module, UnaryLayer, @unchecked Sendable {
    let conv: Conv3d
    let norm: GroupNorm
    init(_ channels: Int, dtype: DType) throws {
        conv = try Conv3d(channels, channels, kernel: 3, padding: 1, dtype: dtype)
        norm = try GroupNorm(groups: 2, channels: channels, dtype: dtype)
    }
    func callAsFunction(_ input: Tensor) throws -> Tensor { try norm(conv(input)).relu() }
}

final class Net: Module, @unchecked Sendable {
    let stem: Conv3d
    let blocks: [Block]
    let head: Linear
    let unusedHead: Linear? = nil
    let bn: BatchNorm
    let drop: Dropout
    init(dtype: DType = .float64) throws {
        stem = try Conv3d(1, 4, kernel: 2, dtype: dtype)
        blocks = [try Block(4, dtype: dtype), try Block(4, dtype: dtype)]
        head = try Linear(4, 3, dtype: dtype)
        bn = try BatchNorm(channels: 3, dtype: dtype)
        drop = try Dropout(p: 0.5)
    }
    func callAsFunction(_ input: Tensor) throws -> Tensor {
        let features = try blocks.reduce(try stem(input)) { try $1($0) }.mean(dims: [2, 3, 4])
        return try bn(drop(head(features)).unsqueeze(dim: -1)).squeeze(dim: -1)
    }
}

struct ModuleTests {
    static func net(seed: UInt64 = 1) throws -> Net { try TorchRNG.seeded(seed) { try Net() } }

    @Test func dottedNamesForNestedModulesAndArrays() throws {
        let net = try Self.net()
        let block = { (i: Int) in ["conv.weight", "conv.bias", "norm.weight", "norm.bias"].map { "blocks.\(i).\($0)" } }
        let parameterNames = ["stem.weight", "stem.bias"] + block(0) + block(1) + ["head.weight", "head.bias", "bn.weight", "bn.bias"]
        #expect(net.namedParameters().map(\.name) == parameterNames)
        #expect(net.namedBuffers().map(\.name) == ["bn.runningMean", "bn.runningVar"])
        #expect(net.state().map(\.name) == parameterNames + ["bn.runningMean", "bn.runningVar"])
        #expect(net.namedModules().map(\.name) == ["", "stem", "blocks.0", "blocks.0.conv", "blocks.0.norm", "blocks.1",
                                                    "blocks.1.conv", "blocks.1.norm", "head", "bn", "drop"])
        #expect(net.namedChildren().map(\.name) == ["stem", "blocks.0", "blocks.1", "head", "bn", "drop"])
        #expect(net.parameters().allSatisfy { $0.requiresGrad && $0.dtype == .float64 })
        let sequential = Sequential(try Linear(2, 3), Activation(.relu), try Linear(3, 1, bias: false))
        #expect(sequential.namedParameters().map(\.name) == ["layers.0.weight", "layers.0.bias", "layers.2.weight"])
    }

    static let counted: [(String, Int, @Sendable () throws -> Module)] = [
        ("Conv3d 3→5 kernel 2×3×4", 5 * 3 * 24 + 5, { try Conv3d(3, 5, kernel: [2, 3, 4]) }),
        ("Conv3d groups", 6 * 2 * 27 + 6, { try Conv3d(4, 6, kernel: 3, groups: 2) }),
        ("Conv3d no bias", 6, { try Conv3d(2, 3, kernel: 1, bias: false) }),
        ("ConvTranspose3d groups", 4 * 3 * 8 + 6, { try ConvTranspose3d(4, 6, kernel: 2, groups: 2) }),
        ("Linear", 7 * 3 + 3, { try Linear(7, 3) }),
        ("Linear no bias", 21, { try Linear(7, 3, bias: false) }),
        ("GroupNorm", 12, { try GroupNorm(groups: 2, channels: 6) }),
        ("GroupNorm no affine", 0, { try GroupNorm(groups: 3, channels: 6, affine: false) }),
        ("BatchNorm", 10, { try BatchNorm(channels: 5) }),
        ("InstanceNorm running stats only", 0, { try InstanceNorm(channels: 5, affine: false, trackRunningStats: true) }),
    ]

    @Test(arguments: counted.indices) func parameterCounts(_ index: Int) throws {
        let (name, expected, make) = Self.counted[index]
        let module = try TorchRNG.seeded(1) { try make() }
        #expect(module.parameterCount == expected, "\(name)")
    }

    @Test func layerConstructorsRejectBadChannelCounts() {
        #expect(throws: TorchError.self) { try Conv3d(3, 4, kernel: 3, groups: 2) }
        #expect(throws: TorchError.self) { try ConvTranspose3d(4, 3, kernel: 3, groups: 2) }
        #expect(throws: TorchError.self) { try GroupNorm(groups: 4, channels: 6) }
        #expect(throws: TorchError.self) { try Dropout(p: 1) }
    }

    @Test func trainAndEvalReachEveryModule() throws {
        let net = try Self.net()
        #expect(net.namedModules().allSatisfy { $0.module.isTraining })
        net.eval()
        #expect(net.namedModules().allSatisfy { !$0.module.isTraining })
        net.blocks[1].train()
        #expect(net.blocks[1].conv.isTraining && !net.blocks[0].isTraining && !net.isTraining)
        net.train()
        #expect(net.namedModules().allSatisfy { $0.module.isTraining })
    }

    @Test func dropoutIsIdentityInEvalAndScalesInTraining() throws {
        let drop = try Dropout(p: 0.25)
        let x = try Tensor.ones([1000], dtype: .float64)
        drop.eval()
        #expect(try drop(x).array(Double.self) == [Double](repeating: 1, count: 1000))
        drop.train()
        let y = try TorchRNG.seeded(3) { try drop(x).array(Double.self) }
        #expect(y.allSatisfy { $0 == 0 || Swift.abs($0 - 1 / 0.75) < 1e-12 })
        let dropped = y.filter { $0 == 0 }.count
        #expect((150...350).contains(dropped), "\(dropped) of 1000 dropped at p = 0.25")
    }

    @Test func batchNormUpdatesRunningStatsInTrainingAndUsesThemInEval() throws {
        let bn = try BatchNorm(channels: 2, momentum: 0.1, dtype: .float64)
        // [N = 4, C = 2, 2]: channel 0 holds 1...8 minus an offset, channel 1 a spread.
        let values: [Double] = [1, 2, 10, 0, 3, 4, -2, 6, 5, 6, 4, 4, 7, 8, 1, -3]
        let x = try doubles(values, shape: [4, 2, 2])
        var channels: [[Double]] = [[], []]
        for n in 0..<4 { for c in 0..<2 { channels[c] += values[(n * 2 + c) * 2..<(n * 2 + c) * 2 + 2] } }
        let means = channels.map { $0.reduce(0, +) / 8 }
        let sumSq = (0..<2).map { c in channels[c].map { ($0 - means[c]) * ($0 - means[c]) }.reduce(0, +) }
        let y = try bn(x)
        var expected = [Double](repeating: 0, count: 16)
        for n in 0..<4 { for c in 0..<2 { for k in 0..<2 {
            let i = (n * 2 + c) * 2 + k
            expected[i] = (values[i] - means[c]) / (sumSq[c] / 8 + 1e-5).squareRoot()
        } } }
        #expect(try allClose(y, expected, rtol: 1e-10, atol: 1e-12))
        let runningMean = means.map { 0.1 * $0 }
        let runningVar = sumSq.map { 0.9 + 0.1 * $0 / 7 }
        #expect(try allClose(bn.runningMean.tensor, runningMean, rtol: 1e-12))
        #expect(try allClose(bn.runningVar.tensor, runningVar, rtol: 1e-12))

        bn.eval()
        try bn.load(["weight": try doubles([2, -1]), "bias": try doubles([0.5, 1]), "runningMean": try doubles(runningMean),
                     "runningVar": try doubles(runningVar)])
        let z = try bn(x)
        for n in 0..<4 { for c in 0..<2 { for k in 0..<2 {
            let i = (n * 2 + c) * 2 + k
            expected[i] = (values[i] - runningMean[c]) / (runningVar[c] + 1e-5).squareRoot() * [2, -1][c] + [0.5, 1][c]
        } } }
        #expect(try allClose(z, expected, rtol: 1e-10, atol: 1e-12))
        #expect(try allClose(bn.runningMean.tensor, runningMean, rtol: 1e-12), "eval leaves the running stats alone")
    }

    @Test func instanceNormWithRunningStatsUsesThemInEval() throws {
        let norm = try InstanceNorm(channels: 1, affine: false, trackRunningStats: true, dtype: .float64)
        let x = try doubles([1, 3, 5, 7], shape: [1, 1, 4])
        #expect(try allClose(norm(x), [-3, -1, 1, 3].map { $0 / (5 + 1e-5).squareRoot() }, rtol: 1e-10))
        #expect(try allClose(norm.runningMean.map { $0.tensor } ?? x, [0.4], rtol: 1e-12))
        norm.eval()
        #expect(try allClose(norm(x), [1, 3, 5, 7].map { ($0 - 0.4) / (0.9 + 0.1 * 20.0 / 3 + 1e-5).squareRoot() }, rtol: 1e-10))
    }

    @Test func loadStrictReportsMissingAndUnusedAndCopiesNothing() throws {
        let net = try Self.net(seed: 1), other = try Self.net(seed: 2)
        let before = try net.stem.weight.tensor.array(Double.self)
        var values = Dictionary(uniqueKeysWithValues: other.state().map { ($0.name, $0.tensor) })
        values["head.bias"] = nil
        values["extra.weight"] = try doubles([1])
        #expect {
            try net.load(values)
        } throws: { error in
            guard case let ModuleError.incomplete(report) = error else { return false }
            return report.missing == ["head.bias"] && report.unused == ["extra.weight"] && report.applied.isEmpty
        }
        #expect(try net.stem.weight.tensor.array(Double.self) == before)

        let report = try net.load(values, strict: false)
        #expect(report.missing == ["head.bias"] && report.unused == ["extra.weight"])
        #expect(report.applied.count == net.state().count - 1)
        #expect(try net.stem.weight.tensor.array(Double.self) == other.stem.weight.tensor.array(Double.self))
        #expect(try net.head.bias?.tensor.array(Double.self) != other.head.bias?.tensor.array(Double.self))
    }

    @Test func loadRejectsAShapeMismatchEvenWhenNotStrict() throws {
        let net = try Self.net()
        #expect(throws: ModuleError.shapeMismatch(name: "head.weight", expected: [3, 4], found: [4, 3])) {
            try net.load(["head.weight": try Tensor.zeros([4, 3], dtype: .float64)], strict: false)
        }
    }

    @Test func loadCopiesInPlaceSoOptimizersKeepWorking() throws {
        let net = try Self.net(seed: 1), other = try Self.net(seed: 2)
        let weight = net.head.weight.tensor
        let sgd = try SGD(net.namedParameters(), learningRate: 0.5)
        let source = try other.head.weight.tensor.clone()
        try net.load(Dictionary(uniqueKeysWithValues: other.state().map { ($0.name, $0.tensor) }))
        #expect(weight === net.head.weight.tensor && weight.requiresGrad)
        #expect(try weight.array(Double.self) == source.array(Double.self))
        // The parameter does not alias the source.
        try Torch.noGrad { try other.head.weight.tensor.fill_(9) }
        #expect(try weight.array(Double.self) == source.array(Double.self))
        // The optimizer built before the load updates the loaded values.
        try weight.sum().backward()
        try sgd.step()
        #expect(try allClose(weight, try (source - 0.5).array(Double.self), rtol: 1e-12))
    }

    @Test func moveKeepsIdentityAndConverts() throws {
        let net = try TorchRNG.seeded(4) { try Net(dtype: .float32) }
        let tensors = net.state().map(\.tensor)
        let sgd = try SGD(net.namedParameters(), learningRate: 0.1)
        try net.move(to: .cpu, dtype: .float64)
        #expect(tensors.allSatisfy { $0.dtype == .float64 && $0.device == .cpu })
        #expect(zip(tensors, net.state().map(\.tensor)).allSatisfy { $0 === $1 })
        #expect(net.parameters().allSatisfy { $0.requiresGrad })
        #expect(net.bn.runningVar.tensor.dtype == .float64)
        net.eval()
        let x = try randomTensor([2, 1, 3, 3, 3], seed: 9)
        let y = try net(x)
        #expect(y.shape == [2, 3] && y.dtype == .float64)
        let before = try net.head.bias!.tensor.array(Double.self)
        try y.sum().backward()
        try sgd.step()
        #expect(try net.head.bias!.tensor.array(Double.self) != before)
    }

    @Test func zeroGradClearsEveryParameter() throws {
        let net = try Self.net()
        // Training mode: dropout draws from libtorch's generator.
        try TorchRNG.seeded(10) { try net(try randomTensor([2, 1, 3, 3, 3], seed: 10)).sum().backward() }
        #expect(net.parameters().allSatisfy { $0.grad != nil })
        try net.zeroGrad()
        #expect(net.parameters().allSatisfy { $0.grad == nil })
    }

    /// PyTorch's default initialisation: weights U(±1/√fanIn) (kaiming-uniform with a = √5), biases U(±1/√fanIn);
    /// a transposed convolution takes its fan-in from weight dim 1.
    @Test func defaultInitialisationBounds() throws {
        let (conv, transposed, linear) = try TorchRNG.seeded(8) {
            (try Conv3d(2, 3, kernel: 2, dtype: .float64), try ConvTranspose3d(4, 2, kernel: 3, dtype: .float64),
             try Linear(50, 40, dtype: .float64))
        }
        for (layer, fanIn) in [(conv as Module, 16.0), (transposed, 54), (linear, 50)] {
            let bound = 1 / fanIn.squareRoot()
            for (name, p) in layer.namedParameters() {
                let values = try p.tensor.array(Double.self)
                #expect(values.allSatisfy { Swift.abs($0) <= bound }, "\(name)")
                if values.count >= 40 { #expect(values.contains { Swift.abs($0) > bound * 0.9 }, "\(name) uses its range") }
            }
        }
        let normal = try TorchRNG.seeded(9) { try Init.kaimingNormal([200, 50], dtype: .float64) }
        let std = try normal.std().item()
        #expect(Swift.abs(std - (2.0 / 50).squareRoot()) < 0.01)
        #expect(Init.fans([8, 4, 3, 3, 3]) == (fanIn: 108, fanOut: 216))
    }
}
