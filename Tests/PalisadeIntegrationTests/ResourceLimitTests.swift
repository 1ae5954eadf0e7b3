import Foundation
import NIOPosix
import PalisadeCore
import PalisadeTesting
import Testing

/// Resources a client controls: how many `Connection` options it may nominate, what a repeated
/// Content-Length becomes on the way to the app, how many connections it may hold open, and what
/// the proxy does when the process runs out of file descriptors.
@Suite("Resource limits", .serialized)
struct ResourceLimitTests {
    static func policy(upstream: String = "{{UPSTREAM}}", responseTimeout: String = "2s", limits: String = "") -> String {
        ProxyHarness.policy(
            upstream: upstream, responseTimeout: responseTimeout, drainTimeout: "1s",
            """
            \(limits)
            routes:
              - name: all
                match: { prefix: / }
            default: deny
            """
        )
    }

    // MARK: Connection options

    @Test("more than 32 Connection options, counted across Connection fields, are refused with too_many_connection_options")
    func tooManyConnectionOptions() async throws {
        try await ProxyHarness.with(yaml: Self.policy()) { harness in
            // RawClient.request adds `Connection: close`, which counts as an option too: 32 names
            // in two more Connection fields make 33, one over the cap.
            let some = (0..<32).map { "x-o\($0)" }
            let split = RawClient.request(
                "GET", "/some", host: "127.0.0.1",
                headers: [("Connection", some[..<20].joined(separator: ",")), ("Connection", some[20...].joined(separator: ", "))]
            )
            let refused = try #require(try await RawClient.send(split, port: harness.proxyPort).first)
            #expect(refused.status == 400)
            #expect(refused.json?["error"] as? String == "too_many_connection_options")

            // 31 names and `close` are 32: still fine.
            let allowed = RawClient.request(
                "GET", "/allowed", host: "127.0.0.1", headers: [("Connection", some[..<31].joined(separator: ", "))]
            )
            #expect(try await RawClient.send(allowed, port: harness.proxyPort).first?.status == 200)
            #expect(harness.upstream.requests.map(\.path) == ["/allowed"])
        }
    }

    @Test("1500 Connection options with a head limit large enough to hold them are refused by the cap")
    func capWithLargeHeads() async throws {
        try await ProxyHarness.with(yaml: Self.policy(limits: "limits: { max_header_bytes: 1MiB }")) { harness in
            let names = (0..<1500).map { "x-h\($0)" }
            let bytes = RawClient.request(
                "GET", "/many", host: "127.0.0.1",
                headers: [("Connection", names.joined(separator: ", "))] + names.map { ($0, "v") }
            )
            let response = try #require(try await RawClient.send(bytes, port: harness.proxyPort).first)
            #expect(response.status == 400)
            #expect(response.json?["error"] as? String == "too_many_connection_options")
            #expect(harness.upstream.requests.isEmpty)
        }
    }

