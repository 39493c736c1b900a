import Torch

/// Reconstruction loss of the autoencoder: L1 or squared error between reconstruction and image, the mean over
/// every element of every sample whose mask is 1 (every sample by default: unlabelled volumes train it too).
/// The count is the number of contributing samples.
public struct AutoencoderLoss: Sendable {
    public enum Kind: String, Codable, Sendable, CaseIterable { case l1, mse }
    public var kind: Kind

    public init(kind: Kind = .l1) { self.kind = kind }

    /// - Parameters:
    ///   - reconstruction, image: `[N, C, D, H, W]`.
    ///   - sampleMask: `[N]` float 0/1, or nil for every sample.
    public func callAsFunction(reconstruction: Tensor, image: Tensor, sampleMask: Tensor? = nil) throws -> MaskedLoss {
        try requireShape(image, reconstruction.shape, loss: "autoencoder", name: "image")
        let n = reconstruction.shape[0]
        let mask = try sampleMask ?? Tensor.ones([n], dtype: reconstruction.dtype)
        try requireShape(mask, [n], loss: "autoencoder", name: "sample mask")
        let perElement = try kind == .l1 ? Loss.l1(reconstruction, image, reduction: .none)
                                         : Loss.mse(reconstruction, image, reduction: .none)
        let loss = try MaskedLoss.mean(perElement, mask: mask.perSample(rank: reconstruction.rank))
        return MaskedLoss(value: loss.value, count: Int(try mask.gt(0).sum().item()))
    }
}
