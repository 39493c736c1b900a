import Dispatch
import Foundation

/// Turns SIGINT and SIGTERM into a request the training loop polls between steps, so it can save a checkpoint and
/// exit cleanly instead of dying mid-write.
public final class StopRequest: @unchecked Sendable {
    private let lock = NSLock()
    private var signalName: String?
    private var sources: [DispatchSourceSignal] = []

    public init() {}

    /// Starts listening for SIGINT and SIGTERM (their default actions are replaced while this object lives).
    public func install() {
        for (number, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in self?.request(name) }
            source.resume()
            sources.append(source)
        }
    }

    /// Marks a stop as requested (what the signal handlers call; tests call it directly).
    public func request(_ reason: String) {
        lock.lock()
        if signalName == nil { signalName = reason }
        lock.unlock()
    }

    /// The signal that asked to stop, if any.
    public var requested: String? {
        lock.lock()
        defer { lock.unlock() }
        return signalName
    }

    deinit {
        for source in sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
