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

    @Test("at twice the limit for 4 s, what passes is within 2% of what GCRA allows, counted by a paced Python client")
    func accuracy() async throws {
        let yaml = Self.policy("      - rate_limit: { key: ip, limit: 50/s, burst: 10 }")
        try await ProxyHarness.with(yaml: yaml) { harness in
            let output = try await Python.runAsync(Self.pacedClient, arguments: [String(harness.proxyPort), "100", "4"])
            let result = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
            let allowed = try #require(result["allowed"] as? Int)
            let refused = try #require(result["refused"] as? Int)
            let span = try #require(result["span"] as? Double)
            #expect(allowed + refused == 400)
            #expect(result["other"] as? Int == 0)
            // GCRA lets the burst through at once, then one request per 20 ms of elapsed time.
            let expected = 10 + 50 * span
            #expect(abs(Double(allowed) - expected) <= max(0.02 * expected, 2), "allowed \(allowed), expected \(expected)")
        }
    }

    /// Sends `rate` requests per second for `seconds` on one keep-alive connection, paced by its
    /// own clock, and counts the answers; `span` is the time from the first send to the last.
    static let pacedClient = #"""
        import http.client, json, sys, time
        port, rate, seconds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        counts = {"allowed": 0, "refused": 0, "other": 0}
        start = time.monotonic()
        last = start
        for i in range(rate * seconds):
            due = start + i / rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            last = time.monotonic()
            conn.request("GET", "/api/paced")
            response = conn.getresponse()
            response.read()
            key = "allowed" if response.status == 200 else "refused" if response.status == 429 else "other"
            counts[key] += 1
        counts["span"] = last - start
        print(json.dumps(counts))
        """#
}
