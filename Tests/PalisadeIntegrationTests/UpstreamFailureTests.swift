import Foundation
import PalisadeCore
import PalisadeTesting
import Testing

/// When the app is down, slow or breaks off an answer: the client gets a clear error (or a cut
/// connection, never a silently truncated body), the failure is counted, and the proxy serves on.
@Suite("Upstream failures", .serialized)
struct UpstreamFailureTests {
    static func policy(upstream: String = "{{UPSTREAM}}", responseTimeout: String = "2s", connectTimeout: String = "1s") -> String {
        ProxyHarness.policy(
            upstream: upstream, connectTimeout: connectTimeout, responseTimeout: responseTimeout,
            """
            routes:
              - name: app
                match: { prefix: / }
            default: deny
            """
        )
    }

    static func upstreamErrors(_ harness: ProxyHarness, _ kind: String) async throws -> Double {
        TestSupport.metricValue(try await harness.metrics(), "palisade_upstream_errors_total{kind=\"\(kind)\"}") ?? 0
    }

    @Test("an app that refuses connections gives 502 upstream_unavailable at once")
    func refused() async throws {
        let refusing = try TestSupport.RefusingPort()
        defer { withExtendedLifetime(refusing) {} }
        let closedPort = refusing.port
        // A connect_timeout far above the bound: "at once" means the refusal was not waited out,
        // with room for a machine busy with the suites running beside this one.
        let policy = Self.policy(upstream: "http://127.0.0.1:\(closedPort)", connectTimeout: "10s")
        try await ProxyHarness.with(yaml: policy) { harness in
            let clock = ContinuousClock()
            let started = clock.now
            let response = try await RawClient.get("/anything", port: harness.proxyPort)
            #expect(clock.now - started < .seconds(4))
            #expect(response.status == 502)
            #expect(response.json?["error"] as? String == "upstream_unavailable")
            #expect(response.json?["request_id"] as? String == response.header("x-request-id"))
            #expect(try await Self.upstreamErrors(harness, "connect_failed") == 1)

            // Still serving: a second failure is answered the same way and counted again.
            let again = try await RawClient.get("/again", port: harness.proxyPort)
            #expect(again.status == 502)
            #expect(try await Self.upstreamErrors(harness, "connect_failed") == 2)

            // Once the policy points at a live app, the same proxy forwards normally.
            try harness.writePolicy(Self.policy())
            guard case .success = harness.runtime.reload(path: harness.policyPath) else {
                Issue.record("reload failed")
                return
            }
            let recovered = await TestSupport.eventually {
                (try? await RawClient.get("/after", port: harness.proxyPort).status) == 200
            }
            #expect(recovered)
            #expect(harness.upstream.requests.map(\.path).contains("/after"))
        }
    }

    @Test("after a 502 for a failed connect, the same keep-alive connection serves its next requests")
    func connectFailureKeepsTheClientConnectionUsable() async throws {
        let refusing = try TestSupport.RefusingPort()
        defer { withExtendedLifetime(refusing) {} }
        let closedPort = refusing.port
        try await ProxyHarness.with(yaml: Self.policy(upstream: "http://127.0.0.1:\(closedPort)")) { harness in
            let connection = try await RawConnection.open(port: harness.proxyPort)
            defer { connection.close() }
            for i in 0..<3 {
                await connection.send(TestSupport.request("GET", "/down/\(i)", close: false))
                let response = await connection.readResponse(timeoutMilliseconds: 2000)
                #expect(response?.status == 502, "request \(i) on the same connection: \(String(describing: response))")
                #expect(response?.json?["error"] as? String == "upstream_unavailable")
                if response == nil { return }
            }
            // Pipelined requests behind a failed one are answered too, in order.
            await connection.send(
                TestSupport.request("GET", "/p/1", close: false) + TestSupport.request("GET", "/p/2", close: false))
            #expect(await connection.readResponse(timeoutMilliseconds: 2000)?.status == 502)
            #expect(await connection.readResponse(timeoutMilliseconds: 2000)?.status == 502)
            // A generous deadline: the suite once saw the count arrive after 3 s on a loaded machine.
            let counted = await TestSupport.eventually(timeout: .seconds(10)) {
                (try? await Self.upstreamErrors(harness, "connect_failed")) == 5
            }
            let final = try await Self.upstreamErrors(harness, "connect_failed")
            #expect(counted, "connect_failed: \(final)")
        }
    }

    @Test("an app that answers with Connection: close reaches a keep-alive client at once")
    func appClosesKeepAliveClient() async throws {
        try await ProxyHarness.with(yaml: Self.policy()) { harness in
            let connection = try await RawConnection.open(port: harness.proxyPort)
            defer { connection.close() }
            for i in 0..<3 {
                await connection.send(TestSupport.request("GET", "/close", close: false))
                let response = await connection.readResponse(timeoutMilliseconds: 2000)
                #expect(response?.status == 200, "answer \(i) never arrived")
                #expect(response?.bodyText == #"{"close":true}"#)
                if response == nil { return }
            }
            #expect(harness.upstream.connectionsOpened == 3)
        }
    }

