import CHDF5

/// One attribute of a file, group or dataset. Errors name it as `objectPath@attributeName`.
public final class Attribute: @unchecked Sendable {
    public let name: String
    let endpoint: Endpoint
    private let owner: File

    init(handle: Handle, name: String, owner: File, context: Context) {
        self.name = name
        self.owner = owner
        self.endpoint = Endpoint(handle: handle, isDataset: false, context: context)
    }

    var context: Context { endpoint.context }

    /// The shape (`[]` for a scalar).
    public var shape: [Int] { get throws { try endpoint.shape() } }

    /// The stored element type.
    public var elementType: HDF5Type { get throws { try endpoint.elementType() } }

    /// Reads all values (see `HDF5Type.convertsLosslessly(to:)` for which stored types convert to `T`).
    public func read<T: HDF5Scalar>(as type: T.Type) throws -> HDF5Array<T> { try endpoint.read(nil) }

    /// Reads all values of a string attribute (variable- or fixed-length, UTF-8 or ASCII).
    public func readStrings() throws -> HDF5Array<String> { try endpoint.readStrings(nil) }

    /// Overwrites all values; the count must match the attribute's shape.
    public func write<T: HDF5Scalar>(_ values: [T]) throws {
        try values.withUnsafeBufferPointer { try endpoint.write($0, nil) }
    }

    /// Overwrites all values of a string attribute.
    public func write(_ values: [String]) throws { try endpoint.writeStrings(values, nil) }
}
