import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive lock on an output (a run folder, a predictions folder, an output file) for the life of the command
/// that writes it: `flock` on a lock file beside the output, so a second command writing the same output is refused
/// with the holder's pid instead of interleaving its files with the first's. The kernel drops the lock when the
/// holder dies, so a killed command leaves nothing that blocks the next one.
///
/// The lock file (`<folder>/.rachis.lock`, or `.<name>.lock` beside an output file) holds the holder's pid and
/// command, and is removed on `release()`.
public final class OutputLock: @unchecked Sendable {
    public static let folderLockName = ".rachis.lock"

    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case held(output: String, pid: Int32?, command: String)
        case cannotLock(output: String, reason: String)

        public var description: String {
            switch self {
            case let .held(output, pid, command):
                "\(output) is being written by another rachis (\(pid.map { "pid \($0)" } ?? "pid unknown")\(command.isEmpty ? "" : ": \(command)")): wait for it to finish, or choose another output"
            case let .cannotLock(output, reason): "cannot lock \(output): \(reason)"
            }
        }
    }

    public let url: URL
    private var descriptor: Int32

    /// Locks the folder `folder` (created when missing), holding `<folder>/.rachis.lock`.
    public static func folder(_ folder: URL, command: String = OutputLock.commandLine) throws -> OutputLock {
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw Error.cannotLock(output: folder.path, reason: "the folder cannot be created (\(FileErrors.reason(error)))")
        }
        return try OutputLock(lockFile: folder.appendingPathComponent(folderLockName), output: folder.path, command: command) { code in
            Error.cannotLock(output: folder.path, reason: code == ENOENT ? "the folder \(folder.path) does not exist" : "\(String(cString: strerror(code))) (\(folder.path))")
        }
    }

    /// Locks the output file `file`, holding `.<name>.lock` in its folder. When the folder cannot hold the lock
    /// file (missing, not a folder, read-only) the error is the `AtomicFile.Error` the write itself would have
    /// given: "cannot write <file as given>: <why>".
    public static func file(_ file: URL, command: String = OutputLock.commandLine) throws -> OutputLock {
        let lock = file.deletingLastPathComponent().appendingPathComponent(".\(file.lastPathComponent).lock")
        return try OutputLock(lockFile: lock, output: file.path, command: command) { code in
            AtomicFile.Error(path: file.relativePath, reason: AtomicFile.reason(code, folder: file.deletingLastPathComponent()))
        }
    }

    /// This process's command line, as the lock file records it.
    public static var commandLine: String { CommandLine.arguments.map { URL(fileURLWithPath: $0).lastPathComponent == "rachis" ? "rachis" : $0 }.joined(separator: " ") }

    /// `openFailure` is the error for an `open` of the lock file that failed with an errno.
    init(lockFile: URL, output: String, command: String, openFailure: (Int32) -> Swift.Error) throws {
        url = lockFile
        // Retry when the file we locked was removed by a releasing holder in between (then another may lock a new one).
        for _ in 0..<20 {
            let fd = open(lockFile.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw openFailure(errno) }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let code = errno
                let holder = (try? String(contentsOf: lockFile, encoding: .utf8)) ?? ""
                close(fd)
                guard code == EWOULDBLOCK else { throw Error.cannotLock(output: output, reason: String(cString: strerror(code))) }
                let fields = holder.split(separator: " ", maxSplits: 1)
                throw Error.held(output: output, pid: fields.first.flatMap { Int32($0) },
                                 command: fields.count > 1 ? fields[1].trimmingCharacters(in: .whitespacesAndNewlines) : "")
            }
            var opened = stat(), named = stat()
            guard fstat(fd, &opened) == 0, stat(lockFile.path, &named) == 0, opened.st_ino == named.st_ino, opened.st_dev == named.st_dev else {
                close(fd)
                continue
            }
            let text = "\(getpid()) \(command)\n"
            _ = ftruncate(fd, 0)
            _ = text.withCString { write(fd, $0, strlen($0)) }
            descriptor = fd
            return
        }
        throw Error.cannotLock(output: output, reason: "the lock file \(lockFile.path) keeps being replaced")
    }

    /// Removes the lock file and unlocks (also done when the process ends, by the kernel, minus the removal).
    public func release() {
        guard descriptor >= 0 else { return }
        unlink(url.path)
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}
