import Foundation
import Testing
@testable import Torch

/// Tensor handles are freed when the Swift object goes away.
struct MemoryTests {
    /// 100,000 small temporaries: every handle made on this thread is freed. (Resident memory is no measure here:
    /// the whole test process's memory also moves with the tests running beside this one.)
    @Test func smallTemporariesDoNotLeak() throws {
        func churn(_ n: Int) throws {
            for _ in 0..<n {
                let t = try Tensor.ones([8]) + 1
                _ = try t.sum(dims: [0])
            }
        }
        try churn(10_000)
        let before = Torch.threadLiveTensors
        try churn(100_000)
        #expect(Torch.threadLiveTensors == before, "\(Torch.threadLiveTensors - before) tensor handles leaked over 100,000 iterations")
        // The count sees a handle that is still held.
        let held = try Tensor.ones([8])
        #expect(Torch.threadLiveTensors == before + 1)
        _ = held
    }

    /// Autograd graphs and gradients are freed too: no handle to a leaf, gradient or graph output outlives its
    /// iteration. (The error path is left out: libtorch 1.13 builds a
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
        // Resident memory of the whole test process also moves with the tests running beside this one; the handle
        // count of this thread does not.
        let before = Torch.threadLiveTensors
        try churn(20_000)
        #expect(Torch.threadLiveTensors == before, "\(Torch.threadLiveTensors - before) tensor handles leaked over 20,000 iterations")
    }
}
