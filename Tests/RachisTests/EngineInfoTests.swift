import Testing
@testable import Rachis

struct EngineInfoTests {
    /// The BLAS is named from the file the process maps: Debian's alternatives resolve `libblas.so.3` to one of these.
    @Test(arguments: [
        ("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0", "reference"),
        ("/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3", "OpenBLAS"),
        ("/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3", "OpenBLAS"),
        ("/usr/lib/x86_64-linux-gnu/blis-openmp/libblas.so.3", "BLIS"),
        ("/usr/lib/x86_64-linux-gnu/atlas/libblas.so.3.10.3", "ATLAS"),
        ("/opt/vendor/lib/libblas.so.3", "unknown"),
    ])
    func blasIsNamedFromItsFile(path: String, implementation: String) {
        let blas = BLASLibrary(path: path)
        #expect(blas.implementation == implementation)
        #expect(blas.isReference == (implementation == "reference"))
    }

    @Test func blasIsTheFirstBLASFileInTheMemoryMap() throws {
        let maps = """
            55d0c0a00000-55d0c0a01000 r--p 00000000 00:2e 123  /usr/bin/rachis
            7f1c2e000000-7f1c2e100000 r-xp 00000000 00:2e 456  /usr/lib/x86_64-linux-gnu/libtorch_cpu.so.1.13
            7f1c2f000000-7f1c2f100000 r-xp 00000000 00:2e 789  /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3
            7f1c2f200000-7f1c2f300000 r-xp 00000000 00:2e 790  /usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblasp-r0.3.21.so
            7ffd1c000000-7ffd1c021000 rw-p 00000000 00:00 0    [stack]
            """
        #expect(BLASLibrary.loaded(maps: maps) == BLASLibrary(path: "/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3"))
        // The reference libblas wins over an OpenBLAS that the LAPACK alternative maps beside it (at a lower address).
        let both = """
            7f1c2a000000-7f1c2a100000 r-xp 00000000 00:2e 11   /usr/lib/x86_64-linux-gnu/libopenblas.so.0
            7f1c2f000000-7f1c2f100000 r-xp 00000000 00:2e 12   /usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0
            """
        #expect(BLASLibrary.loaded(maps: both)?.implementation == "reference")
        #expect(BLASLibrary.loaded(maps: "7f1c2a000000-7f1c2a100000 r-xp 00000000 00:2e 11   /opt/x/libopenblas.so.0")?.implementation == "OpenBLAS")
        #expect(BLASLibrary.loaded(maps: "7ffd1c000000-7ffd1c021000 rw-p 00000000 00:00 0    [stack]") == nil)
        #expect(BLASLibrary.loaded(maps: nil) == nil)
        // This process runs libtorch, which calls a BLAS (Debian's links libblas.so.3).
        #if os(Linux)
        let here = try #require(EngineInfo.current().blas)
        #expect(here.path.contains("blas"), "\(here.path)")
        #endif
    }
}
