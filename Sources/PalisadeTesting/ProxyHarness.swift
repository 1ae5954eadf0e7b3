import Foundation
import Logging
import NIOCore
import NIOPosix
import PalisadeCore

/// A real Palisade on 127.0.0.1 and ephemeral ports, in front of a real `TestUpstream`, built from
/// inline YAML. `{{UPSTREAM}}` in the YAML becomes the test app's URL. Access lines go to a temp
/// file so tests can read exactly what would have been logged.
public final class ProxyHarness: Sendable {
    public let runtime: ProxyRuntime
    public let upstream: TestUpstream
    public let proxyPort: Int
    public let adminPort: Int?
    public let group: MultiThreadedEventLoopGroup
    public let accessLogPath: String
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
        let logPath = directory.appendingPathComponent("access.log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let fd = open(logPath, O_WRONLY | O_APPEND)
        let (plan, _) = try PlanCompiler.load(path: policyPath, generation: 1, extensions: extensions)
        var logger = Logger(label: "palisade-test")
        logger.logLevel = .critical
        let runtime = try await ProxyRuntime.make(
            plan: plan, group: group, logger: logger, accessLogSink: AccessLogSink(fileDescriptor: fd)
        )
        let addresses = try await runtime.start()
        return ProxyHarness(
            runtime: runtime, upstream: upstream, proxyPort: addresses.proxyPort, adminPort: addresses.adminPort,
            group: group, accessLogPath: logPath, policyPath: policyPath
        )
    }

    private init(
        runtime: ProxyRuntime, upstream: TestUpstream, proxyPort: Int, adminPort: Int?,
        group: MultiThreadedEventLoopGroup, accessLogPath: String, policyPath: String
    ) {
        self.runtime = runtime
        self.upstream = upstream
        self.proxyPort = proxyPort
        self.adminPort = adminPort
        self.group = group
        self.accessLogPath = accessLogPath
        self.policyPath = policyPath
    }

    /// Rewrites the policy file (for reload tests); `{{UPSTREAM}}` is substituted as at start.
    public func writePolicy(_ yaml: String) throws {
        let text = yaml.replacingOccurrences(of: "{{UPSTREAM}}", with: "http://127.0.0.1:\(upstream.port)")
        try text.write(toFile: policyPath, atomically: true, encoding: .utf8)
    }

    /// Access lines written so far, parsed as JSON objects.
    public func accessLines() async throws -> [[String: Any]] {
        // Lines are flushed at the end of a loop tick; give the loop a moment.
        try await Task.sleep(for: .milliseconds(50))
        let text = (try? String(contentsOfFile: accessLogPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }

    public var accessLogText: String { (try? String(contentsOfFile: accessLogPath, encoding: .utf8)) ?? "" }

    public func stop() async {
        await runtime.drainAndStop()
        await upstream.stop()
        try? await group.shutdownGracefully()
    }
}
