import Foundation
import HDF5
import Testing

struct FileTests {
    @Test func libraryVersionIsReported() {
        #expect(HDF5Library.version.range(of: #"^\d+\.\d+\.\d+$"#, options: .regularExpression) != nil)
        #expect(HDF5Library.version.hasPrefix("1."))
    }

    @Test func childrenAndExistenceChecks() throws {
        try withTemporaryDirectory { folder in
            let file = try File.create(at: folder.appendingPathComponent("tree.h5"))
            let subject = try file.createGroup("subjects/s001")
            try subject.createDataset("image", values: [Float](repeating: 0, count: 8), shape: [1, 2, 2, 2])
            try file.createDataset("subjects/s002/labels/instances", values: [UInt8](repeating: 0, count: 4))
            try file.createDataset("names", strings: ["s001", "s002"])

            #expect(try file.children() == [Child(name: "names", kind: .dataset), Child(name: "subjects", kind: .group)])
            #expect(try file.openGroup("subjects").children().map(\.name) == ["s001", "s002"])
            #expect(try file.openGroup("subjects/s002").children() == [Child(name: "labels", kind: .group)])
            #expect(file.exists("subjects/s001/image"))
            #expect(file.exists("/subjects/s002/labels/instances"))
            #expect(!file.exists("subjects/s003/image"))
            #expect(!file.exists("subjects/s001/image/deeper"))
            #expect(subject.exists("image") && !subject.exists("labels"))
            #expect(subject.exists("/names"))
            #expect(file.kind(of: "subjects/s001") == .group)
            #expect(file.kind(of: "subjects/s001/image") == .dataset)
            #expect(file.kind(of: "/") == .group)
            #expect(try file.openDataset("subjects/s001/image").path == "/subjects/s001/image")
            #expect(try subject.openDataset("image").path == "/subjects/s001/image")
            #expect(try file.openOrCreateGroup("subjects/s001").path == "/subjects/s001")
            #expect(try file.openOrCreateGroup("splits/train").path == "/splits/train")
            try file.remove("names")
            #expect(!file.exists("names"))
        }
    }

    @Test func missingPathsThrowNotFoundNamingFileAndPath() throws {
        try withTemporaryDirectory { folder in
            let url = folder.appendingPathComponent("paths.h5")
            let file = try File.create(at: url)
            try file.createDataset("subjects/s001/image", values: [Float(1)])
            let dataset = hdf5Error { _ = try file.openDataset("subjects/s009/image") }
            #expect(dataset?.kind == .notFound)
            #expect(dataset?.file == url.path)
            #expect(dataset?.object == "/subjects/s009/image")
            #expect(dataset?.description.contains(url.path) == true)
            #expect(dataset?.description.contains("/subjects/s009/image") == true)
            #expect(hdf5Error { _ = try file.openGroup("nowhere") }?.kind == .notFound)
            let kind = hdf5Error { _ = try file.openGroup("subjects/s001/image") }
            #expect(kind?.kind == .wrongObjectKind(expected: "group", found: "dataset"))
            #expect(hdf5Error { _ = try file.openDataset("subjects") }?.kind == .wrongObjectKind(expected: "dataset", found: "group"))
        }
    }

    @Test func libraryErrorsCarryTheErrorStack() throws {
        try withTemporaryDirectory { folder in
            let url = folder.appendingPathComponent("stack.h5")
            let file = try File.create(at: url)
            _ = try file.createGroup("a")
            let error = hdf5Error { _ = try file.createGroup("a") }
            #expect(error?.kind == .library)
            #expect(error?.operation == "H5Gcreate2")
            #expect(error?.frames.first?.function == "H5Gcreate2")
            #expect(error?.frames.contains { !$0.major.isEmpty && !$0.minor.isEmpty && $0.major != "?" } == true)
            #expect(error?.description.contains(url.path) == true && error?.description.contains("/a") == true)
        }
    }

    @Test func missingFile() throws {
        try withTemporaryDirectory { folder in
            let url = folder.appendingPathComponent("missing.h5")
            let error = hdf5Error { _ = try File.open(url) }
            #expect(error?.kind == .fileNotFound)
            #expect(error?.description.contains(url.path) == true)
        }
    }

    @Test func textFileIsNotHDF5() throws {
        try withTemporaryDirectory { folder in
            let url = folder.appendingPathComponent("notes.h5")
            try Data("subject,level\ns001,L1\n".utf8).write(to: url)
            let error = hdf5Error { _ = try File.open(url) }
            #expect(error?.kind == .notHDF5)
            #expect(error?.description.contains(url.path) == true)
        }
    }

    @Test func truncatedFileFailsToOpenOrRead() throws {
        try withTemporaryDirectory { folder in
            let url = folder.appendingPathComponent("truncated.h5")
            do {
                let file = try File.create(at: url)
                try file.createDataset("subjects/s001/image", values: (0..<20_000).map(Float.init))
            }
            let data = try Data(contentsOf: url)
            try data.prefix(data.count / 2).write(to: url)
            let error = hdf5Error {
                let file = try File.open(url)
                _ = try file.openDataset("subjects/s001/image").read(as: Float.self)
            }
            #expect(error?.description.contains(url.path) == true)
            #expect(error?.frames.isEmpty == false)
        }
    }

