import Foundation
import Logging
import NIOCore
import NIOPosix
import PalisadeCore

/// A real Palisade on 127.0.0.1 and ephemeral ports, in front of a real `TestUpstream`, built from
/// inline YAML. `{{UPSTREAM}}` in the YAML becomes the test app's URL. Access lines go to memory
/// (`accessLog`) so tests can read, or wait for, exactly what would have been logged.
public final class ProxyHarness: Sendable {
    public let runtime: ProxyRuntime
    public let upstream: TestUpstream
    public let proxyPort: Int
    public let adminPort: Int?
    public let group: MultiThreadedEventLoopGroup
    public let accessLog: MemoryAccessLog
    public let policyPath: String

    public static let basePolicy = """
        version: 1
        listen: 127.0.0.1:0
        upstream:
          url: {{UPSTREAM}}
          connect_timeout: 1s
          response_timeout: 2s
        admin:
          listen: 127.0.0.1:0
        routes:
          - name: all
            match: { prefix: / }
        default: deny
        """

    /// `extensions`: guards added to the policy's plan (and to every reload's), as an embedding
    /// program would add its own.
    public static func start(
        yaml: String = basePolicy, threads: Int = 1, extensions: PlanExtensions = .none
    ) async throws -> ProxyHarness {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let upstream = try await TestUpstream.start(group: group)
        let text = yaml.replacingOccurrences(of: "{{UPSTREAM}}", with: "http://127.0.0.1:\(upstream.port)")
        let directory = try TemporaryFiles.directory("palisade")
        let policyPath = directory.appendingPathComponent("policy.yaml").path
        try text.write(toFile: policyPath, atomically: true, encoding: .utf8)
        let accessLog = MemoryAccessLog()
        let (plan, _) = try PlanCompiler.load(path: policyPath, generation: 1, extensions: extensions)
        var logger = Logger(label: "palisade-test")
        logger.logLevel = .critical
        let runtime = try await ProxyRuntime.make(
            plan: plan, group: group, logger: logger, accessLogSink: accessLog
        )
        let addresses = try await runtime.start()
        return ProxyHarness(
            runtime: runtime, upstream: upstream, proxyPort: addresses.proxyPort, adminPort: addresses.adminPort,
            group: group, accessLog: accessLog, policyPath: policyPath
        )
    }

    private init(
        runtime: ProxyRuntime, upstream: TestUpstream, proxyPort: Int, adminPort: Int?,
        group: MultiThreadedEventLoopGroup, accessLog: MemoryAccessLog, policyPath: String
    ) {
        self.runtime = runtime
        self.upstream = upstream
        self.proxyPort = proxyPort
        self.adminPort = adminPort
        self.group = group
        self.accessLog = accessLog
        self.policyPath = policyPath
    }

    /// Rewrites the policy file (for reload tests); `{{UPSTREAM}}` is substituted as at start.
    public func writePolicy(_ yaml: String) throws {
        let text = yaml.replacingOccurrences(of: "{{UPSTREAM}}", with: "http://127.0.0.1:\(upstream.port)")
        try text.write(toFile: policyPath, atomically: true, encoding: .utf8)
    }

    /// The lines of every exchange completed so far, parsed as JSON objects. Each loop hands its
    /// pending lines over first, so a request answered before the call has its line here.
    /// The access lines (`"type":"access"`) logged so far, without the security events that
    /// share their stream.
    public func accessLines() async -> [[String: Any]] {
        await runtime.flushAccessLogs()
        return accessLog.parsedLines.filter { $0["type"] as? String != "security" }
    }

    /// The security events (`"type":"security"`) logged so far.
    public func securityEvents() async -> [[String: Any]] {
        await runtime.flushAccessLogs()
        return accessLog.parsedLines.filter { $0["type"] as? String == "security" }
    }

    /// The first access line, logged already or within `deadline`, for which `matches` holds:
    /// for exchanges that end after the client has seen their outcome (a timeout, a closed connection).
    public func accessLine(
        within deadline: Duration = .seconds(5), where matches: @escaping @Sendable ([String: Any]) -> Bool
    ) async throws -> [String: Any] {
        try await accessLog.line(within: deadline) { $0["type"] as? String != "security" && matches($0) }
    }

    /// Everything logged so far, as written.
    public func accessLogText() async -> String {
        await runtime.flushAccessLogs()
        return accessLog.lines.map { $0 + "\n" }.joined()
    }

    public func stop() async {
        await runtime.drainAndStop()
        await upstream.stop()
        try? await group.shutdownGracefully()
    }
}
