import Foundation
import Torch

/// Collects what leaf layers compute during one summary pass. Installed task-locally by `ModelSummary.run`;
/// outside it `traced` costs one task-local read.
final class SummaryRecorder: @unchecked Sendable {
    @TaskLocal static var current: SummaryRecorder?

    private let names: [ObjectIdentifier: String]
    private(set) var layers: [ModelSummary.Layer] = []

    init(_ model: Module) {
        names = Dictionary(model.namedModules().map { (ObjectIdentifier($0.module), $0.name) }, uniquingKeysWith: { a, _ in a })
    }

    func record(_ layer: Module, input: Tensor, output: Tensor) {
        layers.append(ModelSummary.Layer(
            name: names[ObjectIdentifier(layer)] ?? "?", type: String(describing: type(of: layer)),
            outputShape: output.shape,
            parameters: layer.namedParameters().filter { !$0.name.contains(".") }.reduce(0) { $0 + $1.parameter.tensor.count },
            flops: ModelSummary.flops(layer, input: input, output: output)))
    }
}

extension UnaryLayer {
    /// Calls the layer, reporting to the summary recorder when one is installed.
    func traced(_ input: Tensor) throws -> Tensor {
        let output = try self(input)
        SummaryRecorder.current?.record(self, input: input, output: output)
        return output
    }
}

/// Per-layer output shapes, parameters and FLOPs of one forward pass, with totals.
public struct ModelSummary: Codable, Sendable {
    public struct Layer: Codable, Sendable, Equatable {
        /// Dotted module path (the prefix of its parameter names).
        public var name: String
        public var type: String
        public var outputShape: [Int]
        /// Parameters the layer holds itself (not those of its children, which have their own rows).
        public var parameters: Int
        public var flops: Int
    }

    /// FLOPs per element charged for a normalisation (statistics, normalise, scale, shift).
    public static let normFLOPsPerElement = 5

    /// FLOPs per output element charged for trilinear interpolation (8 weighted taps).
    public static let interpolationFLOPsPerElement = 16

    public var inputShape: [Int]
    /// Leaf layers in call order; the classifier runs on one whole-volume region per sample.
    public var layers: [Layer]
    public var totalParameters: Int
    /// FLOPs of one forward pass (sum over the layers).
    public var totalFLOPs: Int
    /// float32 bytes of every layer output: roughly what a training step keeps for the backward pass.
    public var activationBytes: Int
    public var parameterBytes: Int

    /// FLOPs of one call: 2 × multiply-adds for convolutions and linear layers (from the weight shape and the
    /// output, or for a transposed convolution the input), `normFLOPsPerElement` per output element for norms,
    /// `interpolationFLOPsPerElement` for trilinear upsampling, one per output
    /// element for anything else.
    public static func flops(_ layer: Module, input: Tensor, output: Tensor) -> Int {
        switch layer {
        case let conv as Conv3d: 2 * output.count * conv.weight.tensor.shape.dropFirst().reduce(1, *)
        case let conv as ConvTranspose3d: 2 * input.count * conv.weight.tensor.shape.dropFirst().reduce(1, *)
        case let linear as Linear: 2 * output.count * linear.weight.tensor.shape[1]
        case is GroupNorm, is InstanceNorm, is BatchNorm: normFLOPsPerElement * output.count
        case is Upsampling: interpolationFLOPsPerElement * output.count
        default: output.count
        }
    }

    /// One forward pass (no gradients, evaluation mode) on zeros `[batch, inChannels] + crop`, recording every
    /// leaf layer.
    public static func run(_ model: SpineModel, crop: [Int], batch: Int = 1) throws -> ModelSummary {
        let shape = [batch, model.config.inChannels] + crop
        try model.checkInput(shape: shape)
        let recorder = SummaryRecorder(model)
        let wasTraining = model.isTraining
        model.eval()
        defer { model.train(wasTraining) }
        try SummaryRecorder.$current.withValue(recorder) {
            try Torch.noGrad {
                let input = try Tensor.zeros(shape)
                let output = try model(input)
                let whole = try Tensor.ones(crop)
                if model.config.heads.classification {
                    _ = try model.classify(features: output.features, image: input, regions: (0..<batch).map { ($0, whole) })
                }
                if model.config.heads.identification {
                    _ = try model.classifyRegions(features: output.features, context: model.context(output), regions: (0..<batch).map { ($0, whole) })
                }
            }
        }
        let layers = recorder.layers
        let parameters = model.parameterCount
        return ModelSummary(inputShape: shape, layers: layers, totalParameters: parameters,
                            totalFLOPs: layers.reduce(0) { $0 + $1.flops },
                            activationBytes: 4 * layers.reduce(0) { $0 + $1.outputShape.reduce(1, *) },
                            parameterBytes: 4 * parameters)
    }

