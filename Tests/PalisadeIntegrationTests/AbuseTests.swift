import Foundation
import PalisadeCore
import PalisadeTesting
import Testing

/// The abuse section through the real proxy: bad signatures (made with Python's hmac) ban the
/// client, the ban doubles on a repeat, an allowlisted client is never banned, the app's own 401s
/// on a login route count, a denied range is always refused, and the admin API lists, adds and
/// lifts bans behind its token.
@Suite("Abuse and bans", .serialized)
struct AbuseTests {
    static let secret = "whsec_abuse_test_0123456789abcdef"
    static let adminToken = "admin-token-5f1e0c9d7b3a2e41"

    static func policy(abuse: String) -> String {
        """
        version: 1
        listen: 127.0.0.1:0
        upstream: { url: "{{UPSTREAM}}" }
        admin: { listen: 127.0.0.1:0, token: admin }
        secrets:
          hook: { value: \(secret) }
          admin: { value: \(adminToken) }
        abuse:
        \(abuse)
        routes:
          - name: hook
            match: { path: /hook, methods: [POST] }
            guards:
              - hmac: { preset: github, secret: hook }
          - name: login
            match: { path: /status/401 }
            abuse: { count_upstream: [401] }
          - name: open
            match: { prefix: / }
        default: deny
        """
    }

    static let body = #"{"event":"ping"}"#

    /// Made once by Python's hmac: a Python start can take longer than a short ban lasts.
    static let goodSignature: String = {
        (try? PythonSigner.sign(.init(preset: "github", secret: secret, body: body, timestamp: 0)).first?.1) ?? "unsigned"
    }()

    static func post(_ port: Int, signed: Bool) async throws -> WireResponse {
        let signature = signed ? goodSignature : "sha256=" + String(repeating: "0", count: 64)
        return try await RawClient.get(
            "/hook", port: port, headers: [("X-Hub-Signature-256", signature), ("Content-Type", "application/json")],
            method: "POST", body: body
        )
    }