    @Test("fields nominated in Connection, in any case and across several Connection fields, never reach the app")
    func nominatedFieldsRemoved() async throws {
        try await ProxyHarness.with(yaml: Self.policy()) { harness in
            let bytes = RawClient.request(
                "GET", "/hop", host: "127.0.0.1",
                headers: [
                    ("Connection", "X-Hop-One, x-hop-two"),
                    ("Connection", "X-HOP-THREE"),
                    ("x-hop-one", "1"), ("X-Hop-Two", "2"), ("x-hop-three", "3"), ("X-Hop-Three", "3b"),
                    ("X-Kept", "kept"), ("X-Hop", "same prefix, not nominated"),
                ]
            )
            #expect(try await RawClient.send(bytes, port: harness.proxyPort).first?.status == 200)
            let headers = try #require(harness.upstream.requests.first).head.headers
            for name in ["x-hop-one", "x-hop-two", "x-hop-three"] { #expect(headers[name].isEmpty, "\(name) reached the app") }
            #expect(headers["x-kept"] == ["kept"])
            #expect(headers["x-hop"] == ["same prefix, not nominated"])
        }
    }

    // MARK: Content-Length

    @Test("a Content-Length list of equal values, or equal repeated fields, reaches the app as one value")
    func repeatedContentLengthForwardedOnce() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let app = try await RawRecordingUpstream.start(group: group)
        let yaml = Self.policy(upstream: "http://127.0.0.1:\(app.port)")
        try await ProxyHarness.with(yaml: yaml) { harness in
            let cases = [
                "POST /list HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3, 3\r\nConnection: close\r\n\r\nabc",
                "POST /fields HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\ncontent-length: 3\r\nConnection: close\r\n\r\nabc",
                "POST /one HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
            ]
            for (index, request) in cases.enumerated() {
                let response = try #require(try await RawClient.send(request, port: harness.proxyPort).first)
                #expect(response.status == 200, "\(request)")
                let received = await TestSupport.eventually { app.requests.count == index + 1 }
                try #require(received)
                let text = String(decoding: app.requests[index], as: UTF8.self)
                let lengthLines = text.split(separator: "\r\n").filter { $0.lowercased().hasPrefix("content-length:") }
                #expect(lengthLines == ["Content-Length: 3"], "the app saw \(lengthLines)")
                #expect(text.hasSuffix("\r\n\r\nabc"))
            }
            // Differing values are still refused and never reach the app.
            let conflicting = "POST /conflict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3, 4\r\n\r\nabcd"
            let refused = try #require(try await RawClient.send(conflicting, port: harness.proxyPort).first)
            #expect(refused.status == 400)
            #expect(refused.json?["error"] as? String == "conflicting_content_length")
            #expect(app.requests.count == cases.count)
        }
        await app.stop()
        try await group.shutdownGracefully()
    }

    // MARK: max_connections

