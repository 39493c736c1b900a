import CTorch
import Foundation

/// Engine-wide state: version, threads, devices, seeding.
public enum Torch {
    /// The libtorch version this build links, e.g. "1.13.0".
    public static var version: String { String(cString: ct_version()) }

    /// libtorch's build configuration (compiler, BLAS, oneDNN, CUDA, ...).
    public static var buildConfiguration: String { takeString(ct_build_config()) }

    /// libtorch's parallel backend and thread settings.
    public static var parallelInfo: String { takeString(ct_parallel_info()) }

    private static func takeString(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
        guard let pointer else {
            ct_clear_error()
            return ""
        }
        defer { ct_free_string(pointer) }
        return String(cString: pointer).trimmingTrailingWhitespace
    }

    /// libtorch's intra-op thread count.
    public static var threads: Int { Int(ct_get_num_threads()) }

    /// Tensor handles made minus handles freed on the calling thread: a leak check unaffected by other threads.
    public static var threadLiveTensors: Int { Int(ct_thread_live_tensors()) }

    public static func setThreads(_ count: Int) throws {
        try status("setThreads(\(count))", []) { ct_set_num_threads(Int32(clamping: count)) }
    }

    public static var isCUDAAvailable: Bool { ct_cuda_is_available() == 1 }
    public static var cudaDeviceCount: Int { Int(ct_cuda_device_count()) }

    /// The devices this build can run on.
    public static var devices: [Device] { [.cpu] + (0..<cudaDeviceCount).map { .cuda($0) } }

    /// Seeds libtorch's generators (rand, randn, dropout, init).
    public static func manualSeed(_ seed: UInt64) {
        _ = ct_manual_seed(seed)
    }

    nonisolated(unsafe) private static let randomnessLock = NSRecursiveLock()

    /// libtorch's default generator is process-wide: a reproducible sequence of draws (seed, initialise, dropout, ...)
    /// holds this lock for the whole sequence, so that no other thread draws in between. Seeds first when `seed` is
    /// given. Reentrant.
    public static func exclusiveRandomness<T>(seed: UInt64? = nil, _ body: () throws -> T) rethrows -> T {
        randomnessLock.lock()
        defer { randomnessLock.unlock() }
        if let seed { manualSeed(seed) }
        return try body()
    }

    /// The default CPU generator's state, for exact resume.
    public static func rngState() throws -> Tensor { try make("rngState", []) { ct_rng_get_state() } }

    public static func setRNGState(_ state: Tensor) throws {
        try status("setRNGState", [state]) { ct_rng_set_state(state.handle) }
    }
}
