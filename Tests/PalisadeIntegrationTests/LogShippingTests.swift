import Foundation
import NIOPosix
import PalisadeCore
import PalisadeTesting
import Testing

/// The real binary's two output streams as a log shipper reads them: access lines and security
/// events on stdout, never cut or interleaved however many loops write, and never blocking the
/// request path when nobody reads; JSON diagnostics on stderr, starting with one start line.
@Suite("Log shipping", .serialized)
struct LogShippingTests {
    static func policy(proxyUpstream upstreamPort: Int) -> String {
        """
        version: 1
        listen: 127.0.0.1:0
        upstream: { url: "http://127.0.0.1:\(upstreamPort)" }
        admin: { listen: 127.0.0.1:0 }
        log:
          access: stdout
          buffer: 64KiB
          headers: [user-agent]
        routes:
          - name: api
            match: { prefix: /api/ }
          - name: closed
            match: { prefix: /closed/ }
            guards:
              - ip: { allow: [10.0.0.0/8] }
        default: deny
        """
    }

    /// Runs `palisade run` with stdout into a pipe the test controls and stderr into a file.
    final class PipedChild: @unchecked Sendable {
        let process = Process()
        let stdout = Pipe()
        let stderrPath: String

        init(policyPath: String, threads: Int) throws {
            let directory = try TemporaryFiles.directory("palisade-logship")
            stderrPath = directory.appendingPathComponent("stderr").path
            _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
            process.executableURL = URL(fileURLWithPath: CLITests.binary)
            process.arguments = ["run", "--config", policyPath, "--threads", String(threads)]
            process.standardOutput = stdout
            process.standardError = FileHandle(forWritingAtPath: stderrPath)
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }

        var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

        func ports() async -> CLITests.BoundPorts? {
            var ports: CLITests.BoundPorts?
            _ = await TestSupport.eventually(timeout: .seconds(10)) {
                ports = CLITests.BoundPorts(startLineIn: self.stderr)
                return ports != nil
            }
            return ports
        }

        func stop() {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
    }

    @Test(
        "stdout nobody reads: requests keep flowing, the lines past the buffer are dropped and counted; read later, every line is whole",
        .enabled(if: CLITests.binaryExists, CLITests.skipMessage)
    )
    func blockedStdout() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await TestUpstream.start(group: group)
        let policyPath = try CLITests.temporaryFile(Self.policy(proxyUpstream: upstream.port))
        let child = try PipedChild(policyPath: policyPath, threads: 2)
        defer { child.stop() }
        let ports = try #require(await child.ports(), "no start line; stderr:\n\(child.stderr)")
        // ~2 KiB lines: the 64 KiB pipe and the 64 KiB buffer are full after ~70 requests.
        let agent = String(repeating: "agent-", count: 340)
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Int.self) { tasks in
            for worker in 0..<4 {
                tasks.addTask {
                    var ok = 0
                    for index in 0..<100 {
                        let path = (index + worker) % 10 == 0 ? "/closed/x" : "/api/\(worker)/\(index)"
                        let response = try await RawClient.get(path, port: ports.proxy, headers: [("User-Agent", agent)])
                        if response.status == 200 || response.status == 403 { ok += 1 }
                    }
                    return ok
                }
            }
            var answered = 0
            for try await ok in tasks { answered += ok }
            #expect(answered == 400)
        }
        // Not a speed assertion (each request above must also answer within RawClient's 3 s): a
        // blocked writer would hold the loops for good, not for a while, even on a loaded machine.
        #expect(ContinuousClock.now - started < .seconds(240))
        let metrics = try await RawClient.get("/metrics", port: try #require(ports.admin)).bodyText
        let dropped = try #require(TestSupport.metricValue(metrics, #"palisade_log_dropped_lines_total{stream="access"}"#))
        #expect(dropped > 100, "\(dropped) lines dropped")
        #expect(TestSupport.metricValue(metrics, #"palisade_security_events_total{type="refusal"}"#) == 40)

        // Now read: what was queued comes out, each line whole and alone.
        let reader = child.stdout.fileHandleForReading
        let collected = Task.detached { () -> Data in
            var data = Data()
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                data.append(chunk)
            }
            return data
        }
        try await Task.sleep(for: .milliseconds(500))
        kill(child.process.processIdentifier, SIGTERM)
        let output = await collected.value
        let lines = output.split(separator: UInt8(ascii: "\n"))
        #expect(lines.count > 30)
        for line in lines {
            let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any]
            #expect(object != nil, "a cut or interleaved line: \(String(decoding: line.prefix(120), as: UTF8.self))")
        }
        // Whatever was written plus whatever was dropped is every line made: none lost silently.
        #expect(Double(lines.count) + dropped == 400 + 40, "\(lines.count) written, \(dropped) dropped")
        await upstream.stop()
        try await group.shutdownGracefully()
    }

    @Test(
        "one JSON start line on stderr: listen, admin, upstream, policy file and digest, routes, guards, store",
        .enabled(if: CLITests.binaryExists, CLITests.skipMessage)
    )
    func startLine() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await TestUpstream.start(group: group)
        let text = Self.policy(proxyUpstream: upstream.port)
        let policyPath = try CLITests.temporaryFile(text)
        let child = try PipedChild(policyPath: policyPath, threads: 1)
        defer { child.stop() }
        _ = try #require(await child.ports(), "no start line; stderr:\n\(child.stderr)")
        let lines = child.stderr.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(!lines.contains { $0 == nil }, "stderr is not JSON lines:\n\(child.stderr)")
        let start = try #require(lines.compactMap { $0 }.first { $0["message"] as? String == "palisade listening" })
        #expect(start["level"] as? String == "info")
        #expect((start["proxy"] as? String)?.hasPrefix("127.0.0.1:") == true)
        #expect((start["admin"] as? String)?.hasPrefix("127.0.0.1:") == true)
        #expect(start["upstream"] as? String == "http://127.0.0.1:\(upstream.port)")
        #expect(start["policy"] as? String == policyPath)
        #expect(start["policy_digest"] as? String == (try Python.sha256Hex(text)))
        #expect(start["routes"] as? String == "2")
        #expect(start["guards"] as? String == "ip×1")
        #expect(start["store"] as? String == "memory")
        await upstream.stop()
        try await group.shutdownGracefully()
    }
}
