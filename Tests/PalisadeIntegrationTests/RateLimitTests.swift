import Foundation
import PalisadeCore
import PalisadeTesting
import Testing

/// The rate_limit guard through the real proxy: the IETF RateLimit fields on answers, 429 with
/// Retry-After, keys per header and per API key, and the limit's accuracy against a paced client
/// written in Python (its own clock, its own HTTP client).
@Suite("Rate limits", .serialized)
struct RateLimitTests {
    static func policy(_ guards: String, extraRoutes: String = "") -> String {
        """
        version: 1
        listen: 127.0.0.1:0
        upstream: { url: "{{UPSTREAM}}" }
        admin: { listen: 127.0.0.1:0 }
        routes:
          - name: api
            match: { prefix: /api/ }
            guards:
        \(guards)
        \(extraRoutes)
        default: deny
        """
    }

    @Test("answers carry RateLimit-Policy and RateLimit; past the burst a 429 with Retry-After, and the app is not asked")
    func headersAndRefusal() async throws {
        let yaml = Self.policy("      - rate_limit: { key: ip, limit: 3/min }")
        try await ProxyHarness.with(yaml: yaml) { harness in
            var remaining: [String] = []
            for _ in 0..<3 {
                let response = try await RawClient.get("/api/orders", port: harness.proxyPort)
                #expect(response.status == 200)
                #expect(response.header("ratelimit-policy") == #""3/min";q=3;w=60"#)
                remaining.append(response.header("ratelimit") ?? "")
            }
            #expect(remaining.map { $0.components(separatedBy: ";")[1] } == ["r=2", "r=1", "r=0"])
            let refused = try await RawClient.get("/api/orders", port: harness.proxyPort)
            #expect(refused.status == 429)
            #expect(refused.json?["error"] as? String == "rate_limited")
            let retryAfter = try #require(refused.header("retry-after").flatMap(Int.init))
            #expect((1...20).contains(retryAfter), "one request comes back every 20 s")
            #expect(refused.header("ratelimit")?.contains("r=0") == true)
            #expect(harness.upstream.requests.count == 3)
            let line = try #require(await harness.accessLines().last)
            #expect(line["status"] as? Int == 429)
        }
    }

    @Test("key header:NAME counts each value apart; a request without the header counts by client address")
    func perHeader() async throws {
        let yaml = Self.policy("      - rate_limit: { key: header:x-tenant, limit: 2/min }")
        try await ProxyHarness.with(yaml: yaml) { harness async throws in
            func get(_ tenant: String?) async throws -> Int {
                try await RawClient.get("/api/x", port: harness.proxyPort, headers: tenant.map { [("X-Tenant", $0)] } ?? []).status
            }
            #expect(try await get("acme") == 200)
            #expect(try await get("acme") == 200)
            #expect(try await get("acme") == 429)
            #expect(try await get("globex") == 200)
            #expect(try await get("globex") == 200)
            #expect(try await get("globex") == 429)
            #expect(try await get(nil) == 200)
            #expect(try await get(nil) == 200)
            #expect(try await get(nil) == 429)
            // A long client-chosen value is a fixed-length key in the store.
            #expect(try await get(String(repeating: "z", count: 4000)) == 200)
            #expect(harness.runtime.currentPlan.localStore.keys.allSatisfy { $0.utf8.count <= 40 })
        }
    }

    @Test("two limits on one route are both enforced; each route's limit is its own")
    func twoLimitsAndRoutes() async throws {
        let yaml = Self.policy(
            "      - rate_limit: { key: ip, limits: [{ limit: 100/s, burst: 100 }, { limit: 4/h }] }",
            extraRoutes: """
                  - name: other
                    match: { prefix: /other/ }
                    guards:
                      - rate_limit: { key: [ip, route], limit: 1/h }
                """
        )
        try await ProxyHarness.with(yaml: yaml) { harness in
            var statuses: [Int] = []
            for _ in 0..<5 { statuses.append(try await RawClient.get("/api/a", port: harness.proxyPort).status) }
            #expect(statuses == [200, 200, 200, 200, 429])
            #expect(try await RawClient.get("/other/a", port: harness.proxyPort).status == 200)
            let second = try await RawClient.get("/other/a", port: harness.proxyPort)
            #expect(second.status == 429)
            #expect(second.header("ratelimit-policy") == #""1/h";q=1;w=3600"#)
        }
    }

    @Test("key api_key counts per verified key id (the principal), not per address; the key itself is not the stored key")
    func perAPIKey() async throws {
        let keys = """
            keys:
              - id: team-a
                sha256: \(try Python.sha256Hex("key-team-a-0123456789"))
              - id: team-b
                sha256: \(try Python.sha256Hex("key-team-b-0123456789"))
            """
        let keysPath = try TemporaryFiles.file(keys, named: "keys.yaml", prefix: "palisade-rl-keys")
        let yaml = Self.policy(
            """
                  - api_key: { header: x-api-key, keys_file: \(keysPath) }
                  - rate_limit: { key: api_key, limit: 2/min }
            """)
        try await ProxyHarness.with(yaml: yaml) { harness async throws in
            func get(_ key: String) async throws -> Int {
                try await RawClient.get("/api/x", port: harness.proxyPort, headers: [("X-API-Key", key)]).status
            }
            #expect(try await get("key-team-a-0123456789") == 200)
            #expect(try await get("key-team-a-0123456789") == 200)
            #expect(try await get("key-team-a-0123456789") == 429)
            #expect(try await get("key-team-b-0123456789") == 200, "same address, another key: its own budget")
            #expect(try await get("wrong-key") == 401, "the api_key guard refuses before the limit counts")
            #expect(!harness.runtime.currentPlan.localStore.keys.contains { $0.contains("team") })
        }
    }

    @Test("at twice the limit for 4 s, what passes is within 2% of what GCRA allows, counted by a paced Python client")
    func accuracy() async throws {
        let yaml = Self.policy("      - rate_limit: { key: ip, limit: 50/s, burst: 10 }")
        try await ProxyHarness.with(yaml: yaml) { harness in
            let counts = try await PacedClient.run(ports: [harness.proxyPort], path: "/api/paced", rate: 100, seconds: 4)
            let (allowed, span) = (counts.allowed, counts.span)
            #expect(counts.allowed + counts.refused == 400)
            #expect(counts.other == 0)
            // GCRA lets the burst through at once, then one request per 20 ms of elapsed time.
            let expected = 10 + 50 * span
            #expect(abs(Double(allowed) - expected) <= max(0.02 * expected, 2), "allowed \(allowed), expected \(expected)")
        }
    }
}
