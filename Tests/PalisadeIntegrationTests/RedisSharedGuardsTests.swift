import Foundation
import PalisadeCore
import PalisadeTesting
import Testing

/// Two proxies (two replicas) with one policy and one real redis-server: a `scope: shared` rate
/// limit is one budget across both, and a ban made through one proxy's admin API is listed and
/// lifted through the other's.
///
/// No `abuse:` section here: its counters are process-wide, and other suites assert their exact
/// deltas, so this suite adds no strikes, bans or refusals to them (admin API bans are not counted).
@Suite("Redis store shared by two proxies", .serialized)
struct RedisSharedGuardsTests {
    static let adminToken = "redis-admin-token-0b6c2f4e9a"

    static func policy(port: Int) -> String {
        """
        version: 1
        listen: 127.0.0.1:0
        upstream: { url: "{{UPSTREAM}}" }
        admin: { listen: 127.0.0.1:0, token: admin }
        secrets:
          admin: { value: \(adminToken) }
        client_ip:
          from: x-forwarded-for
          trusted_proxies: [127.0.0.1/32]
        store:
          kind: redis
          redis: { url: "redis://127.0.0.1:\(port)/0", timeout: 500ms }
        routes:
          - name: limited
            match: { prefix: /limited }
            guards:
              - rate_limit: { key: ip, limit: 3/min, burst: 3, scope: shared }
        default: deny
        """
    }

    static func get(_ path: String, from client: String, port: Int) async throws -> WireResponse {
        try await RawClient.get(path, port: port, headers: [("x-forwarded-for", client)])
    }

    static func admin(_ harness: ProxyHarness, _ method: String, _ path: String, body: String? = nil) async throws -> WireResponse {
        var headers = [("Authorization", "Bearer \(adminToken)")]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        return try await RawClient.get(path, port: try #require(harness.adminPort), headers: headers, method: method, body: body)
    }

    @Test("one rate limit and one set of bans across two proxies on one Redis")
    func sharedLimitAndBans() async throws {
        if let missing = RedisServer.missing {
            print(missing)
            return
        }
        let server = try RedisServer()
        defer { server.stop() }
        let a = try await ProxyHarness.start(yaml: Self.policy(port: server.port))
        let b = try await ProxyHarness.start(yaml: Self.policy(port: server.port))

        // 3 a minute for 192.0.2.1, whichever replica it reaches.
        #expect(try await Self.get("/limited", from: "192.0.2.1", port: a.proxyPort).status == 200)
        #expect(try await Self.get("/limited", from: "192.0.2.1", port: b.proxyPort).status == 200)
        #expect(try await Self.get("/limited", from: "192.0.2.1", port: a.proxyPort).status == 200)
        let limited = try await Self.get("/limited", from: "192.0.2.1", port: b.proxyPort)
        #expect(limited.status == 429, "\(limited.bodyText)")
        #expect(try await Self.get("/limited", from: "192.0.2.9", port: b.proxyPort).status == 200)

        // A ban made on A is listed on B (one SCAN of Redis), lifted on B, gone on A.
        let made = try await Self.admin(a, "POST", "/admin/bans", body: #"{"client":"192.0.2.2","duration":"1h","reason":"incident_7"}"#)
        #expect(made.status == 201, "\(made.bodyText)")
        let listed = try await Self.admin(b, "GET", "/admin/bans")
        let bans = try #require(listed.json?["bans"] as? [[String: Any]], "\(listed.bodyText)")
        #expect(bans.map { $0["client"] as? String } == ["192.0.2.2"])
        #expect(bans.first?["reason"] as? String == "incident_7")
        #expect(try await Self.admin(b, "DELETE", "/admin/bans/192.0.2.2").json?["lifted"] as? Bool == true)
        let after = try await Self.admin(a, "GET", "/admin/bans")
        #expect((after.json?["bans"] as? [[String: Any]])?.isEmpty == true, "\(after.bodyText)")
        await a.stop()
        await b.stop()
    }

    @Test("at twice a shared limit for 4 s, spread over two proxies, what passes is within 2% of what GCRA allows")
    func sharedAccuracy() async throws {
        if let missing = RedisServer.missing {
            print(missing)
            return
        }
        let server = try RedisServer()
        defer { server.stop() }
        let yaml = Self.policy(port: server.port)
            .replacingOccurrences(of: "limit: 3/min, burst: 3", with: "limit: 50/s, burst: 10")
        let a = try await ProxyHarness.start(yaml: yaml)
        let b = try await ProxyHarness.start(yaml: yaml)
        let counts = try await PacedClient.run(
            ports: [a.proxyPort, b.proxyPort], path: "/limited", rate: 100, seconds: 4, forwardedFor: "198.51.100.7")
        await a.stop()
        await b.stop()
        let (allowed, span) = (counts.allowed, counts.span)
        #expect(counts.allowed + counts.refused == 400)
        #expect(counts.other == 0)
        // The burst at once, then one request per 20 ms of elapsed time, whichever replica counts it.
        let expected = 10 + 50 * span
        #expect(abs(Double(allowed) - expected) <= max(0.02 * expected, 2), "allowed \(allowed), expected \(expected)")
    }
}