    /// A table like torchsummary's, with the totals.
    public var table: String {
        let nameWidth = max(40, (layers.map { $0.name.count + $0.type.count + 3 }.max() ?? 0))
        let rule = String(repeating: "-", count: nameWidth + 58)
        func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, n - s.count))
            return left ? fill + s : s + fill
        }
        var lines = [rule, pad("Layer (type)", nameWidth) + pad("Output shape", 26) + pad("Param #", 14, left: true)
                     + pad("FLOPs", 18, left: true), String(repeating: "=", count: rule.count)]
        for layer in layers {
            lines.append(pad("\(layer.name) (\(layer.type))", nameWidth) + pad("\(layer.outputShape)", 26)
                         + pad(Self.grouped(layer.parameters), 14, left: true) + pad(Self.scaled(layer.flops), 18, left: true))
        }
        lines += [String(repeating: "=", count: rule.count),
                  "Input shape: \(inputShape)",
                  "Total params: \(Self.grouped(totalParameters)) (\(Self.mebibytes(parameterBytes)))",
                  "Forward FLOPs: \(Self.scaled(totalFLOPs))",
                  "Activation memory (float32 layer outputs): \(Self.mebibytes(activationBytes))",
                  rule]
        return lines.joined(separator: "\n")
    }

    static func grouped(_ n: Int) -> String {
        let digits = Array(String(n))
        return String(digits.enumerated().flatMap { i, c in (i > 0 && (digits.count - i) % 3 == 0 ? [","] : []) + [c] })
    }

    static func scaled(_ flops: Int) -> String {
        let units: [(Double, String)] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")]
        let value = Double(flops)
        guard let (scale, unit) = units.first(where: { value >= $0.0 }) else { return "\(flops)" }
        return String(format: "%.2f %@", value / scale, unit)
    }

    static func mebibytes(_ bytes: Int) -> String { String(format: "%.2f MiB", Double(bytes) / 1_048_576) }
}

/// Wall-clock time of training steps, for sizing a config.
public struct ModelTiming: Codable, Sendable {
    public var inputShape: [Int]
    public var repeats: Int
    public var channelsLast: Bool
    /// Mean seconds of a forward pass without gradients.
    public var forwardSeconds: Double
    /// Mean seconds of a forward pass with gradients, every head (the classifier on one region per sample) summed
    /// into a scalar, and the backward pass.
    public var forwardBackwardSeconds: Double

    /// Times `repeats` passes on random input (in channels-last-3d memory format if asked) after one untimed
    /// warm-up pass.
    public static func measure(_ model: SpineModel, crop: [Int], batch: Int, repeats: Int, channelsLast: Bool = false) throws -> ModelTiming {
        let shape = [batch, model.config.inChannels] + crop
        try model.checkInput(shape: shape)
        let random = try Tensor.rand(shape)
        let image = channelsLast ? try random.channelsLast3d() : random
        let whole = try Tensor.ones(crop)
        func step() throws {
            let output = try model(image)
            var loss = try output.features.mean()
            for head in [output.segmentation, output.heatmap, output.levels, output.reconstruction].compactMap({ $0 }) {
                loss = try loss + head.mean()
            }
            if model.config.heads.classification {
                loss = try loss + model.classify(features: output.features, image: image, regions: (0..<batch).map { ($0, whole) }).mean()
            }
            if model.config.heads.identification {
                loss = try loss + model.classifyRegions(features: output.features, context: model.context(output),
                                                        regions: (0..<batch).map { ($0, whole) }).mean()
            }
            try loss.backward()
            try model.zeroGrad()
        }
        func seconds(_ body: () throws -> Void) rethrows -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<repeats { try body() }
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(max(repeats, 1))
        }
        try step()
        let forwardBackward = try seconds(step)
        let forward = try Torch.noGrad { try seconds { _ = try model(image) } }
        return ModelTiming(inputShape: shape, repeats: repeats, channelsLast: channelsLast, forwardSeconds: forward, forwardBackwardSeconds: forwardBackward)
    }
}
