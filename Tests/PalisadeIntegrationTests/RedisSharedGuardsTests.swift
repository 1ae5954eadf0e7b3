import Foundation
import PalisadeCore
import PalisadeTesting
import Testing

/// Two proxies (two replicas) with one policy and one real redis-server: a `scope: shared` rate
/// limit is one budget across both, and a client the abuse section bans on one is refused by the
/// other before routing.
@Suite("Redis store shared by two proxies", .serialized)
struct RedisSharedGuardsTests {
    static func policy(port: Int) -> String {
        ProxyHarness.policy(
            """
            client_ip:
              from: x-forwarded-for
              trusted_proxies: [127.0.0.1/32]
            store:
              kind: redis
              redis: { url: "redis://127.0.0.1:\(port)/0", timeout: 500ms }
            abuse:
              ban_after: 3
              window: 1m
              ban_for: 1m
            routes:
              - name: limited
                match: { prefix: /limited }
                guards:
                  - rate_limit: { key: ip, limit: 3/min, burst: 3, scope: shared }
              - name: internal
                match: { prefix: /internal }
                guards:
                  - ip: { allow: [10.0.0.0/8] }
              - name: open
                match: { prefix: /open }
            default: deny
            """)
    }

    static func get(_ path: String, from client: String, port: Int) async throws -> WireResponse {
        try await RawClient.get(path, port: port, headers: [("x-forwarded-for", client)])
    }

    @Test("one rate limit and one ban across two proxies on one Redis")
    func sharedLimitAndBan() async throws {
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

        // Three refusals on A ban 192.0.2.2; B refuses it before routing, even on an open route.
        for _ in 0..<3 { #expect(try await Self.get("/internal", from: "192.0.2.2", port: a.proxyPort).status == 403) }
        let banned = try await Self.get("/open", from: "192.0.2.2", port: b.proxyPort)
        #expect(banned.status == 403)
        #expect(banned.json?["error"] as? String == "client_banned")
        #expect(try await Self.get("/open", from: "192.0.2.3", port: b.proxyPort).status == 200)
        #expect(b.upstream.requests.count == 3)
        await a.stop()
        await b.stop()
    }
}