    @Test func createNeverTruncatesSilently() throws {
        try withTemporaryDirectory { folder in
            let url = folder.appendingPathComponent("precious.h5")
            do { try File.create(at: url).createDataset("x", values: [1.0, 2.0]) }
            let error = hdf5Error { _ = try File.create(at: url) }
            #expect(error?.kind == .fileExists)
            #expect(error?.description.contains(url.path) == true)
            #expect(try File.open(url).openDataset("x").read(as: Double.self).values == [1.0, 2.0])
            do { try File.create(at: url, overwrite: true).createDataset("y", values: [3.0]) }
            let file = try File.open(url)
            #expect(try file.children().map(\.name) == ["y"])
        }
    }

    @Test func fileStaysOpenWhileAnyHandleLivesAndClosesAfter() throws {
        try withTemporaryDirectory { folder in
            let url = folder.appendingPathComponent("lifetime.h5")
            var dataset: Dataset? = try File.create(at: url).createDataset("x", values: [Int32(7)])
            // The File object is gone but the dataset keeps it open: HDF5 refuses to truncate an open file.
            #expect(try dataset?.read(as: Int32.self).values == [7])
            #expect(hdf5Error { _ = try File.create(at: url, overwrite: true) }?.kind == .library)
            dataset = nil
            // Now nothing is open: the file can be renamed and reopened at once.
            let moved = folder.appendingPathComponent("moved.h5")
            try FileManager.default.moveItem(at: url, to: moved)
            #expect(try File.open(moved, mode: .readWrite).openDataset("x").read(as: Int32.self).values == [7])
            _ = try File.create(at: moved, overwrite: true)
        }
    }

    @Test func closingOneOpeningOfAFileLeavesAnotherUsable() throws {
        try withTemporaryDirectory { folder in
            let url = folder.appendingPathComponent("twice.h5")
            do { try File.create(at: url).createDataset("x", values: [Int16(5)]) }
            let first = try File.open(url)
            let dataset = try first.openDataset("x")
            var second: File? = try File.open(url)
            #expect(try second?.openDataset("x").read(as: Int16.self).values == [5])
            try second?.close()
            second = nil
            #expect(try dataset.read(as: Int16.self).values == [5])
        }
    }

    @Test func explicitCloseInvalidatesChildren() throws {
        try withTemporaryDirectory { folder in
            let file = try File.create(at: folder.appendingPathComponent("closed.h5"))
            let dataset = try file.createDataset("x", values: [1.0])
            try file.close()
            try file.close()
            #expect(hdf5Error { _ = try dataset.read(as: Double.self) } != nil)
        }
    }

    @Test func atomicWriteLeavesOnlyTheFinishedFile() throws {
        try withTemporaryDirectory { folder in
            let url = folder.appendingPathComponent("checkpoint.h5")
            let count = try File.writeAtomically(to: url) { file in
                try file.createDataset("weights/encoder.conv1.weight", values: [Float](repeating: 0.5, count: 27))
                try file.setAttribute("schemaVersion", Int32(1))
                return 27
            }
            #expect(count == 27)
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["checkpoint.h5"])
            #expect(try File.open(url).openDataset("weights/encoder.conv1.weight").shape == [27])
        }
    }

    @Test func atomicWriteThatThrowsLeavesTheOriginalUntouched() throws {
        struct Interrupted: Error {}
        try withTemporaryDirectory { folder in
            let url = folder.appendingPathComponent("checkpoint.h5")
            try File.writeAtomically(to: url) { try $0.createDataset("epoch", values: [Int32(1)]) }
            let before = try Data(contentsOf: url)
            #expect(throws: Interrupted.self) {
                try File.writeAtomically(to: url) { file in
                    try file.createDataset("epoch", values: [Int32(2)])
                    throw Interrupted()
                }
            }
            #expect(try Data(contentsOf: url) == before)
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["checkpoint.h5"])
            // A successful rewrite replaces the file.
            try File.writeAtomically(to: url) { try $0.createDataset("epoch", values: [Int32(3)]) }
            #expect(try File.open(url).openDataset("epoch").read(as: Int32.self).values == [3])
        }
    }
}

struct SilenceTests {
    @Test func libhdf5PrintsNothingToStderrOnAnyThread() throws {
        try withTemporaryDirectory { folder in
            let log = folder.appendingPathComponent("stderr.txt")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let capture = try FileHandle(forWritingTo: log)
            let saved = dup(2)
            fflush(nil)
            dup2(capture.fileDescriptor, 2)
            let url = folder.appendingPathComponent("quiet.h5")
            // A fresh thread: libhdf5's printing setting is per thread in its thread-safe build.
            let done = DispatchSemaphore(value: 0)
            Thread {
                let file = try? File.create(at: url)
                _ = try? file?.createGroup("a")
                _ = try? file?.createGroup("a")
                _ = file?.exists("b/c")
                done.signal()
            }.start()
            done.wait()
            fflush(nil)
            dup2(saved, 2)
            close(saved)
            try capture.close()
            let text = try String(contentsOf: log, encoding: .utf8)
            #expect(!text.contains("HDF5-DIAG"), "libhdf5 printed: \(text)")
        }
    }
}
