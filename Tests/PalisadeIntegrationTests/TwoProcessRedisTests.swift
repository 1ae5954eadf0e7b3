import Foundation
import NIOPosix
import PalisadeCore
import PalisadeTesting
import Testing

/// Two `palisade run` processes (the real binary, as two pods' sidecars run it) on one real
/// redis-server: one combined rate limit, a webhook id delivered to one replica refused as a
/// replay by the other, and a ban made through one replica's admin API refused by the other's. The in-process suites prove the same with two stores; this one crosses
/// process boundaries, so nothing can be shared except through Redis.
@Suite("Two Palisade processes on one Redis", .serialized)
struct TwoProcessRedisTests {
    static let adminToken = "two-process-admin-token-5d1e"

    static func policy(upstream: Int, redis: Int) -> String {
        """
        version: 1
        listen: 127.0.0.1:0
        upstream: { url: "http://127.0.0.1:\(upstream)" }
        admin: { listen: 127.0.0.1:0, token: admin }
        secrets:
          admin: { value: \(adminToken) }
        store:
          kind: redis
          redis: { url: "redis://127.0.0.1:\(redis)/0", timeout: 500ms, on_error: fail_closed }
        abuse:
          key: ip
          ban_after: 1000
          window: 1m
          ban_for: 1m
          ban_max: 1h
        routes:
          - name: limited
            match: { prefix: /limited/ }
            guards:
              - rate_limit: { key: ip, limit: 6/h, burst: 6, scope: shared }
          - name: hooks
            match: { prefix: /hooks/ }
            guards:
              - replay: { id: "header:webhook-id", ttl: 1h }
          - name: open
            match: { prefix: / }
        default: deny
        """
    }

    @Test(
        "one limit across two processes: of 12 requests alternating between them, exactly 6 pass; an id one accepted is a replay to the other; a ban made by one is refused by the other",
        .enabled(if: CLITests.binaryExists && RedisServer.missing == nil, "needs .build/debug/palisade and redis-server")
    )
    func sharedAcrossProcesses() async throws {
        let redis = try RedisServer()
        defer { redis.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await TestUpstream.start(group: group)
        let policyPath = try CLITests.temporaryFile(Self.policy(upstream: upstream.port, redis: redis.port))
        let first = try CLITests.Child(["run", "--config", policyPath, "--threads", "1"])
        let second = try CLITests.Child(["run", "--config", policyPath, "--threads", "2"])
        defer {
            first.terminateIfRunning()
            second.terminateIfRunning()
        }
        let a = try #require(await first.boundPorts(), "no start line: \(first.stderr)")
        let b = try #require(await second.boundPorts(), "no start line: \(second.stderr)")
        #expect(first.process.processIdentifier != second.process.processIdentifier)

        var passed = 0
        var limited = 0
        for index in 0..<12 {
            let port = index % 2 == 0 ? a.proxy : b.proxy
            let response = try await RawClient.get("/limited/\(index)", port: port)
            if response.status == 200 { passed += 1 }
            if response.status == 429 { limited += 1 }
        }
        #expect(passed == 6 && limited == 6, "passed \(passed), limited \(limited)")

        func deliver(_ id: String, to port: Int) async throws -> WireResponse {
            try await RawClient.get(
                "/hooks/order", port: port, headers: [("webhook-id", id), ("Content-Type", "application/json")], method: "POST",
                body: #"{"type":"order.paid"}"#)
        }
        let delivered = try await deliver("evt_two_process_1", to: a.proxy)
        #expect(delivered.status == 200)
        let replayed = try await deliver("evt_two_process_1", to: b.proxy)
        #expect(replayed.status == 409)
        #expect(replayed.json?["error"] as? String == "replay_detected")
        let fresh = try await deliver("evt_two_process_2", to: b.proxy)
        #expect(fresh.status == 200)
        let replayedBack = try await deliver("evt_two_process_2", to: a.proxy)
        #expect(replayedBack.status == 409)

        let ban = try await RawClient.get(
            "/admin/bans", port: try #require(a.admin),
            headers: [("Authorization", "Bearer \(Self.adminToken)"), ("Content-Type", "application/json")], method: "POST",
            body: #"{"client":"127.0.0.1","duration":"1h","reason":"incident_9"}"#)
        #expect(ban.status == 201)
        let refused = try await RawClient.get("/open", port: b.proxy)
        #expect(refused.status == 403)
        #expect(refused.json?["error"] as? String == "client_banned")
        let listed = try await RawClient.get(
            "/admin/bans", port: try #require(b.admin), headers: [("Authorization", "Bearer \(Self.adminToken)")])
        #expect(listed.bodyText.contains("incident_9"))

        first.signal(SIGTERM)
        second.signal(SIGTERM)
        _ = await first.finished(within: .seconds(15))
        _ = await second.finished(within: .seconds(15))
        await upstream.stop()
        try await group.shutdownGracefully()
    }
}
