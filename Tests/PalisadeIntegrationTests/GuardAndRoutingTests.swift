import Foundation
import PalisadeCore
import PalisadeTesting
import Testing

/// Guards and routes end to end: what is refused never reaches the app, report mode lets it
/// through but says so in the access line, unmatched requests follow `default`.
@Suite("Guards and routing", .serialized)
struct GuardAndRoutingTests {
    static func policy(routes: String, default action: String = "deny", extra: String = "") -> String {
        ProxyHarness.policy(
            """
            \(extra)
            routes:
            \(routes)
            default: \(action)
            """
        )
    }

    static func guards(_ line: [String: Any]) -> [[String: Any]] { line["guards"] as? [[String: Any]] ?? [] }

    @Test("an ip guard lets allowed clients through and answers others 403 ip_denied")
    func ipGuard() async throws {
        let yaml = Self.policy(
            routes: """
                  - name: local-only
                    match: { prefix: /local/ }
                    guards:
                      - ip: { allow: [127.0.0.0/8] }
                  - name: cluster-only
                    match: { prefix: /cluster/ }
                    guards:
                      - ip: { allow: [10.0.0.0/8, "fd00::/8"] }
                  - name: deny-loopback
                    match: { prefix: /denied/ }
                    guards:
                      - ip: { deny: [127.0.0.1/32] }
                  - name: allow-but-deny
                    match: { prefix: /both/ }
                    guards:
                      - ip: { allow: [127.0.0.0/8], deny: [127.0.0.1] }
                """)
        try await ProxyHarness.with(yaml: yaml) { harness in
            let allowed = try await RawClient.get("/local/x", port: harness.proxyPort)
            #expect(allowed.status == 200)
            #expect(harness.upstream.requests.map(\.path) == ["/local/x"])

            for path in ["/cluster/x", "/denied/x", "/both/x"] {
                harness.upstream.reset()
                let refused = try await RawClient.get(path, port: harness.proxyPort)
                #expect(refused.status == 403, "\(path)")
                #expect(refused.json?["error"] as? String == "ip_denied")
                #expect(refused.json?["request_id"] as? String == refused.header("x-request-id"))
                #expect(harness.upstream.requests.isEmpty, "\(path) reached the app")
            }

            let lines = await harness.accessLines()
            let denied = try #require(lines.first { $0["path"] as? String == "/cluster/x" })
            #expect(denied["status"] as? Int == 403)
            #expect(denied["route"] as? String == "cluster-only")
            #expect(denied["upstream_status"] is NSNull)
            let notes = Self.guards(denied)
            #expect(notes.count == 1)
            #expect(notes.first?["guard"] as? String == "ip")
            #expect(notes.first?["outcome"] as? String == "ip_denied")
            #expect(notes.first?["mode"] == nil, "an enforced refusal is not marked as report")

            let metrics = try await harness.metrics()
            #expect(
                TestSupport.metricValue(
                    metrics, #"palisade_guard_decisions_total{route="cluster-only",guard="ip",outcome="ip_denied",detail=""}"#) == 1
            )
            #expect(
                TestSupport.metricValue(metrics, #"palisade_guard_decisions_total{route="local-only",guard="ip",outcome="ok",detail=""}"#)
                    == 1)
        }
    }

