import CHDF5

/// An element type as stored in a file or requested by a read or write.
public enum HDF5Type: Hashable, Sendable, CustomStringConvertible {
    case float32, float64
    case int8, int16, int32, int64
    case uint8, uint16, uint32, uint64
    /// UTF-8 or ASCII text, variable-length or fixed-length.
    case string
    /// Any other stored type (compound, enum, array, half float, ...), described for error messages.
    case other(String)

    public var description: String {
        switch self {
        case .float32: "float32"
        case .float64: "float64"
        case .int8: "int8"
        case .int16: "int16"
        case .int32: "int32"
        case .int64: "int64"
        case .uint8: "uint8"
        case .uint16: "uint16"
        case .uint32: "uint32"
        case .uint64: "uint64"
        case .string: "string"
        case let .other(text): text
        }
    }

    /// The libhdf5 native type for numeric types (predefined ids, never closed); nil for strings and others.
    var nativeID: hid_t? {
        switch self {
        case .float32: chdf5_native_float()
        case .float64: chdf5_native_double()
        case .int8: chdf5_native_int8()
        case .int16: chdf5_native_int16()
        case .int32: chdf5_native_int32()
        case .int64: chdf5_native_int64()
        case .uint8: chdf5_native_uint8()
        case .uint16: chdf5_native_uint16()
        case .uint32: chdf5_native_uint32()
        case .uint64: chdf5_native_uint64()
        case .string, .other: nil
        }
    }

    private var integer: (bits: Int, signed: Bool)? {
        switch self {
        case .int8: (8, true)
        case .int16: (16, true)
        case .int32: (32, true)
        case .int64: (64, true)
        case .uint8: (8, false)
        case .uint16: (16, false)
        case .uint32: (32, false)
        case .uint64: (64, false)
        default: nil
        }
    }

    /// Conversion policy for reads (stored -> requested) and writes (memory -> stored): libhdf5 converts between numeric
    /// types, but only conversions that keep every value are allowed: the same type; an integer into a wider integer
    /// (unsigned into a strictly wider signed, never signed into unsigned); int8/16 into float32; int8/16/32 and
    /// uint8/16/32 into float64; float32 into float64. Anything else throws `HDF5Error.Kind.typeMismatch`.
    public func convertsLosslessly(to target: HDF5Type) -> Bool {
        if case .other = self { return false }
        if self == target { return true }
        if let a = integer, let b = target.integer {
            return a.signed == b.signed ? b.bits >= a.bits : (!a.signed && b.signed && b.bits > a.bits)
        }
        if let a = integer {
            return (target == .float32 && a.bits <= 16) || (target == .float64 && a.bits <= 32)
        }
        return self == .float32 && target == .float64
    }

    /// Classifies a stored datatype. Call under the library lock.
    static func classify(_ type: hid_t) -> HDF5Type {
        let size = H5Tget_size(type)
        switch H5Tget_class(type) {
        case H5T_INTEGER:
            let signed = H5Tget_sign(type) == H5T_SGN_2
            switch size {
            case 1: return signed ? .int8 : .uint8
            case 2: return signed ? .int16 : .uint16
            case 4: return signed ? .int32 : .uint32
            case 8: return signed ? .int64 : .uint64
            default: return .other("\(size)-byte integer")
            }
        case H5T_FLOAT:
            return size == 4 ? .float32 : size == 8 ? .float64 : .other("\(size * 8)-bit float")
        case H5T_STRING: return .string
        case H5T_COMPOUND: return .other("compound")
        case H5T_ENUM: return .other("enum")
        case H5T_ARRAY: return .other("array")
        case H5T_VLEN: return .other("variable-length sequence")
        case H5T_OPAQUE: return .other("opaque")
        case H5T_BITFIELD: return .other("bitfield")
        case H5T_REFERENCE: return .other("reference")
        default: return .other("unknown type")
        }
    }
}

/// A Swift type that maps to a numeric HDF5 type. `Bool` is stored as uint8 (0 or 1; any nonzero value reads as true).
public protocol HDF5Scalar: Sendable {
    /// The HDF5 type this Swift type is written as and read into.
    static var hdf5Type: HDF5Type { get }
}

extension Float: HDF5Scalar { public static var hdf5Type: HDF5Type { .float32 } }
extension Double: HDF5Scalar { public static var hdf5Type: HDF5Type { .float64 } }
extension Int8: HDF5Scalar { public static var hdf5Type: HDF5Type { .int8 } }
extension Int16: HDF5Scalar { public static var hdf5Type: HDF5Type { .int16 } }
extension Int32: HDF5Scalar { public static var hdf5Type: HDF5Type { .int32 } }
extension Int64: HDF5Scalar { public static var hdf5Type: HDF5Type { .int64 } }
extension Int: HDF5Scalar { public static var hdf5Type: HDF5Type { .int64 } }
extension UInt8: HDF5Scalar { public static var hdf5Type: HDF5Type { .uint8 } }
extension UInt16: HDF5Scalar { public static var hdf5Type: HDF5Type { .uint16 } }
extension UInt32: HDF5Scalar { public static var hdf5Type: HDF5Type { .uint32 } }
extension UInt64: HDF5Scalar { public static var hdf5Type: HDF5Type { .uint64 } }
extension UInt: HDF5Scalar { public static var hdf5Type: HDF5Type { .uint64 } }
extension Bool: HDF5Scalar { public static var hdf5Type: HDF5Type { .uint8 } }

/// Values read from a dataset or attribute, row-major, with their shape (`[]` for a scalar).
public struct HDF5Array<Element> {
    public var values: [Element]
    public var shape: [Int]

    public init(values: [Element], shape: [Int]) {
        self.values = values
        self.shape = shape
    }
}

extension HDF5Array: Equatable where Element: Equatable {}
extension HDF5Array: Sendable where Element: Sendable {}

/// The number of elements in a shape (1 for a scalar).
func elementCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }

/// The text of a NUL-terminated C string held in a fixed buffer.
func string(fromCBuffer buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// The body of the C callbacks that list names (links, attributes): appends `name` to the `[String]` at `data`.
func collectName(_ name: UnsafePointer<CChar>?, into data: UnsafeMutableRawPointer?) -> herr_t {
    guard let name, let data else { return -1 }
    data.assumingMemoryBound(to: [String].self).pointee.append(String(cString: name))
    return 0
}
