import Foundation
import Testing
@testable import Torch

/// Tensor handles are freed when the Swift object goes away.
struct MemoryTests {
    static func residentBytes() throws -> Int {
        let statm = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8)
        let fields = statm.split(separator: " ")
        let pages = try #require(fields.count > 1 ? Int(fields[1]) : nil)
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// 100,000 small temporaries: a leaked handle (an at::Tensor, its TensorImpl and storage, some hundreds of
    /// bytes each) would grow resident memory by tens of megabytes.
    @Test func smallTemporariesDoNotLeak() throws {
        func churn(_ n: Int) throws {
            for _ in 0..<n {
                let t = try Tensor.ones([8]) + 1
                _ = try t.sum(dims: [0])
            }
        }
        try churn(10_000)
        let before = try Self.residentBytes()
        try churn(100_000)
        let growth = try Self.residentBytes() - before
        #expect(growth < 20 << 20, "resident memory grew by \(growth / 1024) KiB over 100,000 iterations")
    }

    /// Autograd graphs and gradients are freed too: a leaked graph (leaf, nodes, saved tensors, gradients)
    /// would cost well over a kilobyte per iteration. (The error path is left out: libtorch 1.13 builds a
    /// symbolised backtrace for every c10::Error, some milliseconds each.)
    @Test func autogradGraphsDoNotLeak() throws {
        func churn(_ n: Int) throws {
            for _ in 0..<n {
                let x = try Tensor.ones([8], dtype: .float64).requiringGrad()
                let g = try Torch.gradients(of: try (x * x).sum(), wrt: [x], createGraph: true)[0]
                try g.sum().backward()
            }
        }
        try churn(2_000)
        let before = try Self.residentBytes()
        try churn(20_000)
        let growth = try Self.residentBytes() - before
        #expect(growth < 20 << 20, "resident memory grew by \(growth / 1024) KiB over 20,000 iterations")
    }
}
