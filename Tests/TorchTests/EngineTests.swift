import Foundation
import CTorch
import Testing
@testable import Torch

/// dtype round trips, layout, grad mode, seeding, threads and errors.
struct EngineTests {
    static func roundTrip<T: TensorScalar & Equatable>(_ values: [T], shape: [Int]) throws -> Bool {
        let t = try Tensor(values, shape: shape)
        let back = try t.array(T.self)
        return t.dtype == T.dtype && t.shape == shape && t.count == values.count && back == values
    }

    @Test func allocatorTuningYieldsToTheEnvironment() {
        #expect(!Torch.tuneAllocator(environment: ["MALLOC_ARENA_MAX": "4"]))
        #expect(!Torch.tuneAllocator(environment: ["GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=65536"]))
        #if os(Linux)
        #expect(Torch.tuneAllocator(environment: ["GLIBC_TUNABLES": "glibc.rtld.optional_static_tls=512"]))
        #endif
    }

    @Test func profileWritesAChromeTraceOfTheOperators() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("rachis-trace-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let sum = try Torch.profile(to: path) {
            let x = try Tensor([1, 2, 3, 4] as [Float], shape: [2, 2]).requiringGrad()
            let y = try (x.matmul(x) * 3).sum()
            try y.backward()
            return try y.item()
        }
        #expect(sum == 162)  // 3 · sum([[7, 10], [15, 22]])
        let events = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [[String: Any]]
        let names = Set((events ?? []).compactMap { $0["name"] as? String })
        #expect(names.contains("aten::mm") && names.contains("aten::mul") && names.contains("aten::sum"), "\(names.sorted())")
        #expect(names.contains { $0.contains("Backward") }, "no autograd node in \(names.sorted())")
        // Nested profiles are refused; an unwritable path fails before anything runs.
        #expect(throws: TorchError.self) { try Torch.profile(to: path) { try Torch.profile(to: path + ".2") {} } }
        var ran = false
        #expect(throws: TorchError.self) { try Torch.profile(to: "/nonexistent-folder/trace.json") { ran = true } }
        #expect(!ran)
    }

    @Test func dtypeRoundTrips() throws {
        #expect(try Self.roundTrip([1.5, -2.25, 3e30, .infinity, -0.0, 7] as [Float], shape: [2, 3]))
        #expect(try Self.roundTrip([1.5, -2.25, 1e300, .leastNonzeroMagnitude, 0, 7] as [Double], shape: [3, 2]))
        #expect(try Self.roundTrip([.max, .min, 0, -1, 42, 7] as [Int64], shape: [6]))
        #expect(try Self.roundTrip([.max, .min, 0, -1, 42, 7] as [Int32], shape: [1, 6]))
        #expect(try Self.roundTrip([.max, .min, 0, -1, 42, 7] as [Int16], shape: [2, 1, 3]))
        #expect(try Self.roundTrip([.max, .min, 0, -1, 42, 7] as [Int8], shape: [3, 2]))
        #expect(try Self.roundTrip([.max, .min, 0, 1, 42, 7] as [UInt8], shape: [2, 3]))
        #expect(try Self.roundTrip([true, false, false, true, true, false], shape: [2, 3]))
        #expect(try Self.roundTrip([2.5] as [Double], shape: []))
        #expect(try Self.roundTrip([] as [Float], shape: [0, 3]))
        let scalar = try Tensor(scalar: Int32(5))
        #expect(scalar.shape == [] && scalar.rank == 0)
        #expect(try scalar.item() == 5)
    }

    @Test func conversionsBetweenDTypes() throws {
        let x = try Tensor([1.75, -2.5, 3] as [Double])
        #expect(try x.to(.int64).array(Int64.self) == [1, -2, 3])
        #expect(try x.array(Float.self) == [1.75, -2.5, 3])
        #expect(try x.gt(0).dtype == .bool)
        #expect(try x.to(.float16).to(.float64).array(Double.self) == [1.75, -2.5, 3])
        #expect(try x.to(.bfloat16).dtype == .bfloat16)
        let bytes: [UInt8] = [1, 0, 2, 0]
        let fromBytes = try bytes.withUnsafeBytes { try Tensor(copying: $0, shape: [2], dtype: .int16) }
        #expect(try fromBytes.array(Int16.self) == [1, 2])
        #expect(throws: TorchError.self) { try bytes.withUnsafeBytes { try Tensor(copying: $0, shape: [3], dtype: .int16) } }
    }

    @Test func creation() throws {
        #expect(try Tensor.zeros([2, 2]).array(Float.self) == [0, 0, 0, 0])
        #expect(try Tensor.full([3], 2.5, dtype: .float64).array(Double.self) == [2.5, 2.5, 2.5])
        #expect(try Tensor.arange(1, 2, step: 0.25, dtype: .float64).array(Double.self) == [1, 1.25, 1.5, 1.75])
        #expect(try Tensor.linspace(0, 1, count: 5, dtype: .float64).array(Double.self) == [0, 0.25, 0.5, 0.75, 1])
        #expect(try Tensor.eye(2, dtype: .int64).array(Int64.self) == [1, 0, 0, 1])
        let r = try TorchRNG.seeded(5) { try Tensor.randint(2, 5, shape: [200]).array(Int64.self) }
        #expect(r.allSatisfy { (2..<5).contains($0) } && Set(r).count == 3)
        let u = try TorchRNG.seeded(5) { try Tensor.rand([500], dtype: .float64).array(Double.self) }
        #expect(u.allSatisfy { (0..<1).contains($0) })
    }

    @Test func shapeAndStrides() throws {
        let x = try Tensor.zeros([2, 3, 4])
        #expect(x.shape == [2, 3, 4] && x.rank == 3 && x.count == 24)
        #expect(x.strides == [12, 4, 1] && x.isContiguous)
        let t = try x.transpose(0, 2)
        #expect(t.shape == [4, 3, 2] && t.strides == [1, 4, 12] && !t.isContiguous)
        #expect(try t.contiguous().strides == [6, 2, 1])
        #expect(try x.expand([5, 2, 3, 4]).strides == [0, 12, 4, 1])
    }

    @Test func channelsLast3dKeepsValuesAndConvolutionResults() throws {
        let x = try randomTensor([2, 3, 2, 3, 4], seed: 51).to(.float32)
        let w = try randomTensor([4, 3, 2, 2, 2], seed: 52).to(.float32)
        let b = try randomTensor([4], seed: 53).to(.float32)
        let cl = try x.channelsLast3d()
        #expect(cl.isChannelsLast3d && !x.isChannelsLast3d)
        #expect(!cl.isContiguous)
        #expect(cl.strides == [72, 1, 36, 12, 3])
        #expect(try cl.array(Float.self) == x.array(Float.self))
        let reference = try x.conv3d(w, bias: b, padding: 1)
        let channelsLast = try cl.conv3d(w.channelsLast3d(), bias: b, padding: 1)
        #expect(try allClose(channelsLast, reference, rtol: 1e-5, atol: 1e-5))
    }

    struct Failure: Error {}

    @Test func noGradRestoresModeEvenWhenTheBodyThrows() throws {
        #expect(Torch.isGradEnabled)
        let x = try doubles([1, 2]).requiringGrad()
        let y = try Torch.noGrad { try x * 2 }
        #expect(!y.requiresGrad)
        #expect(throws: Failure.self) {
            try Torch.noGrad {
                #expect(!Torch.isGradEnabled)
                throw Failure()
            }
        }
        #expect(Torch.isGradEnabled)
        try Torch.noGrad {
            let z = try Torch.withGrad {
                #expect(Torch.isGradEnabled)
                return try x * 2
            }
            #expect(z.requiresGrad)
            #expect(!Torch.isGradEnabled)
            #expect(throws: Failure.self) { try Torch.withGrad { throw Failure() } }
            #expect(!Torch.isGradEnabled)
        }
        #expect(Torch.isGradEnabled)
    }

    @Test func manualSeedReproducesDraws() throws {
        let (a, b, c) = try TorchRNG.seeded(123) {
            let a = try Tensor.randn([16], dtype: .float64).array(Double.self)
            Torch.manualSeed(123)
            let b = try Tensor.randn([16], dtype: .float64).array(Double.self)
            Torch.manualSeed(124)
            let c = try Tensor.randn([16], dtype: .float64).array(Double.self)
            return (a, b, c)
        }
        #expect(a == b)
        #expect(a != c)
    }

    @Test func rngStateRestoresTheSameSequence() throws {
        let (first, again, next) = try TorchRNG.seeded(7) {
            _ = try Tensor.rand([3])
            let state = try Torch.rngState()
            #expect(state.dtype == .uint8)
            let first = try Tensor.randn([8], dtype: .float64).array(Double.self)
            let next = try Tensor.randn([8], dtype: .float64).array(Double.self)
            try Torch.setRNGState(state)
            let again = try Tensor.randn([8], dtype: .float64).array(Double.self)
            return (first, again, next)
        }
        #expect(first == again)
        #expect(first != next)
        #expect(throws: TorchError.self) { try Torch.setRNGState(try Tensor.zeros([3])) }
    }

    @Test func threadCountSetAndGet() throws {
        let original = Torch.threads
        #expect(original >= 1)
        try Torch.setThreads(2)
        #expect(Torch.threads == 2)
        try Torch.setThreads(1)
        #expect(Torch.threads == 1)
        try Torch.setThreads(original)
        #expect(Torch.threads == original)
        #expect(throws: TorchError.self) { try Torch.setThreads(0) }
    }

    @Test func libraryInformation() {
        #expect(Torch.version.hasPrefix("1.") || Torch.version.hasPrefix("2."))
        #expect(!Torch.buildConfiguration.isEmpty)
        #expect(!Torch.parallelInfo.isEmpty)
        #expect(Torch.devices.first == .cpu)
        #expect(Device("cuda:2") == .cuda(2) && Device("cpu") == .cpu && Device("gpu") == nil && Device("cuda:-1") == nil)
    }

    @Test func conv3dChannelMismatchNamesOpAndShapes() throws {
        let x = try Tensor.zeros([1, 2, 4, 4, 4]), w = try Tensor.zeros([3, 5, 3, 3, 3])
        #expect {
            try x.conv3d(w)
        } throws: { error in
            guard case let TorchError.libtorch(op, shapes, message) = error else { return false }
            let text = "\(error)"
            return op == "conv3d" && shapes == [[1, 2, 4, 4, 4], [3, 5, 3, 3, 3]] && !message.isEmpty
                && text.contains("conv3d") && text.contains("[1, 2, 4, 4, 4]") && text.contains("[3, 5, 3, 3, 3]")
        }
        // The shim's last error is cleared once read.
        #expect(ct_last_error() == nil)
    }

    @Test func errorsThrowInsteadOfCrashing() throws {
        let x = try Tensor.zeros([2, 3])
        #expect(throws: TorchError.self) { try x.reshape([4, 2]) }
        #expect(throws: TorchError.invalidArgument(op: "Tensor(_:shape:)", message: "3 values do not fill shape [2, 2]")) {
            try Tensor([1, 2, 3] as [Float], shape: [2, 2])
        }
        #expect(throws: TorchError.self) { try Tensor([1] as [Float], shape: [-1]) }
        #expect(throws: TorchError.self) { try x.item() }
        #expect(throws: TorchError.self) { try x + Tensor.zeros([4]) }
        #expect(throws: TorchError.self) { try x.select(dim: 3, index: 0) }
        #expect(throws: TorchError.self) { try x.pad([1, 1, 1], mode: .reflect) }
        let y = try doubles([1, 2]).requiringGrad()
        #expect {
            try (y * 2).backward()
        } throws: { error in
            guard case let TorchError.libtorch(op, _, message) = error else { return false }
            return op == "backward" && message.contains("gradient")
        }
        // With an explicit gradient, a non-scalar backward works.
        try (y * 2).backward(gradient: try doubles([1, 10]))
        #expect(try y.grad?.array(Double.self) == [2, 20])
        // A NaN value is a value, not an error.
        #expect(try Tensor(scalar: Double.nan).item().isNaN)
        // After an error, later calls still work.
        #expect(try (x + 1).sum().item() == 6)
    }
}
