import Foundation
import HDF5
import Testing

/// Runs `body` with a fresh temporary directory, removed afterwards.
func withTemporaryDirectory<R>(_ body: (URL) throws -> R) throws -> R {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hdf5-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    return try body(folder)
}

/// The error `body` throws, which must be an `HDF5Error`.
func hdf5Error(_ body: () throws -> Void) -> HDF5Error? {
    do {
        try body()
    } catch let error as HDF5Error {
        return error
    } catch {
        Issue.record("expected an HDF5Error, got \(error)")
        return nil
    }
    Issue.record("expected an HDF5Error, nothing was thrown")
    return nil
}

/// Row-major flat index of `index` in `shape`.
func flatIndex(_ index: [Int], _ shape: [Int]) -> Int {
    zip(index, shape).reduce(0) { $0 * $1.1 + $1.0 }
}

/// The flat indices a hyperslab selects, in row-major order of the selection.
func hyperslabIndices(shape: [Int], offset: [Int], count: [Int], stride: [Int]) -> [Int] {
    var result: [Int] = []
    func visit(_ axis: Int, _ index: [Int]) {
        if axis == shape.count { result.append(flatIndex(index, shape)); return }
        for k in 0..<count[axis] { visit(axis + 1, index + [offset[axis] + k * stride[axis]]) }
    }
    visit(0, [])
    return result
}
