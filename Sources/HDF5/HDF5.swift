import CHDF5

// Swift HDF5 over libhdf5 (Debian 12: 1.10.8).
//
// - `File` (also the root group) and `Group` are `Container`s: create, open, list and check groups and datasets by
//   relative or absolute paths, creating intermediate groups. `File.writeAtomically(to:_:)` writes all-or-nothing.
// - `Dataset` reads and writes numbers (`HDF5Scalar`: Float, Double, Int8...Int64, UInt8...UInt64, Int, UInt, Bool
//   as uint8) and strings, whole or by hyperslab, into arrays (`HDF5Array`: values plus shape) or caller buffers;
//   it can be chunked, gzip+shuffle compressed, and resized along unlimited axes.
// - Files, groups and datasets carry attributes (scalars, arrays, strings); `Attribute` is one opened attribute.
// - Numeric reads and writes convert only without loss (`HDF5Type.convertsLosslessly(to:)`), else `.typeMismatch`.
// - Every failure is an `HDF5Error` naming the operation, the file, the object path and libhdf5's error stack.
// - Each libhdf5 id is owned by one handle, closed once; one recursive lock serialises all libhdf5 calls.

/// The version of the linked libhdf5.
public enum HDF5Library {
    /// The libhdf5 version, like "1.10.8".
    public static var version: String {
        var major: UInt32 = 0, minor: UInt32 = 0, release: UInt32 = 0
        Library.locked { _ = H5get_libversion(&major, &minor, &release) }
        return "\(major).\(minor).\(release)"
    }
}
