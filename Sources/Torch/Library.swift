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

    /// Tunes glibc's malloc for libtorch's pattern of large, short-lived tensors: blocks up to 32 MiB come from
    /// the heap, which keeps up to 256 MiB of free top, in one arena. With glibc's defaults most activations of a
    /// 3-D training step are fresh mmap'd pages, zeroed by the kernel on first touch: this setting halved the page
    /// faults of `rachis bench run` and shortened its forward pass by about 10 % at the same peak memory
    /// (benchmarks/README.md). Left alone when the environment already sets malloc (MALLOC_*_ or GLIBC_TUNABLES
    /// with glibc.malloc); returns whether it applied. Call it once, early, before other threads allocate.
    @discardableResult
    public static func tuneAllocator(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        let userSet = environment.keys.contains { $0.hasPrefix("MALLOC_") }
            || (environment["GLIBC_TUNABLES"]?.contains("glibc.malloc") ?? false)
        guard !userSet else { return false }
        defer { ct_clear_error() }
        return ct_configure_malloc(32 << 20, 256 << 20, 1) == 0
    }

    /// Records every libtorch operator and autograd node that `body` runs on this thread and writes them to `path` as
    /// a Chrome trace (open it in Perfetto or chrome://tracing). One profile at a time per process.
    public static func profile<T>(to path: String, _ body: () throws -> T) throws -> T {
        try status("profile(\(path))", []) { ct_profile_start(path) }
        var stopped = false
        defer { if !stopped { _ = ct_profile_stop(); ct_clear_error() } }
        let value = try body()
        stopped = true
        try status("profile(\(path))", []) { ct_profile_stop() }
        return value
    }

    public static var isCUDAAvailable: Bool { ct_cuda_is_available() == 1 }
    public static var cudaDeviceCount: Int { Int(ct_cuda_device_count()) }

    /// The devices this build can run on.
    public static var devices: [Device] { [.cpu] + (0..<cudaDeviceCount).map { .cuda($0) } }

    /// Seeds libtorch's generators (rand, randn, dropout, init).
    public static func manualSeed(_ seed: UInt64) {
        _ = ct_manual_seed(seed)
    }

    private static let randomnessLock = NSRecursiveLock()

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
