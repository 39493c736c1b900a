import Foundation
import HDF5
import Testing

/// Interoperability with h5py, the reader and writer most users of the datasets will have.
/// Skipped, with the reason, when `python3` with h5py cannot be found (`pip install h5py`).
struct H5pyTests {
    /// Runs `python3 -c script arguments...`; returns the exit status and standard output.
    static func python(_ script: String, _ arguments: [String] = []) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return (-1, "") }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static let h5pyAvailable = python("import h5py").status == 0

    static let writer = """
        import sys, h5py, numpy as np
        with h5py.File(sys.argv[1], "w") as f:
            f.attrs["format"] = "rachis-dataset"
            f.attrs["fixed"] = np.bytes_("fixed-ascii")
            f.attrs["spacing"] = np.array([0.8, 0.8, 3.3])
            f.attrs["count"] = np.int32(7)
            f.create_dataset("names", data=["L1", "Wirbelsäule", "椎骨"], dtype=h5py.string_dtype())
            f.create_dataset("fixed_names", data=np.array([b"C1", b"T12", b"L5"], dtype="S4"))
            f.create_dataset("fixed_utf8", data=["ä".encode(), b"bb"], dtype=h5py.string_dtype("utf-8", 6))
            f.create_dataset("image", data=np.arange(24, dtype=np.float32).reshape(2, 3, 4), chunks=(1, 3, 4),
                             compression="gzip", compression_opts=5, shuffle=True)
            f.create_dataset("levels", data=np.array([1, 20, 26], dtype=np.int64))
            f.create_group("subjects/s001").attrs["rater"] = "A"
        """

    @Test(.enabled(if: h5pyAvailable, "python3 with h5py not found: pip install h5py"))
    func readsAFileWrittenByH5py() throws {
        try withTemporaryDirectory { folder in
            let url = folder.appendingPathComponent("h5py.h5")
            let run = Self.python(Self.writer, [url.path])
            try #require(run.status == 0, "the h5py writer failed")
            let file = try File.open(url)
            #expect(try file.readAttribute("format", as: String.self) == "rachis-dataset")
            #expect(try file.readAttribute("fixed", as: String.self) == "fixed-ascii")
            #expect(try file.readAttribute("spacing", as: [Double].self) == [0.8, 0.8, 3.3])
            #expect(try file.readAttribute("count", as: Int32.self) == 7)
            #expect(try file.openDataset("names").readStrings().values == ["L1", "Wirbelsäule", "椎骨"])
            #expect(try file.openDataset("fixed_names").readStrings().values == ["C1", "T12", "L5"])
            #expect(try file.openDataset("fixed_utf8").readStrings().values == ["ä", "bb"])
            let image = try file.openDataset("image")
            #expect(try image.filters == [.shuffle, .deflate(level: 5)])
            #expect(try image.read(as: Float.self) == HDF5Array(values: (0..<24).map(Float.init), shape: [2, 3, 4]))
            #expect(try image.read(as: Float.self, offset: [1, 1, 0], count: [1, 2, 2], stride: [1, 1, 3]).values == [16, 19, 20, 23])
            #expect(try file.openDataset("levels").read(as: Int64.self).values == [1, 20, 26])
            #expect(try file.openGroup("subjects/s001").readAttribute("rater", as: String.self) == "A")
            #expect(try file.children().map(\.name) == ["fixed_names", "fixed_utf8", "image", "levels", "names", "subjects"])
        }
    }

    @Test(.enabled(if: h5pyAvailable, "python3 with h5py not found: pip install h5py"))
    func h5pyReadsAFileWrittenHere() throws {
        try withTemporaryDirectory { folder in
            let url = folder.appendingPathComponent("swift.h5")
            try File.writeAtomically(to: url) { file in
                try file.setAttribute("format", "rachis-dataset")
                try file.setAttribute("channels", ["T1", "STIR"])
                try file.createDataset("subjects/s001/image", values: (0..<8).map(Float.init), shape: [1, 2, 2, 2],
                                       options: DatasetOptions(gzipLevel: 4))
                try file.createDataset("names", strings: ["L1", "Wirbelsäule"])
                try file.createDataset("flags", values: [true, false])
            }
            let reader = """
                import sys, json, h5py
                with h5py.File(sys.argv[1], "r") as f:
                    image = f["subjects/s001/image"]
                    print(json.dumps({
                        "format": f.attrs["format"], "channels": [str(c) for c in f.attrs["channels"]],
                        "image": image[...].ravel().tolist(), "shape": list(image.shape), "compression": image.compression,
                        "names": [n.decode() for n in f["names"][...]], "flags": f["flags"][...].tolist()}))
                """
            let run = Self.python(reader, [url.path])
            try #require(run.status == 0, "the h5py reader failed")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
            #expect(json["format"] as? String == "rachis-dataset")
            #expect(json["channels"] as? [String] == ["T1", "STIR"])
            #expect(json["image"] as? [Double] == (0..<8).map(Double.init))
            #expect(json["shape"] as? [Int] == [1, 2, 2, 2])
            #expect(json["compression"] as? String == "gzip")
            #expect(json["names"] as? [String] == ["L1", "Wirbelsäule"])
            #expect(json["flags"] as? [Int] == [1, 0])
        }
    }
}
