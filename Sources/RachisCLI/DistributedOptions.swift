import ArgumentParser
import Foundation
import Rachis

/// The data-parallel options of `rachis train`: flags, or else the environment variables torchrun sets.
struct DistributedOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Processes training together (default: $WORLD_SIZE, else 1: no process group).", valueName: "n"))
    var worldSize: Int?

    @Option(help: ArgumentHelp("This process's rank, 0..<world size; rank 0 writes the run folder (default: $RANK).", valueName: "r"))
    var rank: Int?

    @Option(help: ArgumentHelp("Rank 0's rendezvous address, host:port (default: $MASTER_ADDR and $MASTER_PORT).", valueName: "host:port"))
    var master: String?

    @Option(help: ArgumentHelp("Seconds a rank waits for the others (rendezvous, every gradient exchange) before failing.", valueName: "seconds"))
    var distTimeout: Double = 300

    /// The process group to join, or nil for a single process. Flags win over the environment; every error names the
    /// option or variable that is wrong.
    func settings(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DistributedContext.Settings? {
        func integer(_ flag: Int?, option: String, variable: String) throws -> (Int, String)? {
            if let flag { return (flag, option) }
            guard let text = environment[variable], !text.isEmpty else { return nil }
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("\(variable)=\(text) (from the environment) is not an integer.")
            }
            return (value, variable)
        }
        guard distTimeout > 0, distTimeout.isFinite else { throw ValidationError("--dist-timeout must be a positive number of seconds, got \(distTimeout).") }
        guard let (worldSize, sizeSource) = try integer(worldSize, option: "--world-size", variable: "WORLD_SIZE") else {
            if rank != nil || master != nil { throw ValidationError("--rank and --master need --world-size (or WORLD_SIZE).") }
            return nil
        }
        guard worldSize >= 1 else { throw ValidationError("\(sizeSource) must be at least 1, got \(worldSize).") }
        guard let (rank, rankSource) = try integer(rank, option: "--rank", variable: "RANK") else {
            if worldSize == 1 { return nil }
            throw ValidationError("\(sizeSource) is \(worldSize): give this process's rank with --rank (or RANK).")
        }
        guard (0..<worldSize).contains(rank) else {
            throw ValidationError("\(rankSource) \(rank) is not in 0..<\(worldSize) (\(sizeSource) \(worldSize)).")
        }
        if worldSize == 1 { return nil }
        let (host, port) = try endpoint(environment)
        var settings = DistributedContext.Settings(host: host, port: port, rank: rank, worldSize: worldSize)
        settings.timeoutSeconds = distTimeout
        if let interface = environment["GLOO_SOCKET_IFNAME"], !interface.isEmpty { settings.interface = interface }
        return settings
    }

    /// host and port from --master, or MASTER_ADDR and MASTER_PORT.
    func endpoint(_ environment: [String: String]) throws -> (String, Int) {
        func port(_ text: Substring, source: String) throws -> Int {
            guard let value = Int(text), (1...65535).contains(value) else {
                throw ValidationError("\(source): the port \"\(text)\" is not a number in 1...65535.")
            }
            return value
        }
        if let master {
            // host:port, or [ipv6]:port.
            guard let colon = master.lastIndex(of: ":"), colon != master.startIndex else {
                throw ValidationError("--master \(master): expected host:port, e.g. --master 127.0.0.1:29500.")
            }
            var host = master[..<colon]
            if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
            guard !host.isEmpty else { throw ValidationError("--master \(master): the host is empty.") }
            return (String(host), try port(master[master.index(after: colon)...], source: "--master \(master)"))
        }
        guard let host = environment["MASTER_ADDR"], !host.isEmpty else {
            throw ValidationError("a process group needs rank 0's address: --master host:port (or MASTER_ADDR and MASTER_PORT).")
        }
        guard let text = environment["MASTER_PORT"], !text.isEmpty else {
            throw ValidationError("MASTER_ADDR is set but MASTER_PORT is not: set it, or pass --master host:port.")
        }
        return (host, try port(Substring(text), source: "MASTER_PORT=\(text)"))
    }
}
