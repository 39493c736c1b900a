import Foundation

/// The image file formats Rachis reads and writes, chosen by file name.
public enum ImageFormat: String, CaseIterable, Sendable {
    case nifti = ".nii", niftiGzip = ".nii.gz", metaImage = ".mha", metaImageHeader = ".mhd"

    public init(url: URL) throws {
        let name = url.lastPathComponent.lowercased()
        guard let format = ImageFormat.allCases.sorted(by: { $0.rawValue.count > $1.rawValue.count })
            .first(where: { name.hasSuffix($0.rawValue) }) else {
            throw ImageIOError.unsupportedFormat(path: url.path)
        }
        self = format
    }
}

/// Reading and writing medical images by file name, with reorientation to Rachis's canonical PIR orientation.
public enum ImageIO {
    /// Reads a `.nii`, `.nii.gz`, `.mha` or `.mhd` image. With `reorient` (the default) its axes are permuted and
    /// flipped to the orientation closest to `Geometry.canonicalDirection` (no resampling; world positions kept).
    /// NaN or infinite voxels throw `nonFiniteVoxels` unless `allowNonFinite`.
    public static func read(_ url: URL, reorient: Bool = true, allowNonFinite: Bool = false) throws -> ImageVolume {
        let volume: ImageVolume = switch try ImageFormat(url: url) {
        case .nifti, .niftiGzip: try NIfTI.read(url)
        case .metaImage, .metaImageHeader: try MetaImage.read(url)
        }
        if !allowNonFinite { try volume.checkFinite(path: url.path) }
        return reorient ? volume.reoriented() : volume
    }

    /// Writes the volume as its file name says (`.nii.gz` gzip-compressed), in its own array order and with its
    /// `voxelType`; `compressed` applies to MetaImage. Atomic: a failure leaves any existing file untouched.
    public static func write(_ volume: ImageVolume, to url: URL, compressed: Bool = false) throws {
        switch try ImageFormat(url: url) {
        case .nifti, .niftiGzip: try NIfTI.write(volume, to: url)
        case .metaImage, .metaImageHeader: try MetaImage.write(volume, to: url, compressed: compressed)
        }
    }
}
