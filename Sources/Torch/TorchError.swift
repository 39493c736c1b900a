import CTorch

/// An error from the tensor engine: the op that failed, the shapes it was given, and libtorch's message.
public enum TorchError: Error, CustomStringConvertible, Equatable {
    /// libtorch rejected the call (shape mismatch, bad argument, out of memory, ...).
    case libtorch(op: String, shapes: [[Int]], message: String)
    /// Rachis's own checks rejected the call before it reached libtorch.
    case invalidArgument(op: String, message: String)

    public var description: String {
        switch self {
        case let .libtorch(op, shapes, message):
            let given = shapes.map { "[" + $0.map(String.init).joined(separator: ", ") + "]" }.joined(separator: ", ")
            return "\(op) failed" + (shapes.isEmpty ? "" : " for shapes \(given)") + ": \(message)"
        case let .invalidArgument(op, message):
            return "\(op): \(message)"
        }
    }

    /// Reads and clears the shim's thread-local last error.
    static func last(_ op: String, _ inputs: [Tensor]) -> TorchError {
        let message = ct_last_error().map { String(cString: $0) } ?? "libtorch returned no result and no message"
        ct_clear_error()
        return .libtorch(op: op, shapes: inputs.map { $0.shapeIfAvailable }, message: message.trimmingTrailingWhitespace)
    }
}

extension String {
    var trimmingTrailingWhitespace: String {
        var s = Substring(self)
        while let last = s.last, last.isWhitespace { s.removeLast() }
        return String(s)
    }
}

/// Runs a shim call that returns a new tensor; throws the shim's error when it returns NULL.
@inline(__always)
func make(_ op: String, _ inputs: [Tensor], _ call: () -> OpaquePointer?) throws -> Tensor {
    guard let handle = call() else { throw TorchError.last(op, inputs) }
    return Tensor(handle: handle)
}

/// Runs a shim call that returns a status; throws the shim's error when it returns -1.
@inline(__always)
func status(_ op: String, _ inputs: [Tensor], _ call: () -> Int32) throws {
    if call() < 0 { throw TorchError.last(op, inputs) }
}
