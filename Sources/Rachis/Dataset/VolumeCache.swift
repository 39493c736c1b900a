import Foundation

/// Whole decoded volumes of a dataset file kept in memory, least recently used first out, up to a byte budget: the
/// loader cuts many crops from the same few subjects, and decoding a crop's chunks again each time (gzip, HDF5's
/// selection bookkeeping) was most of its work. Thread-safe. A volume larger than the whole budget is not kept.
final class VolumeCache: @unchecked Sendable {
    struct Volume<T> {
        var values: [T]
        var shape: [Int]
    }

    private struct Entry {
        var volume: Any
        var bytes: Int
        var lastUse: UInt64
    }

    let capacity: Int
    private let lock = NSLock()
    private var entries: [String: Entry] = [:]
    private var clock: UInt64 = 0
    private(set) var bytes = 0

    init(capacity: Int) { self.capacity = capacity }

    /// The volume stored under `key`, loaded by `load` (outside the lock) when it is not held.
    func volume<T>(_ key: String, load: () throws -> Volume<T>) rethrows -> Volume<T> {
        lock.lock()
        clock += 1
        if var entry = entries[key], let volume = entry.volume as? Volume<T> {
            entry.lastUse = clock
            entries[key] = entry
            lock.unlock()
            return volume
        }
        lock.unlock()
        let volume = try load()
        let size = volume.values.count * MemoryLayout<T>.stride
        guard size <= capacity else { return volume }
        lock.lock()
        defer { lock.unlock() }
        if let old = entries.removeValue(forKey: key) { bytes -= old.bytes }
        while bytes + size > capacity, let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
            bytes -= oldest.value.bytes
            entries.removeValue(forKey: oldest.key)
        }
        clock += 1
        entries[key] = Entry(volume: volume, bytes: size, lastUse: clock)
        bytes += size
        return volume
    }

    /// The box `offset ..< offset + size` of a row-major volume of `shape` (same rank), row-major.
    static func crop<T>(_ values: [T], shape: [Int], offset: [Int], size: [Int]) -> [T] {
        precondition(shape.count == offset.count && shape.count == size.count && shape.count >= 1)
        let rank = shape.count, run = size[rank - 1]
        let rows = size.dropLast().reduce(1, *)
        var out: [T] = []
        out.reserveCapacity(rows * run)
        var index = [Int](repeating: 0, count: rank - 1)
        values.withUnsafeBufferPointer { source in
            for _ in 0..<rows {
                var start = 0
                for axis in 0..<(rank - 1) { start = (start + offset[axis] + index[axis]) * shape[axis + 1] }
                start += offset[rank - 1]
                out.append(contentsOf: source[start..<(start + run)])
                var axis = rank - 2
                while axis >= 0 {
                    index[axis] += 1
                    if index[axis] < size[axis] { break }
                    index[axis] = 0
                    axis -= 1
                }
            }
        }
        return out
    }
}
