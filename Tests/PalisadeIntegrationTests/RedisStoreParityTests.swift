import Foundation
import NIOCore
import NIOPosix
import PalisadeTesting
import Testing

@testable import PalisadeCore

/// One table of store operations run against the memory store and against a real redis-server:
/// every answer must be the same (MemoryStore is the reference). Budgets and per-client caps are
/// left out: the Redis store leaves memory to Redis's maxmemory and the keys' TTLs.
@Suite("Redis store: same answers as the memory store", .serialized)
struct RedisStoreParityTests {
    static let second: Int64 = 1_000_000_000

    static func limit(_ count: Int, per seconds: Int64, burst: Int) -> GCRALimit {
        GCRALimit(limit: count, periodNanoseconds: seconds * second, burst: burst)!
    }

    /// The operations, in order; each answer is described as text, so two stores compare line by line.
    static func table(_ store: any StateStore, on loop: any EventLoop, now: Int64) async throws -> [String] {
        let alice = IPAddressBytes(parsing: "192.0.2.1")
        let record = StoredRecord(
            fingerprint: [1, 2, 3], response: StoredResponse(status: 201, headers: [("content-type", "application/json")], body: Array("{}".utf8)))
        let bare = StoredRecord(fingerprint: [0, 255])
        let terms = BanTerms(first: 60, longest: 600, memory: 3600)
        let tenPerSecond = limit(10, per: 1, burst: 5)
        let threePerMinute = limit(3, per: 60, burst: 3)
        var answers: [String] = []
        func note(_ label: String, _ value: Any) { answers.append("\(label): \(value)") }
        func reserve(_ key: String, _ fingerprint: [UInt8]) async throws -> ReservationOutcome {
            try await store.reserve(key, fingerprint: fingerprint, client: alice, answerBytes: 0, lease: 90, now: now, on: loop).get()
        }
        func rate(_ key: String, _ limits: [GCRALimit], cost: Int = 1) async throws -> RateLimitOutcome {
            try await store.rateLimit(key, limits: limits, cost: cost, client: alice, now: WallClock.now(), on: loop).get()
        }

        note("reserve free", try await reserve("replay:a", [7]))
        note("reserve held", try await reserve("replay:a", [8]))
        try await store.release("replay:a", on: loop).get()
        note("reserve after release", try await reserve("replay:a", [8]))
        try await store.commit("replay:a", record: record, client: alice, ttl: 3600, now: now, on: loop).get()
        note("reserve committed", try await reserve("replay:a", [9]))
        try await store.release("replay:a", on: loop).get()
        note("release leaves a commit", try await reserve("replay:a", [9]))
        note("reserve other", try await reserve("idem:b", [1]))
        try await store.commit("idem:b", record: bare, client: nil, ttl: 60, now: now, on: loop).get()
        note("committed without answer", try await reserve("idem:b", [2]))
        // A commit whose lease had gone: the key is held anew, committed.
        try await store.commit("idem:c", record: record, client: alice, ttl: 60, now: now, on: loop).get()
        note("commit without reserve", try await reserve("idem:c", [2]))

        for index in 0..<6 { note("burst \(index)", try await rate("rl:alice", [tenPerSecond])) }
        for index in 0..<4 { note("two limits \(index)", try await rate("rl:bob", [tenPerSecond, threePerMinute])) }
        note("first limit not charged by a refusal", try await rate("rl:bob", [tenPerSecond]))
        note("cost above burst", try await rate("rl:carol", [tenPerSecond], cost: 6))
        note("cost within burst", try await rate("rl:carol", [tenPerSecond], cost: 5))
        note("no limits", try await rate("rl:dave", []))

        note("count", try await store.increment("strikes:a", by: 1, window: 60, client: alice, now: now, on: loop).get())
        note("count more", try await store.increment("strikes:a", by: 3, window: 60, client: alice, now: now, on: loop).get())
        note("count other", try await store.increment("strikes:b", by: 1, window: 30, client: nil, now: now, on: loop).get())

        note("ban", try await store.ban("ban:a", reason: "signature_invalid", terms: terms, now: now, on: loop).get())
        note("ban again", try await store.ban("ban:a", reason: "rate_limited", terms: terms, now: now + 10, on: loop).get())
        note("ban other", try await store.ban("ban:b", reason: "admin", terms: terms, now: now, on: loop).get())
        note("active", String(describing: try await store.activeBan("ban:a", now: now + 20, on: loop).get()))
        note("active none", String(describing: try await store.activeBan("ban:none", now: now, on: loop).get()))
        note("ended", String(describing: try await store.activeBan("ban:b", now: now + 60, on: loop).get()))
        note("listed", try await store.activeBans(now: now, limit: 10, on: loop).get())
        note("listed, one", try await store.activeBans(now: now, limit: 1, on: loop).get())
        note("lift", try await store.liftBan("ban:a", now: now, on: loop).get())
        note("lift again", try await store.liftBan("ban:a", now: now, on: loop).get())
        note("lift ended", try await store.liftBan("ban:b", now: now + 600, on: loop).get())
        note("after lift", String(describing: try await store.activeBan("ban:a", now: now, on: loop).get()))
        note("pardoned: first offence again", try await store.ban("ban:a", reason: "admin", terms: terms, now: now, on: loop).get())
        return answers
    }

