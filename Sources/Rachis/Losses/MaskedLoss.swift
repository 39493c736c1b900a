import Torch

/// A loss averaged over what is annotated: the scalar value and how many elements (voxels, vertebrae, samples)
/// contributed to it. With a count of 0 the value is exactly 0, still attached to the graph, with zero gradient.
public struct MaskedLoss: @unchecked Sendable {
    public var value: Tensor
    public var count: Int

    public init(value: Tensor, count: Int) {
        (self.value, self.count) = (value, count)
    }

    /// Σ mask·values / Σ mask over the elements where `mask` > 0 (`values` and `mask` broadcast). Elements outside
    /// the mask are replaced by 0 before weighting, so a NaN or infinity there cannot leak into the value or the
    /// gradient. `count` is the number of elements with `mask` > 0.
    static func mean(_ values: Tensor, mask: Tensor) throws -> MaskedLoss {
        let mask = try mask.expand(values.shape).to(values.dtype)
        let selected = try mask.gt(0)
        let kept = try values.where(selected, else: values.zerosLike()) * mask
        let total = try mask.sum().item()
        let count = Int(try selected.sum().item())
        return MaskedLoss(value: try kept.sum() / Swift.max(total, 1e-12), count: count)
    }
}

/// Errors raised by the losses: the loss, and what did not match.
public enum LossError: Error, CustomStringConvertible, Equatable {
    case shapeMismatch(loss: String, tensor: String, expected: [Int], found: [Int])
    case countMismatch(loss: String, what: String, expected: Int, found: Int)
    case invalidTarget(loss: String, message: String)

    public var description: String {
        switch self {
        case let .shapeMismatch(loss, tensor, expected, found):
            "\(loss): \(tensor) has shape \(found), expected \(expected)"
        case let .countMismatch(loss, what, expected, found):
            "\(loss): \(found) \(what), expected \(expected)"
        case let .invalidTarget(loss, message):
            "\(loss): \(message)"
        }
    }
}

extension Tensor {
    /// `[N]` per-sample mask reshaped to broadcast over `[N, ...]` of rank `rank`.
    func perSample(rank: Int) throws -> Tensor {
        try reshape([shape[0]] + Array(repeating: 1, count: rank - 1))
    }
}

func requireShape(_ tensor: Tensor, _ expected: [Int], loss: String, name: String) throws {
    guard tensor.shape == expected else {
        throw LossError.shapeMismatch(loss: loss, tensor: name, expected: expected, found: tensor.shape)
    }
}
