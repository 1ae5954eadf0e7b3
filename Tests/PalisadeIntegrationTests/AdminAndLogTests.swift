import Foundation
import PalisadeCore
import PalisadeTesting
import Testing

/// The admin listener and the access log: probes answer, metrics count traffic, and access lines
/// carry the documented fields but never a secret query value or a credential.
@Suite("Admin and access log", .serialized)
struct AdminAndLogTests {
    static let policy = ProxyHarness.policy(
        """
        log:
          access: stdout
          headers: [user-agent]
        routes:
          - name: app
            match: { prefix: /app/ }
        default: deny
        """
    )

    @Test("/healthz answers 200")
    func healthz() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let admin = try #require(harness.adminPort)
            let response = try await RawClient.get("/healthz", port: admin)
            #expect(response.status == 200)
            #expect(response.json?["status"] as? String == "ok")
            #expect(response.header("cache-control") == "no-store")
            let unknown = try await RawClient.get("/nope", port: admin)
            #expect(unknown.status == 404)
            let post = try await RawClient.get("/healthz", port: admin, method: "POST", body: "")
            #expect(post.status == 405)
            // The admin port is not a way into the app.
            #expect(harness.upstream.requests.isEmpty)
        }
    }

    @Test("/readyz answers 200 with the policy generation")
    func readyz() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let response = try await RawClient.get("/readyz", port: try #require(harness.adminPort))
            #expect(response.status == 200)
            #expect(response.json?["status"] as? String == "ready")
            #expect(response.json?["policy_generation"] as? Int == 1)
        }
    }

    @Test("/metrics counts requests by route and status, with a duration histogram")
    func metrics() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            for _ in 0..<3 { _ = try await RawClient.get("/app/x", port: harness.proxyPort) }
            _ = try await RawClient.get("/unrouted", port: harness.proxyPort)
            let response = try await RawClient.get("/metrics", port: try #require(harness.adminPort))
            #expect(response.status == 200)
            #expect(response.header("content-type")?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = response.bodyText
            #expect(TestSupport.metricValue(text, #"palisade_requests_total{route="app",status="200"}"#) == 3)
            #expect(text.contains("# TYPE palisade_requests_total counter"))
            #expect(text.contains("# TYPE palisade_request_duration_seconds histogram"))
            #expect(TestSupport.metricValue(text, #"palisade_request_duration_seconds_count{route="app"}"#) == 3)
            #expect(TestSupport.metricValue(text, #"palisade_request_duration_seconds_bucket{route="app",le="+Inf"}"#) == 3)
            #expect(TestSupport.metricValue(text, #"palisade_request_duration_seconds_bucket{route="app",le="10.0"}"#) == 3)
            let sum = try #require(TestSupport.metricValue(text, #"palisade_request_duration_seconds_sum{route="app"}"#))
            #expect(sum > 0 && sum < 5)
            // Buckets are cumulative: never decreasing.
            let buckets = text.split(separator: "\n")
                .filter { $0.hasPrefix(#"palisade_request_duration_seconds_bucket{route="app","#) }
                .compactMap { Double($0.split(separator: " ").last ?? "") }
            #expect(buckets.count == 15)
            #expect(buckets == buckets.sorted())
            // The unrouted refusal is counted too, under its own label.
            #expect(TestSupport.metricValue(text, #"palisade_rejections_total{code="no_route"}"#) == 1)
            #expect(text.contains(#"status="404"} "#))
            #expect(TestSupport.metricValue(text, "palisade_policy_generation") == 1)
            #expect(TestSupport.metricValue(text, "palisade_draining") == 0)
            #expect(text.contains(#"palisade_build_info{version="\#(PalisadeVersion.current)"} 1"#))
            #expect(TestSupport.metricValue(text, "palisade_connections_accepted_total").map { $0 >= 4 } == true)
        }
    }

    @Test("an access line has the documented fields with the right values")
    func accessLineFields() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let body = "0123456789"
            let response = try await RawClient.get(
                "/app/log-me", port: harness.proxyPort, headers: [("User-Agent", "palisade-test/1.0")], method: "POST", body: body
            )
            #expect(response.status == 200)
            let lines = await harness.accessLines()
            #expect(lines.count == 1)
            let line = try #require(lines.first)
            for field in [
                "ts", "request_id", "client_ip", "method", "path", "route", "status", "upstream_status", "duration_ms",
                "bytes_in", "bytes_out", "guards",
            ] {
                #expect(line[field] != nil, "missing field \(field)")
            }
            let ts = try #require(line["ts"] as? String)
            #expect(ts.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) != nil, "ts \(ts)")
            #expect(line["request_id"] as? String == response.header("x-request-id"))
            #expect(line["client_ip"] as? String == "127.0.0.1")
            #expect(line["method"] as? String == "POST")
            #expect(line["path"] as? String == "/app/log-me")
            #expect(line["route"] as? String == "app")
            #expect(line["status"] as? Int == 200)
            #expect(line["upstream_status"] as? Int == 200)
            let duration = try #require(line["duration_ms"] as? Double)
            #expect(duration >= 0 && duration < 2000)
            #expect(line["bytes_in"] as? Int == body.utf8.count)
            #expect(line["bytes_out"] as? Int == response.body.count)
            #expect((line["guards"] as? [Any])?.isEmpty == true)
            #expect((line["headers"] as? [String: String])?["user-agent"] == "palisade-test/1.0")
            #expect(line["error"] == nil)
        }
    }

    @Test("access lines never contain secret query values or credential headers")
    func noSecretsInLog() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let secrets: [(String, String)] = [
                ("Authorization", "Bearer SECRET456"),
                ("Cookie", "session=SECRET789"),
                ("Proxy-Authorization", "Basic SECRETPROXY"),
                ("X-Api-Key", "SECRETKEY"),
            ]
            let forwarded = try await RawClient.get("/app/p?token=SECRET123&x=1", port: harness.proxyPort, headers: secrets)
            #expect(forwarded.status == 200)
            let refused = try await RawClient.get("/elsewhere?token=SECRET123", port: harness.proxyPort, headers: secrets)
            #expect(refused.status == 404)
            let malformed = try await RawClient.send(
                Array("GET /app/../x?token=SECRET123 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer SECRET456\r\n\r\n".utf8),
                port: harness.proxyPort
            )
            #expect(malformed.first?.status == 400)
            let lines = await harness.accessLines()
            #expect(lines.count == 3)
            let text = await harness.accessLogText()
            for secret in ["SECRET123", "SECRET456", "SECRET789", "SECRETPROXY", "SECRETKEY"] {
                #expect(!text.contains(secret), "\(secret) appears in the access log")
            }
            #expect(lines.first?["path"] as? String == "/app/p")
            // The query is logged, its secret-named value replaced whole, the rest as sent.
            #expect(lines.first?["query"] as? String == "token=[masked]&x=1")
            // Refusals echo nothing of the request either.
            #expect(!refused.bodyText.contains("SECRET"))
            #expect(!String(decoding: malformed.raw, as: UTF8.self).contains("SECRET"))
        }
    }

    @Test("log.access: off writes no access lines")
    func accessLogOff() async throws {
        let yaml = Self.policy.replacingOccurrences(of: "access: stdout", with: "access: off")
        try await ProxyHarness.with(yaml: yaml) { harness in
            _ = try await RawClient.get("/app/quiet", port: harness.proxyPort)
            #expect(await harness.accessLines().isEmpty)
        }
    }

    @Test("while draining, /readyz answers 503 and an in-flight request still completes")
    func readyzWhileDraining() async throws {
        // Wide margins: the in-flight request outlasts the readiness poll, and the drain deadline
        // outlasts the request, even on a loaded machine.
        let yaml = Self.policy.replacingOccurrences(of: "prefix: /app/", with: "prefix: /")
            .replacingOccurrences(of: "drain_timeout: 2s", with: "drain_timeout: 10s")
            .replacingOccurrences(of: "response_timeout: 2s", with: "response_timeout: 8s")
        try await ProxyHarness.with(yaml: yaml) { harness in
            let admin = try #require(harness.adminPort)
            // A lower bound is asserted, not an upper one, so a slow machine cannot fail it: the
            // app answers 3 s after the request was sent, and the drain may not end before that. The 3 s
            // leave room, on a machine busy with builds, for the drain to begin while the request waits.
            let sent = ContinuousClock.now
            let slowTask = Task {
                try await RawClient.send(
                    TestSupport.request("GET", "/slow?ms=3000"), port: harness.proxyPort, timeoutMilliseconds: 9000
                )
            }
            let inFlight = await TestSupport.eventually { harness.upstream.requests.contains { $0.path == "/slow" } }
            #expect(inFlight)
            let drained = Flag()
            let drainedBeforeAnswer = Flag()
            Task {
                await harness.runtime.drainAndStop()
                if ContinuousClock.now - sent < .milliseconds(2950) { drainedBeforeAnswer.set() }
                drained.set()
            }
            let notReady = await TestSupport.eventually(timeout: .seconds(2)) {
                (try? await RawClient.get("/readyz", port: admin))?.status == 503
            }
            #expect(notReady, "/readyz still ready while draining")
            let outcome = try await slowTask.value
            #expect(outcome.first?.status == 200)
            #expect(outcome.first?.header("connection")?.lowercased() == "close")
            #expect(outcome.peerClosed)
            #expect(await TestSupport.eventually(timeout: .seconds(3)) { drained.isSet }, "drain did not finish once idle")
            #expect(!drainedBeforeAnswer.isSet, "the drain did not wait for the in-flight request")
        }
    }
}