    @Test("every operation answers as the memory store does")
    func sameAnswers() async throws {
        if let missing = RedisServer.missing {
            print(missing)
            return
        }
        let server = try RedisServer()
        defer { server.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let redis = try RedisStore(configuration: .init(endpoint: RedisEndpoint(host: "127.0.0.1", port: server.port), timeout: .seconds(2)))
        let loop = group.next()
        let now = WallClock.now().seconds
        let expected = try await Self.table(MemoryStore(), on: loop, now: now)
        let answered = try await Self.table(redis, on: loop, now: now)
        #expect(answered.count == expected.count)
        for (memory, fromRedis) in zip(expected, answered) { #expect(fromRedis == memory) }
        // The reference itself says what the table is about (so both cannot be wrong alike).
        #expect(expected[0] == "reserve free: reserved")
        #expect(expected.contains("burst 5: limited([PalisadeCore.RateLimitFigures(remaining: 0, resetSeconds: 1)], retryAfterSeconds: 1)"))
        // Every key carries a TTL: nothing the store writes stays forever.
        let keys = try server.cli(["--scan", "--pattern", "palisade:*"]).split(separator: "\n")
        #expect(!keys.isEmpty)
        for key in keys { #expect(Int(try server.cli(["PTTL", String(key)]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1 > 0) }
        await redis.shutdown()
        try await group.shutdownGracefully()
    }

    @Test("two stores on one Redis (two replicas) share one replay id, one rate limit and one ban")
    func replicasShare() async throws {
        if let missing = RedisServer.missing {
            print(missing)
            return
        }
        let server = try RedisServer()
        defer { server.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let endpoint = RedisEndpoint(host: "127.0.0.1", port: server.port)
        let a = try RedisStore(configuration: .init(endpoint: endpoint, timeout: .seconds(2)))
        let b = try RedisStore(configuration: .init(endpoint: endpoint, timeout: .seconds(2)))
        let (loopA, loopB) = (group.next(), group.next())
        let now = WallClock.now().seconds
        #expect(try await a.reserve("replay:x", fingerprint: [1], client: nil, answerBytes: 0, lease: 60, now: now, on: loopA).get() == .reserved)
        #expect(
            try await b.reserve("replay:x", fingerprint: [2], client: nil, answerBytes: 0, lease: 60, now: now, on: loopB).get()
                == .inFlight(fingerprint: [1]))
        let limit = Self.limit(1, per: 60, burst: 3)
        var allowed = 0
        for index in 0..<6 {
            let store = index % 2 == 0 ? a : b
            let outcome = try await store.rateLimit(
                "rl:shared", limits: [limit], cost: 1, client: nil, now: WallClock.now(), on: index % 2 == 0 ? loopA : loopB
            ).get()
            if case .allowed = outcome { allowed += 1 }
        }
        #expect(allowed == 3)
        _ = try await a.ban("ban:shared", reason: "admin", terms: BanTerms(first: 60, longest: 60, memory: 0), now: now, on: loopA).get()
        #expect(try await b.activeBan("ban:shared", now: now, on: loopB).get()?.reason == "admin")
        await a.shutdown()
        await b.shutdown()
        try await group.shutdownGracefully()
    }
}
