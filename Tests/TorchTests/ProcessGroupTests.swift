import Foundation
import Testing
import Torch

/// Two ranks of a Gloo process group in one process, on two threads, over loopback.
struct ProcessGroupTests {
    /// A TCP port that was free a moment ago.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        try #require(bound == 0)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    final class Results: @unchecked Sendable {
        let lock = NSLock()
        var values: [Int: Result<[String], any Error>] = [:]
        func set(_ rank: Int, _ result: Result<[String], any Error>) { lock.lock(); values[rank] = result; lock.unlock() }
    }

    /// Runs `body(rank, group)` for ranks 0 and 1 on their own threads; returns what each returned.
    static func twoRanks(timeout: Double = 30, _ body: @escaping @Sendable (Int, ProcessGroup) throws -> [String]) throws -> [Result<[String], any Error>] {
        let port = try freePort()
        let results = Results()
        let done = DispatchGroup()
        for rank in 0..<2 {
            done.enter()
            let thread = Thread {
                results.set(rank, Result { try body(rank, ProcessGroup(host: "127.0.0.1", port: port, rank: rank, worldSize: 2, timeout: timeout)) })
                done.leave()
            }
            thread.start()
        }
        #expect(done.wait(timeout: .now() + 120) == .success, "a rank did not return")
        return (0..<2).map { results.values[$0] ?? .failure(TorchError.invalidArgument(op: "test", message: "no result")) }
    }

    @Test func collectivesCombineBothRanks() throws {
        let results = try Self.twoRanks { rank, group in
            let r = Double(rank)
            group.bucketBytes = 8  // one bucket per tensor or two: the packing is exercised
            let a = try Tensor([Float](repeating: Float(r + 1), count: 3))
            let b = try Tensor([Float]([1, 2, 3, 4]).map { $0 * Float(10 * (r + 1)) }, shape: [2, 2]).transpose(0, 1)  // not contiguous
            let c = try Tensor([r, 2 * r])
            try group.allReduce([a, b, c], scale: 0.5)
            let m = try Tensor([Float(r), Float(1 - r)])
            try group.allReduce([m], op: .max)
            let x = try Tensor([Float(r + 5)])
            try group.broadcast([x], from: 1)
            let gathered = try group.allGather(bytes: rank == 0 ? [1, 2, 3] : [9])
            try group.barrier()
            return ["\(try a.array(Float.self))", "\(try b.contiguous().array(Float.self))", "\(try c.array(Double.self))",
                    "\(try m.array(Float.self))", "\(try x.array(Float.self))", "\(gathered)"]
        }
        for result in results {
            let values = try result.get()
            #expect(values == ["[1.5, 1.5, 1.5]", "[15.0, 45.0, 30.0, 60.0]", "[0.5, 1.0]", "[1.0, 1.0]", "[6.0]", "[[1, 2, 3], [9]]"])
        }
    }

    @Test func aPeerThatLeftMakesTheNextCollectiveThrow() throws {
        let results = try Self.twoRanks(timeout: 10) { rank, group in
            try group.barrier()
            if rank == 1 { return [] }  // rank 1's group is freed: its connections close
            Thread.sleep(forTimeInterval: 0.5)
            let started = Date()
            do {
                try group.allReduce([try Tensor([Float(1)])])
                return ["no error"]
            } catch {
                return ["\(error)", "\(Date().timeIntervalSince(started))"]
            }
        }
        let values = try results[0].get()
        #expect(values.count == 2 && values[0].contains("all-reduce failed: all-reduce on rank 0 of 2"), "\(values)")
        #expect((Double(values.last ?? "") ?? 99) < 10)
    }

    @Test func aRankOutsideTheGroupIsRefused() throws {
        #expect(throws: TorchError.libtorch(op: "joining the process group", shapes: [], message: "rank 2 is not in 0..<2")) {
            try ProcessGroup(host: "127.0.0.1", port: 29500, rank: 2, worldSize: 2, timeout: 1)
        }
    }
}
