import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real `redis-server` started by a test on a loopback port of its own, with no persistence,
/// stopped (SIGKILL, as a crash would) and started again on the same port when a test asks.
///
/// Redis cannot bind port 0 and report the port, so a free port is found by letting the kernel
/// pick one for a socket that is then closed; if another process takes it first, the server fails
/// to start and another port is tried.
public final class RedisServer: @unchecked Sendable {
    public let port: Int
    public let directory: URL
    private let clusterEnabled: Bool
    private let options: Options
    private var process: Process?

    /// A server that speaks TLS only, or asks for credentials: what it is started with, and what
    /// `redis-cli` needs to talk to it.
    public struct Options: Sendable {
        /// PEM files: the server's certificate and key, and the CA that signed them.
        public var tls: (certificate: String, key: String, ca: String)?
        /// More configuration as arguments, one word each (`--requirepass`, `x`, `--user`, `name`, `on`, `>pw`).
        public var arguments: [String]
        /// `redis-cli` arguments for the same credentials (`--user`, `--pass`).
        public var cliArguments: [String]

        public init(tls: (certificate: String, key: String, ca: String)? = nil, arguments: [String] = [], cliArguments: [String] = []) {
            self.tls = tls
            self.arguments = arguments
            self.cliArguments = cliArguments
        }

        var cli: [String] { (tls.map { ["--tls", "--cacert", $0.ca] } ?? []) + cliArguments }
    }

    /// Why the Redis tests cannot run here, or nil when `redis-server` and `redis-cli` are installed.
    public static var missing: String? {
        for tool in ["redis-server", "redis-cli"] where path(of: tool) == nil {
            return "\(tool) is not installed (apt-get install redis-server): the Redis tests are skipped"
        }
        return nil
    }

    static func path(of tool: String) -> String? {
        for directory in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] {
            let candidate = "\(directory)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    public init(clusterEnabled: Bool = false, options: Options = Options()) throws {
        self.clusterEnabled = clusterEnabled
        self.options = options
        directory = try TemporaryFiles.directory("palisade-redis")
        var lastError: (any Error)?
        for _ in 0..<8 {
            let port = try Self.freePort()
            do {
                process = try Self.start(port: port, directory: directory, clusterEnabled: clusterEnabled, options: options)
                self.port = port
                return
            } catch {
                lastError = error
            }
        }
        throw lastError ?? StartFailure(message: "redis-server did not start")
    }

    deinit { stop() }

    public struct StartFailure: Error, CustomStringConvertible {
        public var message: String
        public init(message: String) { self.message = message }
        public var description: String { message }
    }

    /// Kills the server at once (no save, connections drop), as a crash or an OOM kill would.
    public func stop() {
        guard let process else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    /// Freezes the server (SIGSTOP): connections stay open and accepted, nothing is answered, as
    /// with a wedged server or a lost path. Unlike DEBUG SLEEP it takes effect at once.
    public func pause() {
        if let process { kill(process.processIdentifier, SIGSTOP) }
    }

    /// Lets a paused server go on (SIGCONT); it answers what waited.
    public func resume() {
        if let process { kill(process.processIdentifier, SIGCONT) }
    }

    /// Starts the server again on the same port (empty: nothing was saved).
    public func restart() throws {
        stop()
        var lastError: (any Error)?
        for _ in 0..<20 {
            do {
                process = try Self.start(port: port, directory: directory, clusterEnabled: clusterEnabled, options: options)
                return
            } catch {
                lastError = error
                usleep(100_000)
            }
        }
        throw lastError ?? StartFailure(message: "redis-server did not restart")
    }

    /// Runs `redis-cli -p PORT arguments...` and answers what it printed.
    @discardableResult
    public func cli(_ arguments: [String]) throws -> String {
        try Self.run("redis-cli", ["-p", String(port)] + options.cli + arguments)
    }

    /// How many times the server has run `command` (`evalsha`, `script|load`), from
    /// `INFO commandstats`; 0 before the first.
    public func calls(of command: String) throws -> Int {
        let stats = try cli(["INFO", "commandstats"])
        guard let line = stats.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cmdstat_\(command):") }),
            let calls = line.split(separator: "=").dropFirst().first?.split(separator: ",").first
        else { return 0 }
        return Int(calls) ?? 0
    }

    /// Runs a command-line tool and answers what it printed (stdout and stderr).
    public static func run(_ tool: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path(of: tool) ?? tool)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    private static func start(port: Int, directory: URL, clusterEnabled: Bool, options: Options) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path(of: "redis-server") ?? "redis-server")
        var listen = ["--port", String(port)]
        if let tls = options.tls {
            listen = [
                "--port", "0", "--tls-port", String(port), "--tls-cert-file", tls.certificate, "--tls-key-file", tls.key,
                "--tls-ca-cert-file", tls.ca, "--tls-auth-clients", "no",
            ]
        }
        var arguments =
            listen + [
                "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory.path,
                "--logfile", directory.appendingPathComponent("redis-\(port).log").path,
            ]
        if clusterEnabled {
            // Each node keeps its view of the cluster in its own file in the server's directory.
            arguments += ["--cluster-enabled", "yes", "--cluster-config-file", directory.appendingPathComponent("nodes-\(port).conf").path]
        }
        process.arguments = arguments + options.arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Ready once it answers PING; gone at once if the port was taken.
        for _ in 0..<100 {
            if !process.isRunning { throw StartFailure(message: "redis-server exited (port \(port) taken?)") }
            if (try? run("redis-cli", ["-p", String(port)] + options.cli + ["PING"]))?.contains("PONG") == true { return process }
            usleep(50_000)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        throw StartFailure(message: "redis-server on port \(port) did not answer PING")
    }