    @Test("the ip guard judges the client address from a trusted proxy's X-Forwarded-For")
    func ipGuardBehindProxy() async throws {
        let yaml = Self.policy(
            routes: """
                  - name: cluster-only
                    match: { prefix: / }
                    guards:
                      - ip: { allow: [10.0.0.0/8] }
                """,
            extra: "client_ip:\n  from: x-forwarded-for\n  trusted_proxies: [127.0.0.1/32]"
        )
        try await ProxyHarness.with(yaml: yaml) { harness in
            let inside = try await RawClient.get("/a", port: harness.proxyPort, headers: [("X-Forwarded-For", "10.1.2.3")])
            #expect(inside.status == 200)
            let outside = try await RawClient.get("/b", port: harness.proxyPort, headers: [("X-Forwarded-For", "203.0.113.9")])
            #expect(outside.status == 403)
            // A client cannot slip an allowed address in front of its own.
            let spoofed = try await RawClient.get(
                "/c", port: harness.proxyPort, headers: [("X-Forwarded-For", "10.1.2.3, 203.0.113.9")]
            )
            #expect(spoofed.status == 403)
            #expect(harness.upstream.requests.map(\.path) == ["/a"])
            let lines = await harness.accessLines()
            #expect(lines.first { $0["path"] as? String == "/a" }?["client_ip"] as? String == "10.1.2.3")
            #expect(lines.first { $0["path"] as? String == "/c" }?["client_ip"] as? String == "203.0.113.9")
        }
    }

