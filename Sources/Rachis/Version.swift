public enum Rachis { public static let version = "0.1.0" }