    /// A port the kernel just handed out and nobody holds (usually still free a moment later).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StartFailure(message: "socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw StartFailure(message: "bind() failed") }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw StartFailure(message: "getsockname() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Three `redis-server --cluster-enabled yes` masters joined by `redis-cli --cluster create`
/// (slots split in three), each with `replicasPerMaster` replicas that take over when it fails
/// (after `nodeTimeoutMilliseconds` of silence, Redis's `cluster-node-timeout`).
public final class RedisClusterServers: @unchecked Sendable {
    public let nodes: [RedisServer]

    public init(replicasPerMaster: Int = 0, nodeTimeoutMilliseconds: Int? = nil) throws {
        // A replica's first sync starts at once (diskless sync would wait five seconds for more
        // replicas to join it).
        let options = RedisServer.Options(
            arguments: (nodeTimeoutMilliseconds.map { ["--cluster-node-timeout", String($0)] } ?? [])
                + (replicasPerMaster > 0 ? ["--repl-diskless-sync-delay", "0"] : []))
        nodes = try (0..<3 * (1 + replicasPerMaster)).map { _ in try RedisServer(clusterEnabled: true, options: options) }
        let addresses = nodes.map { "127.0.0.1:\($0.port)" }
        let replicas = replicasPerMaster > 0 ? ["--cluster-replicas", String(replicasPerMaster)] : []
        let created = try RedisServer.run("redis-cli", ["--cluster", "create"] + addresses + replicas + ["--cluster-yes"])
        guard created.contains("All 16384 slots covered") else {
            throw RedisServer.StartFailure(message: "redis-cli --cluster create failed: \(created)")
        }
        // Every node must agree, and every replica have its master's data, before a test relies
        // on the slot map or on a failover.
        // Each check runs redis-cli once per node, so it is asked every 200 ms, not in a tight loop.
        for _ in 0..<100 {
            let agreed = try nodes.allSatisfy { try $0.cli(["CLUSTER", "INFO"]).contains("cluster_state:ok") }
            let synced =
                try agreed
                && (replicasPerMaster == 0
                    || nodes.allSatisfy {
                        let role = try $0.cli(["INFO", "replication"])
                        return role.contains("role:master")
                            ? role.contains("connected_slaves:\(replicasPerMaster)") : role.contains("master_link_status:up")
                    })
            if synced { return }
            usleep(200_000)
        }
        throw RedisServer.StartFailure(message: "the cluster did not reach cluster_state:ok with its replicas in sync")
    }

    /// The same, made on a thread of its own: starting six servers and waiting for the cluster to
    /// agree blocks for seconds, which on Swift's cooperative pool (one thread per core) would
    /// stall every other test's timers meanwhile.
    public static func start(replicasPerMaster: Int = 0, nodeTimeoutMilliseconds: Int? = nil) async throws -> RedisClusterServers {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(
                    with: Result {
                        try RedisClusterServers(replicasPerMaster: replicasPerMaster, nodeTimeoutMilliseconds: nodeTimeoutMilliseconds)
                    }
                )
            }
        }
    }

    public func stop() { for node in nodes { node.stop() } }
}