    @Test("a route in report mode forwards a refused request and logs the guard with mode report")
    func routeReportMode() async throws {
        let yaml = Self.policy(
            routes: """
                  - name: trial
                    match: { prefix: / }
                    mode: report
                    guards:
                      - ip: { allow: [10.0.0.0/8] }
                """)
        try await ProxyHarness.with(yaml: yaml) { harness in
            let response = try await RawClient.get("/report-me", port: harness.proxyPort)
            #expect(response.status == 200)
            #expect(response.header("x-upstream") == "echo")
            #expect(harness.upstream.requests.map(\.path) == ["/report-me"])
            let line = try await harness.accessLine { $0["path"] as? String == "/report-me" }
            #expect(line["status"] as? Int == 200)
            #expect(line["route"] as? String == "trial")
            let notes = Self.guards(line)
            #expect(notes.count == 1)
            #expect(notes.first?["guard"] as? String == "ip")
            #expect(notes.first?["outcome"] as? String == "ip_denied")
            #expect(notes.first?["mode"] as? String == "report")
            #expect(
                TestSupport.metricValue(
                    try await harness.metrics(),
                    #"palisade_guard_decisions_total{route="trial",guard="ip",outcome="reported:ip_denied",detail=""}"#
                ) == 1
            )
        }
    }

    @Test("a guard in report mode forwards; an enforcing guard after it still refuses")
    func guardReportMode() async throws {
        let yaml = Self.policy(
            routes: """
                  - name: mixed
                    match: { prefix: /mixed/ }
                    guards:
                      - ip: { allow: [10.0.0.0/8], mode: report }
                      - ip: { deny: [127.0.0.1/32] }
                  - name: reported
                    match: { prefix: /reported/ }
                    guards:
                      - ip: { allow: [10.0.0.0/8], mode: report }
                """)
        try await ProxyHarness.with(yaml: yaml) { harness in
            let reported = try await RawClient.get("/reported/x", port: harness.proxyPort)
            #expect(reported.status == 200)
            let mixed = try await RawClient.get("/mixed/x", port: harness.proxyPort)
            #expect(mixed.status == 403)
            #expect(harness.upstream.requests.map(\.path) == ["/reported/x"])
            let lines = await harness.accessLines()
            let reportedLine = try #require(lines.first { $0["path"] as? String == "/reported/x" })
            #expect(Self.guards(reportedLine).first?["mode"] as? String == "report")
            #expect(Self.guards(reportedLine).first?["outcome"] as? String == "ip_denied")
            let mixedLine = try #require(lines.first { $0["path"] as? String == "/mixed/x" })
            let notes = Self.guards(mixedLine)
            #expect(notes.count == 2)
            #expect(notes.first?["mode"] as? String == "report")
            #expect(notes.last?["outcome"] as? String == "ip_denied")
            #expect(notes.last?["mode"] == nil)
        }
    }

    @Test("a path that routes take, with another method, gets 405 with Allow instead of 404")
    func methodNotAllowed() async throws {
        let yaml = Self.policy(
            routes: """
                  - name: hooks
                    match: { path: /hooks, methods: [POST] }
                  - name: items
                    match: { prefix: /items/, methods: [GET, HEAD] }
                  - name: items-write
                    match: { prefix: /items/, methods: [PUT, DELETE] }
                """)
        try await ProxyHarness.with(yaml: yaml) { harness in
            let hooks = try await RawClient.get("/hooks", port: harness.proxyPort)
            #expect(hooks.status == 405)
            #expect(hooks.header("allow") == "POST")
            #expect(hooks.json?["error"] as? String == "method_not_allowed")
            let items = try await RawClient.get("/items/1", port: harness.proxyPort, method: "POST", body: "{}")
            #expect(items.status == 405)
            #expect(items.header("allow") == "GET, HEAD, PUT, DELETE")
            // A path no route has is still 404, and nothing reached the app.
            let missing = try await RawClient.get("/elsewhere", port: harness.proxyPort)
            #expect(missing.status == 404)
            #expect(missing.json?["error"] as? String == "no_route")
            #expect(harness.upstream.requests.isEmpty)
            let accepted = try await RawClient.get("/items/1", port: harness.proxyPort)
            #expect(accepted.status == 200)
        }
    }

    @Test("default: deny answers unmatched requests 404 no_route without forwarding")
    func defaultDeny() async throws {
        let yaml = Self.policy(
            routes: """
                  - name: api
                    match: { prefix: /api/ }
                """)
        try await ProxyHarness.with(yaml: yaml) { harness in
            let response = try await RawClient.get("/not-api", port: harness.proxyPort)
            #expect(response.status == 404)
            #expect(response.json?["error"] as? String == "no_route")
            #expect(harness.upstream.requests.isEmpty)
            let line = try #require(await harness.accessLines().last)
            #expect(line["route"] is NSNull)
            #expect(line["status"] as? Int == 404)

            // The connection stays usable after a refusal of a complete request.
            let phases = try await RawClient.conversation(
                [TestSupport.request("GET", "/nope"), TestSupport.request("GET", "/api/yes", close: true)], port: harness.proxyPort
            )
            #expect(phases.map(\.statuses) == [[404], [200]])
        }
    }

    @Test("default: allow forwards unmatched requests")
    func defaultAllow() async throws {
        let yaml = Self.policy(
            routes: """
                  - name: api
                    match: { prefix: /api/ }
                    guards:
                      - ip: { allow: [10.0.0.0/8] }
                """,
            default: "allow"
        )
        try await ProxyHarness.with(yaml: yaml) { harness in
            let unmatched = try await RawClient.get("/elsewhere", port: harness.proxyPort)
            #expect(unmatched.status == 200)
            #expect(harness.upstream.requests.map(\.path) == ["/elsewhere"])
            // A matched route's guards still apply.
            let guarded = try await RawClient.get("/api/x", port: harness.proxyPort)
            #expect(guarded.status == 403)
            #expect(harness.upstream.requests.count == 1)
            let line = try await harness.accessLine { $0["path"] as? String == "/elsewhere" }
            #expect(line["route"] is NSNull)
            #expect(line["upstream_status"] as? Int == 200)
        }
    }

    @Test("methods and host select routes end to end")
    func methodsAndHost() async throws {
        let yaml = Self.policy(
            routes: """
                  - name: submit
                    match: { path: /submit, methods: [POST] }
                  - name: tenant
                    match: { prefix: /t/, host: tenant.example.com }
                """)
        try await ProxyHarness.with(yaml: yaml) { harness in
            let post = try await RawClient.get("/submit", port: harness.proxyPort, method: "POST", body: "x=1")
            #expect(post.status == 200)
            let get = try await RawClient.get("/submit", port: harness.proxyPort)
            #expect(get.status == 405)
            #expect(get.header("allow") == "POST")
            let exactOnly = try await RawClient.get("/submit/more", port: harness.proxyPort, method: "POST", body: "x=1")
            #expect(exactOnly.status == 404)

            for host in ["tenant.example.com", "TENANT.Example.com:8080"] {
                let outcome = try await RawClient.send(TestSupport.request("GET", "/t/1", host: host, close: true), port: harness.proxyPort)
                #expect(outcome.first?.status == 200, "Host: \(host)")
            }
            let other = try await RawClient.send(
                TestSupport.request("GET", "/t/1", host: "other.example.com", close: true), port: harness.proxyPort
            )
            #expect(other.first?.status == 404)
            #expect(harness.upstream.requests.count == 3)

            let lines = await harness.accessLines()
            #expect(lines.filter { $0["route"] as? String == "tenant" }.count == 2)
            #expect(lines.filter { $0["route"] as? String == "submit" }.count == 1)
        }
    }

    static let guardedAdmin = policy(
        routes: """
              - name: admin
                match: { prefix: /admin/ }
                guards:
                  - ip: { allow: [10.0.0.0/8] }
              - name: admin-host
                match: { prefix: /, host: admin.example.com }
                guards:
                  - ip: { allow: [10.0.0.0/8] }
              - name: rest
                match: { prefix: / }
            """)

    @Test(
        "a path with percent-encoded unreserved characters cannot slip past a guarded prefix",
        arguments: ["/%61dmin/secret", "/adm%69n/secret", "/%61%64%6D%69%6E/secret"]
    )
    func encodedPathBypass(_ target: String) async throws {
        // RFC 3986 6.2.2.2: %61 and 'a' are the same URI; the app decodes it to /admin/secret.
        try await ProxyHarness.with(yaml: Self.guardedAdmin) { harness in
            let outcome = try await RawClient.send(
                TestSupport.request("GET", target, host: "public.example.com", close: true), port: harness.proxyPort
            )
            let status = try #require(outcome.first?.status)
            #expect([400, 403].contains(status), "\(target) answered \(status)")
            #expect(harness.upstream.requests.isEmpty, "\(target) reached the app past the admin guard")
        }
    }

    @Test("an absolute-form target is judged by its own authority, not by a different Host field")
    func absoluteFormHostBypass() async throws {
        // RFC 9112 3.2.2: a server receiving absolute-form MUST ignore Host and use the target's authority.
        try await ProxyHarness.with(yaml: Self.guardedAdmin) { harness in
            let smuggled = try await RawClient.send(
                Array("GET http://admin.example.com/secret HTTP/1.1\r\nHost: public.example.com\r\nConnection: close\r\n\r\n".utf8),
                port: harness.proxyPort
            )
            let status = try #require(smuggled.first?.status)
            #expect([400, 403].contains(status), "answered \(status)")
            #expect(harness.upstream.requests.isEmpty, "reached the app as \(harness.upstream.requests.map(\.head.uri))")

            // The path inside an absolute-form target is routed like any other.
            let guardedPath = try await RawClient.send(
                Array("GET http://public.example.com/admin/x HTTP/1.1\r\nHost: public.example.com\r\nConnection: close\r\n\r\n".utf8),
                port: harness.proxyPort
            )
            #expect(guardedPath.first?.status == 403)

            // A consistent absolute-form request is served.
            let plain = try await RawClient.send(
                Array("GET http://public.example.com/x HTTP/1.1\r\nHost: public.example.com\r\nConnection: close\r\n\r\n".utf8),
                port: harness.proxyPort
            )
            #expect(plain.first?.status == 200)
            #expect(harness.upstream.requests.count == 1)
        }
    }

    @Test("Expect: 100-continue to a refused route gets the refusal and never 100 Continue")
    func expectContinueRefused() async throws {
        try await ProxyHarness.with(yaml: Self.guardedAdmin) { harness in
            let outcome = try await RawClient.send(
                TestSupport.request(
                    "POST", "/admin/upload", host: "public.example.com", headers: [("Content-Length", "5"), ("Expect", "100-continue")]
                ),
                port: harness.proxyPort
            )
            #expect(outcome.statuses == [403])
            #expect(outcome.first?.json?["error"] as? String == "ip_denied")
            #expect(outcome.peerClosed, "the unread body must not be parsed as a next request")
            #expect(harness.upstream.connectionsOpened == 0)
        }
    }
}
