import Foundation
import Torch

/// Data-parallel training across processes (and machines): one process per rank, joined in a libtorch c10d
/// `ProcessGroupGloo` through a `TCPStore` that rank 0 hosts at `master`.
///
/// What the trainer does with it, every rank in lock step:
/// - at the start, every parameter and buffer is broadcast from rank 0, and the ranks check that they stand at the
///   same training step (a resume read the same checkpoint on every rank);
/// - every step, `synchronizeStep` averages the gradients (bucketed all-reduce) before clipping and the optimizer
///   step, sums the step's logged losses, and agrees on a stop request, in one all-reduce;
/// - validation subjects are shared out by rank, and the per-subject results all-gathered, so every rank computes
///   the same metrics, identical to a single process's;
/// - only rank 0 writes the run folder.
///
/// A rank that fails or dies makes every other rank's next collective throw (a closed connection is seen at once; a
/// silent peer after `timeoutSeconds`), so nobody waits forever.
public final class DistributedContext {
    public struct Settings: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var rank: Int
        public var worldSize: Int
        /// Bounds the rendezvous and every collective.
        public var timeoutSeconds: Double = 300
        /// The network interface Gloo binds (default: 127.0.0.1 for a loopback master, else this host's address).
        public var interface: String?
        public init(host: String, port: Int, rank: Int, worldSize: Int) {
            (self.host, self.port, self.rank, self.worldSize) = (host, port, rank, worldSize)
        }
    }

    public enum Error: Swift.Error, CustomStringConvertible {
        case cannotJoin(rank: Int, worldSize: Int, master: String, timeoutSeconds: Double, message: String)
        case collectiveFailed(message: String, timeoutSeconds: Double)
        case stateMismatch(states: [String])
        case undecodable(rank: Int, what: String, message: String)

        public var description: String {
            switch self {
            case let .cannotJoin(rank, worldSize, master, timeout, message):
                "rank \(rank) of \(worldSize) could not join the process group at \(master) within \(Self.seconds(timeout)) (--dist-timeout): \(message). Start all \(worldSize) ranks with the same --world-size and --master (or WORLD_SIZE, MASTER_ADDR, MASTER_PORT), each with its own --rank; rank 0 listens at the master address, which every rank must reach"
            case let .collectiveFailed(message, timeout):
                "training across processes stopped: \(message). Another rank stopped, failed or is unreachable, or did not answer within \(Self.seconds(timeout)) (--dist-timeout); the other ranks' output says why"
            case let .stateMismatch(states):
                "the ranks do not stand at the same training step (\(states.joined(separator: "; "))): every rank must resume from the same checkpoint_last.h5 (the --run folder on a shared file system, or a copy of it)"
            case let .undecodable(rank, what, message): "cannot read the \(what) of rank \(rank): \(message)"
            }
        }

        static func seconds(_ value: Double) -> String { value == value.rounded() ? "\(Int(value)) s" : "\(value) s" }
    }

    public let settings: Settings
    public let group: ProcessGroup
    public var rank: Int { group.rank }
    public var worldSize: Int { group.worldSize }
    /// Whether this rank writes the run folder.
    public var isMain: Bool { rank == 0 }
    /// Seconds spent in the last step's all-reduce (waiting for the slowest rank included).
    public private(set) var lastAllReduceSeconds = 0.0

    /// Joins the group: returns once every rank has joined, throws after the timeout otherwise.
    public init(_ settings: Settings) throws {
        self.settings = settings
        do {
            group = try ProcessGroup(host: settings.host, port: settings.port, rank: settings.rank, worldSize: settings.worldSize,
                                     timeout: settings.timeoutSeconds, interface: settings.interface)
        } catch let error as TorchError {
            throw Error.cannotJoin(rank: settings.rank, worldSize: settings.worldSize, master: "\(settings.host):\(settings.port)",
                                   timeoutSeconds: settings.timeoutSeconds, message: "\(error)")
        }
    }

    /// Runs a collective, turning libtorch's failure into `Error.collectiveFailed`.
    func collective<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as TorchError {
            throw Error.collectiveFailed(message: "\(error)", timeoutSeconds: settings.timeoutSeconds)
        }
    }

    /// Rank 0's values into every rank's tensors (parameters and buffers, in place).
    public func broadcastFromMain(_ tensors: [Tensor]) throws {
        try collective { try Torch.noGrad { try group.broadcast(tensors, from: 0) } }
    }

    /// What the ranks agreed on in one step.
    public struct StepAgreement {
        /// Each logged loss: the mean over the ranks that had it.
        public var losses: [String: Double]
        /// Some rank was asked to stop.
        public var stop: Bool
        /// Some parameter has a gradient (on some rank).
        public var anyGradient: Bool
    }

    /// One step's synchronisation, in one bucketed all-reduce: every parameter's gradient becomes the mean of the
    /// ranks' gradients (a rank without a gradient for a parameter contributes zeros; a parameter without a gradient
    /// on every rank keeps none, as in a single process), `losses` the mean over the ranks that logged each key, and
    /// `stop` true on every rank if any rank asked to stop.
    public func synchronizeStep(parameters: [Tensor], losses: [String: Double], keys: [String], stop: Bool) throws -> StepAgreement {
        let gradients = parameters.map(\.grad)
        let buffers = try zip(parameters, gradients).map { parameter, gradient in try gradient ?? parameter.detached().zerosLike() }
        // Float64 control values: [stop, has gradient × parameters, loss value × keys, loss present × keys].
        var control = [stop ? 1.0 : 0.0] + gradients.map { $0 == nil ? 0.0 : 1.0 }
        control += keys.map { losses[$0] ?? 0 } + keys.map { losses[$0] == nil ? 0.0 : 1.0 }
        let controlTensor = try Tensor(control, shape: [control.count])
        let start = ContinuousClock.now
        // Scaled by 1/N: gradients become means; the control values are only compared with 0 or divided by each other.
        try collective { try group.allReduce(buffers + [controlTensor], scale: 1 / Double(worldSize)) }
        lastAllReduceSeconds = Self.seconds(ContinuousClock.now - start)
        let reduced = try controlTensor.array(Double.self)
        let p = parameters.count, k = keys.count
        for (i, parameter) in parameters.enumerated() where gradients[i] == nil && reduced[1 + i] > 0 {
            try parameter.setGrad(buffers[i])
        }
        var agreed: [String: Double] = [:]
        for (j, key) in keys.enumerated() where reduced[1 + p + k + j] > 0 {
            agreed[key] = reduced[1 + p + j] / reduced[1 + p + k + j]
        }
        return StepAgreement(losses: agreed, stop: reduced[0] > 0, anyGradient: reduced[1..<(1 + p)].contains { $0 > 0 })
    }

    /// Each task's share of the step's annotated count (voxels, vertebrae, samples: `MaskedLoss.count`), from one
    /// small all-reduce: `scale = count on this rank · ranks / count on all ranks`, and the count on all ranks. A task's
    /// masked mean times its scale, averaged over the ranks, is the masked mean over the combined batch (exactly when
    /// the mask is 0/1, as the count is then the mean's denominator). Tasks no rank has are left out.
    public func taskShares(_ counts: [LearningTask: Int]) throws -> [LearningTask: (scale: Double, count: Int)] {
        let tasks = LearningTask.allCases
        let total = try Tensor(tasks.map { Double(counts[$0] ?? 0) })
        try collective { try group.allReduce([total]) }
        var shares: [LearningTask: (scale: Double, count: Int)] = [:]
        for (task, sum) in zip(tasks, try total.array(Double.self)) where sum > 0 {
            shares[task] = (Double(counts[task] ?? 0) * Double(worldSize) / sum, Int(sum.rounded()))
        }
        return shares
    }

    /// Whether `flag` is true on some rank.
    public func any(_ flag: Bool) throws -> Bool {
        let value = try Tensor([flag ? 1.0 : 0.0])
        try collective { try group.allReduce([value], op: .max) }
        return try value.array(Double.self)[0] > 0
    }

    /// Every rank's value, indexed by rank (JSON through an all-gather).
    public func allGather<Value: Codable>(_ value: Value, what: String) throws -> [Value] {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let encoded = Array(try encoder.encode(value))
        return try collective { try group.allGather(bytes: encoded) }.enumerated().map { rank, bytes in
            do {
                return try decoder.decode(Value.self, from: Data(bytes))
            } catch {
                throw Error.undecodable(rank: rank, what: what, message: "\(error)")
            }
        }
    }

    /// Throws unless every rank stands at the same training state.
    public func requireSameState(_ state: Checkpoint.State) throws {
        let states = try allGather([state.epoch, state.nextBatch, state.step], what: "training state")
        guard Set(states).count == 1 else {
            throw Error.stateMismatch(states: states.enumerated().map { "rank \($0): epoch \($1[0] + 1), batch \($1[1] + 1), step \($1[2])" })
        }
    }

    /// The indices of `count` items (validation subjects) this rank takes: every `worldSize`-th from `rank`.
    public func share(of count: Int) -> [Int] { Array(stride(from: rank, to: count, by: worldSize)) }

    /// Returns when every rank has reached it.
    public func barrier() throws { try collective { try group.barrier() } }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }
}
