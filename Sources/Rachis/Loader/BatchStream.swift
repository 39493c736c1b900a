import Foundation

/// Batches prepared ahead on background threads, handed out in order.
///
/// At most `depth` batches are ready or in preparation ahead of the consumer; `next()` blocks until the next one is
/// ready and rethrows a failure to prepare it (ending the stream). Dropping the stream, or `cancel()`, stops the
/// workers and waits for them to finish the batch each is preparing, so nothing runs on after the stream is gone.
public final class BatchStream: @unchecked Sendable {
    private final class State: @unchecked Sendable {
        let condition = NSCondition()
        var ready: [Int: Result<Batch, any Error>] = [:]
        var nextToClaim: Int, nextToYield: Int
        let end: Int, depth: Int
        var stopped = false
        var running = 0

        init(range: Range<Int>, depth: Int) {
            (nextToClaim, nextToYield, end, self.depth) = (range.lowerBound, range.lowerBound, range.upperBound, depth)
        }
    }

    private let state: State

    init(range: Range<Int>, depth: Int, workers: Int, make: @escaping @Sendable (Int) throws -> Batch) {
        let state = State(range: range, depth: max(1, depth))
        self.state = state
        state.running = min(max(1, workers), max(1, range.count))
        for _ in 0..<state.running {
            let thread = Thread {
                defer {
                    state.condition.lock()
                    state.running -= 1
                    state.condition.broadcast()
                    state.condition.unlock()
                }
                while true {
                    state.condition.lock()
                    while !state.stopped && state.nextToClaim < state.end && state.nextToClaim >= state.nextToYield + state.depth {
                        state.condition.wait()
                    }
                    guard !state.stopped, state.nextToClaim < state.end else { state.condition.unlock(); return }
                    let index = state.nextToClaim
                    state.nextToClaim += 1
                    state.condition.unlock()
                    let result = Result { try make(index) }
                    state.condition.lock()
                    state.ready[index] = result
                    state.condition.broadcast()
                    state.condition.unlock()
                }
            }
            thread.name = "rachis.loader"
            thread.start()
        }
    }

    deinit { cancel() }

    /// The next batch in order, nil at the end of the range (or after a failure was thrown, or `cancel()`).
    public func next() throws -> Batch? {
        state.condition.lock()
        defer { state.condition.unlock() }
        while !state.stopped && state.nextToYield < state.end && state.ready[state.nextToYield] == nil { state.condition.wait() }
        guard !state.stopped, state.nextToYield < state.end, let result = state.ready.removeValue(forKey: state.nextToYield) else { return nil }
        state.nextToYield += 1
        state.condition.broadcast()
        do {
            return try result.get()
        } catch {
            state.stopped = true
            throw error
        }
    }

    /// Ends the stream: stops the workers and waits until each has finished the batch it was preparing.
    public func cancel() {
        state.condition.lock()
        state.stopped = true
        state.condition.broadcast()
        while state.running > 0 { state.condition.wait() }
        state.ready.removeAll()
        state.condition.unlock()
    }
}
