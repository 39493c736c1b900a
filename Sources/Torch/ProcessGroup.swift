import CTorch

/// A group of processes that train together: libtorch's c10d `ProcessGroupGloo`, joined through a `TCPStore`
/// rendezvous that rank 0 hosts at `host:port`.
///
/// Collectives run on CPU tensors, block until every rank has taken part, and throw (naming the collective and the
/// rank) when a peer stopped, failed or did not answer within `timeout` seconds; nothing waits forever.
/// Every rank must call the same collectives in the same order with tensors of the same shapes and dtypes.
public final class ProcessGroup {
    public enum ReduceOp: Int32, Sendable { case sum = 0, max = 1, min = 2 }

    let handle: OpaquePointer
    public let rank: Int
    public let worldSize: Int
    /// Collectives over tensor lists pack them into contiguous buckets of about this many bytes.
    public var bucketBytes = 25 << 20

    /// Joins the group; returns when all `worldSize` ranks have joined, throws after `timeout` seconds otherwise.
    /// - Parameter interface: the network interface Gloo binds (default: 127.0.0.1 for a loopback `host`, else the
    ///   address this machine's hostname resolves to).
    public init(host: String, port: Int, rank: Int, worldSize: Int, timeout: Double, interface: String? = nil) throws {
        guard let handle = ct_dist_init(host, Int32(clamping: port), Int32(clamping: rank), Int32(clamping: worldSize), timeout, interface) else {
            throw TorchError.last("joining the process group", [])
        }
        (self.handle, self.rank, self.worldSize) = (handle, rank, worldSize)
    }

    deinit { ct_dist_free(handle) }

    /// In place on every rank: `tensors[i] = scale · op(tensors[i] of every rank)`.
    public func allReduce(_ tensors: [Tensor], op: ReduceOp = .sum, scale: Double = 1) throws {
        guard !tensors.isEmpty else { return }
        var handles: [OpaquePointer?] = tensors.map(\.handle)
        try status("all-reduce", []) { ct_dist_all_reduce(handle, &handles, Int32(handles.count), op.rawValue, Int64(bucketBytes), scale) }
    }

    /// In place on every rank: `tensors[i] = tensors[i] of rank root`.
    public func broadcast(_ tensors: [Tensor], from root: Int = 0) throws {
        guard !tensors.isEmpty else { return }
        var handles: [OpaquePointer?] = tensors.map(\.handle)
        try status("broadcast", []) { ct_dist_broadcast(handle, &handles, Int32(handles.count), Int32(root), Int64(bucketBytes)) }
    }

    /// Every rank's `tensor` (same shape and dtype on every rank), indexed by rank.
    public func allGather(_ tensor: Tensor) throws -> [Tensor] {
        var out = [OpaquePointer?](repeating: nil, count: worldSize)
        try status("all-gather", [tensor]) { ct_dist_all_gather(handle, tensor.handle, &out) }
        return out.map { Tensor(handle: $0!) }
    }

    /// Every rank's bytes (of any length), indexed by rank: two all-gathers, of the lengths then of the padded bytes.
    public func allGather(bytes: [UInt8]) throws -> [[UInt8]] {
        let lengths = try allGather(Tensor([Int64(bytes.count)])).map { try $0.array(Int64.self)[0] }
        let longest = Int(lengths.max() ?? 0)
        guard longest > 0 else { return lengths.map { _ in [] } }
        let padded = try Tensor(bytes + [UInt8](repeating: 0, count: longest - bytes.count), shape: [longest])
        return try zip(allGather(padded), lengths).map { tensor, length in Array(try tensor.array(UInt8.self).prefix(Int(length))) }
    }

    /// Returns when every rank has reached it.
    public func barrier() throws {
        try status("barrier", []) { ct_dist_barrier(handle) }
    }
}
