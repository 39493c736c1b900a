import Foundation

/// Why reading or writing a medical image file failed. Every case names the file and, where one is to blame,
/// the header field, so the message says what to fix.
public enum ImageIOError: LocalizedError, Equatable, CustomStringConvertible {
    /// The file does not exist.
    case missingFile(path: String)
    /// The extension is not one of `.nii`, `.nii.gz`, `.mha`, `.mhd`.
    case unsupportedFormat(path: String)
    /// The file does not start like a file of its format (NIfTI `sizeof_hdr`/`magic`, MetaImage header).
    case badMagic(path: String, found: String)
    /// The file ends before `field` (a header field or the voxel data) is complete.
    case truncated(path: String, field: String, neededBytes: Int, foundBytes: Int)
    /// The voxel data holds a different number of bytes than the header's dimensions imply.
    case dataSizeMismatch(path: String, expectedBytes: Int, foundBytes: Int)
    /// `field` names a voxel type (or another feature) this reader does not support.
    case unsupportedDatatype(path: String, field: String, value: String)
    /// A header field has a value that cannot describe an image (zero or negative dims or spacing, NaN, ...).
    case invalidField(path: String, field: String, value: String, expected: String)
    /// The compressed data cannot be inflated.
    case corruptCompression(path: String, detail: String)
    /// The image holds NaN or infinite voxels; Rachis refuses them.
    case nonFiniteVoxels(path: String, nanCount: Int, infiniteCount: Int)
    /// A `.mhd` header names a data file that does not exist.
    case missingDataFile(headerPath: String, dataPath: String)
    /// A voxel that must be an integer label is not.
    case nonIntegerLabel(path: String, index: Int, value: Float)
    /// A voxel does not fit the on-disk type it is written as.
    case valueOutOfRange(path: String, type: VoxelType, value: Float)
    /// The volume's voxel count does not match its geometry and channels.
    case inconsistentVolume(path: String, expectedCount: Int, foundCount: Int)
    /// The operating system refused a read or write.
    case ioFailed(path: String, reason: String)

    public var errorDescription: String? { description }

    public var description: String {
        switch self {
        case let .missingFile(path):
            return "\(path): no such file"
        case let .unsupportedFormat(path):
            return "\(path): unsupported image format; use .nii, .nii.gz, .mha or .mhd"
        case let .badMagic(path, found):
            return "\(path): not a file of its format (found \(found))"
        case let .truncated(path, field, needed, found):
            return "\(path): truncated: \(field) needs \(needed) bytes, the file has \(found)"
        case let .dataSizeMismatch(path, expected, found):
            return "\(path): the header's dimensions imply \(expected) bytes of voxel data, found \(found)"
        case let .unsupportedDatatype(path, field, value):
            return "\(path): \(field) = \(value) is not supported"
        case let .invalidField(path, field, value, expected):
            return "\(path): \(field) = \(value); expected \(expected)"
        case let .corruptCompression(path, detail):
            return "\(path): corrupt compressed data (\(detail))"
        case let .nonFiniteVoxels(path, nan, inf):
            return "\(path): \(nan) NaN and \(inf) infinite voxels; fix or mask them before importing"
        case let .missingDataFile(header, data):
            return "\(header): ElementDataFile \(data) does not exist"
        case let .nonIntegerLabel(path, index, value):
            return "\(path): label voxel \(index) is \(value), not an integer"
        case let .valueOutOfRange(path, type, value):
            return "\(path): voxel value \(value) does not fit \(type)"
        case let .inconsistentVolume(path, expected, found):
            return "\(path): the volume's geometry and channels imply \(expected) voxels, it holds \(found)"
        case let .ioFailed(path, reason):
            return "\(path): \(reason)"
        }
    }
}
