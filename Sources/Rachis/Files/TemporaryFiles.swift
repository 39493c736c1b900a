import Foundation

/// The temporary files of atomic writes (`AtomicFile`, `File.writeAtomically`): `.<name>.<UUID>.tmp` beside the file
/// they become. A killed writer leaves one behind; the next run of the command that owns the output removes it,
/// holding the output's `OutputLock` so that no live writer's temporary file is taken.
public enum TemporaryFiles {
    /// Whether `name` is the temporary file of an atomic write.
    public static func isTemporary(_ name: String) -> Bool { target(of: name) != nil }

    /// The name of the file a temporary file was to become (`d.h5` for `.d.h5.<uuid>.tmp`), nil for other names.
    public static func target(of name: String) -> String? {
        guard name.hasPrefix("."), name.hasSuffix(".tmp") else { return nil }
        let inner = name.dropFirst().dropLast(4)
        guard let dot = inner.lastIndex(of: "."), UUID(uuidString: String(inner[inner.index(after: dot)...])) != nil else { return nil }
        let target = String(inner[..<dot])
        return target.isEmpty ? nil : target
    }

    /// Removes the leftover temporary files of `output` (in its folder); returns what it removed.
    @discardableResult
    public static func removeLeftovers(of output: URL) -> [URL] {
        remove(in: output.deletingLastPathComponent()) { $0 == output.lastPathComponent }
    }

    /// Removes every leftover temporary file directly in `folder` (an output folder the caller holds the lock of).
    @discardableResult
    public static func removeLeftovers(in folder: URL) -> [URL] { remove(in: folder) { _ in true } }

    static func remove(in folder: URL, where matches: (String) -> Bool) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { target(of: $0).map(matches) ?? false }.sorted().compactMap { name in
            let file = folder.appendingPathComponent(name)
            return (try? FileManager.default.removeItem(at: file)) != nil ? file : nil
        }
    }
}