    @Test("an app slower than response_timeout gives 504 upstream_timeout in time")
    func slowApp() async throws {
        try await ProxyHarness.with(yaml: Self.policy(responseTimeout: "500ms")) { harness in
            let clock = ContinuousClock()
            let started = clock.now
            // The app would answer after 10 s; the 504 must come from the 500 ms timeout, with room
            // for a busy machine, and never before it.
            let outcome = try await RawClient.send(
                TestSupport.request("GET", "/slow?ms=10000", close: true), port: harness.proxyPort, timeoutMilliseconds: 9000)
            let elapsed = clock.now - started
            let response = try #require(outcome.first)
            #expect(response.status == 504)
            #expect(response.json?["error"] as? String == "upstream_timeout")
            #expect(elapsed >= .milliseconds(450), "timed out after only \(elapsed)")
            #expect(elapsed < .seconds(5), "timed out after \(elapsed)")
            #expect(try await Self.upstreamErrors(harness, "response_timeout") == 1)

            let normal = try await RawClient.get("/fast", port: harness.proxyPort)
            #expect(normal.status == 200)
            #expect(normal.json?["uri"] as? String == "/fast")
        }
    }

    @Test("an app that answers within response_timeout is not cut off")
    func slowButInTime() async throws {
        try await ProxyHarness.with(yaml: Self.policy(responseTimeout: "1s")) { harness in
            let response = try await RawClient.get("/slow?ms=300", port: harness.proxyPort)
            #expect(response.status == 200)
            #expect(response.bodyText == #"{"slow":true}"#)
        }
    }

    @Test("a truncated answer cuts the client connection; the client never sees a complete body")
    func truncated() async throws {
        try await ProxyHarness.with(yaml: Self.policy()) { harness in
            let outcome = try await RawClient.send(
                TestSupport.request("GET", "/truncate", close: false), port: harness.proxyPort, timeoutMilliseconds: 2000
            )
            #expect(outcome.peerClosed, "the connection must be cut")
            #expect(outcome.responses.isEmpty, "a complete response was parsed from a truncated answer")
            let text = String(decoding: outcome.raw, as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.1 200"))
            if let bodyStart = outcome.raw.firstRange(of: Array("\r\n\r\n".utf8))?.upperBound {
                #expect(outcome.raw.count - bodyStart < 1000, "received \(outcome.raw.count - bodyStart) body bytes")
            }
            // The app broke off its answer: counted and logged as a lost connection, not a client abort.
            #expect(try await Self.upstreamErrors(harness, "connection_lost") == 1)
            let line = try await harness.accessLine { $0["path"] as? String == "/truncate" }
            #expect(line["error"] as? String == "connection_lost", "\(line)")
            #expect(line["status"] as? Int != 499, "logged as if the client had closed: \(line)")
            #expect(line["upstream_status"] as? Int == 200)

            let normal = try await RawClient.get("/after-truncate", port: harness.proxyPort)
            #expect(normal.status == 200)
        }
    }

    @Test("an app that closes after answering is not reused, and the next request still works")
    func appCloses() async throws {
        try await ProxyHarness.with(yaml: Self.policy()) { harness in
            let first = try await RawClient.get("/close", port: harness.proxyPort)
            #expect(first.status == 200)
            #expect(first.bodyText == #"{"close":true}"#)
            for i in 0..<3 {
                let next = try await RawClient.get("/next/\(i)", port: harness.proxyPort)
                #expect(next.status == 200)
            }
            #expect(harness.upstream.connectionsOpened == 2)
            #expect(try await Self.upstreamErrors(harness, "connection_lost") == 0)
        }
    }

    @Test("failures are counted per kind in /metrics")
    func metricsPerKind() async throws {
        try await ProxyHarness.with(yaml: Self.policy(responseTimeout: "300ms")) { harness in
            _ = try await RawClient.get("/slow?ms=2000", port: harness.proxyPort)
            _ = try? await RawClient.send(TestSupport.request("GET", "/truncate"), port: harness.proxyPort)
            let text = try await harness.metrics()
            #expect(TestSupport.metricValue(text, #"palisade_upstream_errors_total{kind="response_timeout"}"#) == 1)
            #expect(TestSupport.metricValue(text, #"palisade_upstream_errors_total{kind="connection_lost"}"#) == 1)
            #expect(TestSupport.metricValue(text, #"palisade_requests_total{route="app",status="504"}"#) == 1)
            #expect(TestSupport.metricValue(text, #"palisade_rejections_total{code="upstream_timeout"}"#) == 1)
        }
    }
}
