import CHDF5
import Foundation

/// The one lock around every libhdf5 call, so that the module is safe whether or not libhdf5 was built thread-safe
/// (Debian 12's is, other builds are not), and so that an error stack is walked by the thread that made it.
/// Recursive, because a handle's `deinit` (which closes its id under the lock) may run inside a locked region.
/// Creating it initialises the library once; every thread that enters turns libhdf5's own stderr printing off.
enum Library {
    static let lock: NSRecursiveLock = {
        let lock = NSRecursiveLock()
        lock.name = "HDF5.Library.lock"
        _ = H5open()
        return lock
    }()

    /// Runs `body` holding the library lock.
    static func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        chdf5_silence_errors()
        return try body()
    }

    /// Runs one libhdf5 call under the lock; a negative result becomes an `HDF5Error` carrying the error stack.
    @discardableResult
    static func call<T: BinaryInteger>(_ operation: String, _ context: Context, _ body: () -> T) throws -> T {
        try locked {
            let result = body()
            if result < 0 { throw HDF5Error(.library, operation, context, frames: ErrorStack.take()) }
            return result
        }
    }
}