    @Test("above limits.max_connections the longest-idle connection is closed, counted, and the new client is served")
    func maxConnectionsClosesOldestIdle() async throws {
        try await ProxyHarness.with(yaml: Self.policy(limits: "limits: { max_connections: 4, idle_timeout: 30s }")) { harness in
            var held: [RawConnection] = []
            // Four connections, each idle after one request, oldest first.
            for i in 0..<4 {
                let connection = try await RawConnection.open(port: harness.proxyPort)
                await connection.send("GET /held/\(i) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                #expect(await connection.readResponse()?.status == 200)
                held.append(connection)
                try await Task.sleep(for: .milliseconds(20))
            }
            // A fifth client is served; the first (longest idle) connection is closed for it.
            let fresh = try await RawConnection.open(port: harness.proxyPort)
            await fresh.send("GET /fresh HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(await fresh.readResponse()?.status == 200)
            #expect(await held[0].waitForClose(timeoutMilliseconds: 2000), "the oldest idle connection stayed open")
            // The others were left alone and still work.
            for i in 1..<4 {
                await held[i].send("GET /again/\(i) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                #expect(await held[i].readResponse()?.status == 200, "connection \(i) was closed too")
            }
            let metrics = try await harness.metrics()
            #expect(TestSupport.metricValue(metrics, #"palisade_connections_limited_total{action="closed_idle"}"#) == 1)
            #expect(TestSupport.metricValue(metrics, #"palisade_connections_limited_total{action="refused"}"#) == 0)
            for connection in held + [fresh] { connection.close() }
        }
    }

    @Test("when every connection is busy, a connection above limits.max_connections is refused and counted")
    func maxConnectionsRefusesWhenAllBusy() async throws {
        // The app holds both requests for 4 s, so neither connection turns idle (and is closed to
        // make room) before the third arrives, even on a loaded machine.
        try await ProxyHarness.with(yaml: Self.policy(responseTimeout: "10s", limits: "limits: { max_connections: 2 }")) { harness in
            // Two requests held at the app: neither connection is idle.
            var busy: [RawConnection] = []
            for i in 0..<2 {
                let connection = try await RawConnection.open(port: harness.proxyPort)
                await connection.send("GET /slow?ms=4000&n=\(i) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                busy.append(connection)
            }
            let atApp = await TestSupport.eventually { harness.upstream.requests.filter { $0.path == "/slow" }.count == 2 }
            try #require(atApp)
            let refused = try await RawConnection.open(port: harness.proxyPort)
            await refused.send("GET /refused HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(await refused.waitForClose(timeoutMilliseconds: 2000), "the connection above the limit was not refused")
            #expect(!harness.upstream.requests.contains { $0.path == "/refused" })
            // The busy ones finish normally.
            for connection in busy { #expect(await connection.readResponse(timeoutMilliseconds: 8000)?.status == 200) }
            let metrics = try await harness.metrics()
            #expect(TestSupport.metricValue(metrics, #"palisade_connections_limited_total{action="refused"}"#) == 1)
            for connection in busy { connection.close() }
            // Once they are gone there is room again (a try before their closes are counted is refused).
            let served = await TestSupport.eventually {
                (try? await RawClient.get("/after", port: harness.proxyPort))?.status == 200
            }
            #expect(served)
        }
    }

    // MARK: out of file descriptors

    /// User plus system CPU time of a process so far, in clock ticks (/proc/PID/stat fields 14, 15).
    static func cpuTicks(pid: Int32) -> Int? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.range(of: ")", options: .backwards)
        else { return nil }
        // Fields after the command name start at field 3 (state).
        let fields = stat[close.upperBound...].split(separator: " ")
        guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
        return user + system
    }

    @Test(
        "out of file descriptors, accept backs off: little CPU, no spurious reload, and service resumes",
        .enabled(if: CLITests.binaryExists, CLITests.skipMessage)
    )
    func descriptorExhaustion() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await TestUpstream.start(group: group)
        // max_connections far above what 64 descriptors allow: the descriptor limit is what bites.
        let yaml = CLITests.runPolicy(proxyPort: 0, adminPort: 0, upstreamPort: upstream.port)
            .replacingOccurrences(of: "drain_timeout: 5s", with: "drain_timeout: 1s\nlimits:\n  max_connections: 10000")
        let path = try CLITests.temporaryFile(yaml)
        let directory = try TemporaryFiles.directory("palisade-fd")
        let stderrPath = directory.appendingPathComponent("stderr").path
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", "ulimit -n 64 && exec \"$0\" run --config \"$1\" --threads 1", CLITests.binary, path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
        var ports: CLITests.BoundPorts?
        _ = await TestSupport.eventually(timeout: .seconds(10)) {
            ports = CLITests.BoundPorts(startLineIn: stderr)
            return ports != nil
        }
        let proxyPort = try #require(ports?.proxy, "no start line; stderr:\n\(stderr)")
        let adminPort = try #require(ports?.admin)

        let ready = await TestSupport.eventually(timeout: .seconds(10)) {
            (try? await RawClient.get("/api/ready", port: proxyPort))?.status == 200
        }
        try #require(ready, "palisade never served under ulimit -n 64; stderr:\n\(stderr)")

        // More connections than descriptors: the kernel completes them, Palisade cannot accept them all.
        var held: [RawConnection] = []
        for _ in 0..<100 { held.append(try await RawConnection.open(port: proxyPort)) }
        try await Task.sleep(for: .milliseconds(300))
        let pid = process.processIdentifier
        let before = try #require(Self.cpuTicks(pid: pid))
        try await Task.sleep(for: .milliseconds(1500))
        let after = try #require(Self.cpuTicks(pid: pid))
        // A loop retrying accept at once burns all 150 ticks of a core; backing off needs a few.
        #expect(after - before < 30, "\(after - before) CPU ticks in 1.5 s while out of descriptors")

        for connection in held { connection.close() }
        held.removeAll()
        let served = await TestSupport.eventually(timeout: .seconds(5)) {
            (try? await RawClient.get("/api/after", port: proxyPort))?.status == 200
        }
        #expect(served, "no request served after descriptors were released; stderr:\n\(stderr)")
        // The watcher could not read the policy while descriptors ran out; that is no change.
        try await Task.sleep(for: .milliseconds(2200))
        #expect(!stderr.contains("policy or keys file changed"), "spurious reload:\n\(stderr)")
        let metrics = try await RawClient.get("/metrics", port: adminPort).bodyText
        #expect(TestSupport.metricValue(metrics, #"palisade_policy_reloads_total{result="success"}"#) == 0)

        kill(pid, SIGTERM)
        for _ in 0..<50 where process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        await upstream.stop()
        try await group.shutdownGracefully()
    }
}