    static func admin(
        _ harness: ProxyHarness, _ method: String, _ path: String, token: String? = adminToken, body: String? = nil
    ) async throws -> WireResponse {
        var headers: [(String, String)] = []
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        if body != nil { headers.append(("Content-Type", "application/json")) }
        return try await RawClient.get(path, port: try #require(harness.adminPort), headers: headers, method: method, body: body)
    }

    @Test("three bad signatures ban the client, even its good ones; the ban ends, and a repeat bans twice as long")
    func banAndDoubling() async throws {
        let yaml = Self.policy(abuse: "  ban_after: 3\n  window: 1m\n  ban_for: 5s\n  ban_max: 1h")
        try await ProxyHarness.with(yaml: yaml) { harness in
            // The abuse counters are the process's (they survive reloads): compare before and after.
            #expect(Self.goodSignature.hasPrefix("sha256="))
            let before = try await harness.metrics()
            for _ in 0..<3 { #expect(try await Self.post(harness.proxyPort, signed: false).status == 401) }
            // 5 s, not less: a loaded machine may take seconds over the checks the ban must cover.
            let bannedAt = ContinuousClock.now
            let banned = try await Self.post(harness.proxyPort, signed: true)
            #expect(banned.status == 403)
            #expect(banned.json?["error"] as? String == "client_banned")
            #expect(banned.header("retry-after").flatMap(Int.init).map { (1...5).contains($0) } == true)
            #expect(try await RawClient.get("/anything", port: harness.proxyPort).status == 403, "a ban covers every route")
            let appSaw = harness.upstream.requests.count
            #expect(appSaw == 0)
            let metrics = try await harness.metrics()
            func delta(_ series: String) -> Double {
                (TestSupport.metricValue(metrics, series) ?? 0) - (TestSupport.metricValue(before, series) ?? 0)
            }
            #expect(delta("palisade_abuse_bans_total") == 1)
            #expect(delta(#"palisade_abuse_refusals_total{reason="client_banned"}"#) == 2)
            #expect(delta("palisade_abuse_strikes_total") == 3)

            try await Task.sleep(until: bannedAt + .milliseconds(5300))
            #expect(try await Self.post(harness.proxyPort, signed: true).status == 200, "the ban is over")
            for _ in 0..<3 { #expect(try await Self.post(harness.proxyPort, signed: false).status == 401) }
            let again = try await Self.post(harness.proxyPort, signed: true)
            #expect(again.status == 403)
            #expect(again.header("retry-after").flatMap(Int.init).map { (6...10).contains($0) } == true, "second offence: 10 s")
        }
    }

    @Test("an allowlisted client is counted never and banned never")
    func allowlisted() async throws {
        let yaml = Self.policy(abuse: "  ban_after: 2\n  ban_for: 1m\n  allow: [127.0.0.0/8]")
        try await ProxyHarness.with(yaml: yaml) { harness in
            let before = TestSupport.metricValue(try await harness.metrics(), "palisade_abuse_strikes_total")
            for _ in 0..<6 { #expect(try await Self.post(harness.proxyPort, signed: false).status == 401) }
            #expect(try await Self.post(harness.proxyPort, signed: true).status == 200)
            #expect(TestSupport.metricValue(try await harness.metrics(), "palisade_abuse_strikes_total") == before)
        }
    }

    @Test("the app's own 401s count on a route that names them: failed logins lead to a ban")
    func failedLogins() async throws {
        let yaml = Self.policy(abuse: "  ban_after: 3\n  ban_for: 1m")
        try await ProxyHarness.with(yaml: yaml) { harness in
            for _ in 0..<3 { #expect(try await RawClient.get("/status/401", port: harness.proxyPort).status == 401) }
            #expect(harness.upstream.requests.count == 3)
            let refused = try await RawClient.get("/status/401", port: harness.proxyPort)
            #expect(refused.status == 403)
            #expect(harness.upstream.requests.count == 3, "a banned client never reaches the app")
        }
    }

    @Test("the app's 404s on other routes and Palisade's own 5xx do not count")
    func notCounted() async throws {
        let yaml = Self.policy(abuse: "  ban_after: 2\n  ban_for: 1m")
        try await ProxyHarness.with(yaml: yaml) { harness async throws in
            for _ in 0..<4 { #expect(try await RawClient.get("/status/404", port: harness.proxyPort).status == 404) }
            for _ in 0..<4 { #expect(try await RawClient.get("/status/401x", port: harness.proxyPort).status != 403) }
            #expect(try await RawClient.get("/anything", port: harness.proxyPort).status == 200)
        }
    }

    @Test("malformed requests count as strikes")
    func protocolErrors() async throws {
        let yaml = Self.policy(abuse: "  ban_after: 2\n  ban_for: 1m")
        try await ProxyHarness.with(yaml: yaml) { harness in
            for _ in 0..<2 {
                let outcome = try await RawClient.send("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n", port: harness.proxyPort)
                #expect(outcome.first?.status == 400)
            }
            #expect(try await RawClient.get("/anything", port: harness.proxyPort).status == 403)
        }
    }

    @Test("a denied range is refused before routing, with client_denied")
    func denied() async throws {
        let yaml = Self.policy(abuse: "  ban_after: 5\n  ban_for: 1m\n  deny: [127.0.0.0/8]")
        try await ProxyHarness.with(yaml: yaml) { harness in
            let response = try await RawClient.get("/anything", port: harness.proxyPort)
            #expect(response.status == 403)
            #expect(response.json?["error"] as? String == "client_denied")
            #expect(harness.upstream.requests.isEmpty)
        }
    }

    @Test("admin API: refused without the token; lists, lifts and adds bans with it; every change is in effect at once")
    func adminAPI() async throws {
        let yaml = Self.policy(abuse: "  ban_after: 2\n  ban_for: 10m")
        try await ProxyHarness.with(yaml: yaml) { harness in
            #expect(try await Self.admin(harness, "GET", "/admin/bans", token: nil).status == 401)
            let wrong = try await Self.admin(harness, "GET", "/admin/bans", token: "nope")
            #expect(wrong.status == 401)
            #expect(!wrong.bodyText.contains(Self.adminToken))
            #expect(try await RawClient.get("/healthz", port: try #require(harness.adminPort)).status == 200, "probes stay open")

            for _ in 0..<2 { #expect(try await Self.post(harness.proxyPort, signed: false).status == 401) }
            #expect(try await RawClient.get("/a", port: harness.proxyPort).status == 403)
            let listed = try await Self.admin(harness, "GET", "/admin/bans")
            #expect(listed.status == 200)
            let bans = try #require(listed.json?["bans"] as? [[String: Any]])
            #expect(bans.count == 1)
            #expect(bans.first?["client"] as? String == "127.0.0.1")
            #expect(bans.first?["reason"] as? String == "signature_invalid")
            #expect((bans.first?["seconds_left"] as? Int).map { (590...600).contains($0) } == true)

            #expect(try await Self.admin(harness, "DELETE", "/admin/bans/127.0.0.1").status == 200)
            #expect(try await RawClient.get("/a", port: harness.proxyPort).status == 200)
            #expect(try await Self.admin(harness, "DELETE", "/admin/bans/127.0.0.1").status == 404)
            #expect(try await Self.admin(harness, "DELETE", "/admin/bans/not-an-ip").status == 400)

            let added = try await Self.admin(
                harness, "POST", "/admin/bans", body: #"{"client":"127.0.0.1","duration":"1h","reason":"incident_42"}"#)
            #expect(added.status == 201)
            #expect(try await RawClient.get("/a", port: harness.proxyPort).status == 403)
            let relisted = try #require(try await Self.admin(harness, "GET", "/admin/bans").json?["bans"] as? [[String: Any]])
            #expect(relisted.first?["reason"] as? String == "incident_42")
            #expect(try await Self.admin(harness, "POST", "/admin/bans", body: #"{"client":"127.0.0.1"}"#).status == 400)
            #expect(
                try await Self.admin(harness, "POST", "/admin/bans", body: #"{"client":"1.2.3.4","duration":"1h","reason":"Free text!"}"#)
                    .status == 400)
        }
    }
}
