public enum HDF5Library { public static var version: String { "pending" } }
