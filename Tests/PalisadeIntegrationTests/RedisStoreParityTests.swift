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

    /// The operations, in order, each run on every store in turn before the next (so both see
    /// the same time pass between steps, which rate limits depend on); answers are described as
    /// text, one list per store, compared line by line.
    static func table(_ stores: [any StateStore], on loop: any EventLoop, now: Int64) async throws -> [[String]] {
        let alice = IPAddressBytes(parsing: "192.0.2.1")
        let record = StoredRecord(
            fingerprint: [1, 2, 3],
            response: StoredResponse(status: 201, headers: [("content-type", "application/json")], body: Array("{}".utf8)))
        let bare = StoredRecord(fingerprint: [0, 255])
        let terms = BanTerms(first: 60, longest: 600, memory: 3600)
        // Minutes and hours, not seconds: a step's figures must not move while a busy machine
        // runs the two stores' calls a few milliseconds apart.
        // (10/h: one unit comes back every 6 minutes, far longer than the slowest table run.)
        let tenPerHour = limit(10, per: 3600, burst: 5)
        let threePerHour = limit(3, per: 3600, burst: 3)
        var answers: [[String]] = stores.map { _ in [] }
        func step(_ label: String, _ operation: (any StateStore) async throws -> Any) async throws {
            for (index, store) in stores.enumerated() {
                let answer = try await operation(store)
                answers[index].append("\(label): \(answer)")
            }
        }
        func reserve(_ store: any StateStore, _ key: String, _ fingerprint: [UInt8]) async throws -> ReservationOutcome {
            try await store.reserve(key, fingerprint: fingerprint, client: alice, answerBytes: 0, lease: 90, now: now, on: loop).get()
        }
        func rate(_ store: any StateStore, _ key: String, _ limits: [GCRALimit], cost: Int = 1) async throws -> RateLimitOutcome {
            try await store.rateLimit(key, limits: limits, cost: cost, client: alice, now: WallClock.now(), on: loop).get()
        }
        func ban(_ store: any StateStore, _ key: String, _ reason: String, at time: Int64) async throws -> BanOutcome {
            try await store.ban(key, reason: reason, terms: terms, now: time, on: loop).get()
        }
        func active(_ store: any StateStore, _ key: String, at time: Int64) async throws -> String {
            String(describing: try await store.activeBan(key, now: time, on: loop).get())
        }

        try await step("reserve free") { try await reserve($0, "replay:a", [7]) }
        try await step("reserve held") { try await reserve($0, "replay:a", [8]) }
        try await step("release") { try await $0.release("replay:a", on: loop).get() }
        try await step("reserve after release") { try await reserve($0, "replay:a", [8]) }
        try await step("commit") { try await $0.commit("replay:a", record: record, client: alice, ttl: 3600, now: now, on: loop).get() }
        try await step("reserve committed") { try await reserve($0, "replay:a", [9]) }
        try await step("release a commit") { try await $0.release("replay:a", on: loop).get() }
        try await step("release leaves a commit") { try await reserve($0, "replay:a", [9]) }
        try await step("reserve other") { try await reserve($0, "idem:b", [1]) }
        try await step("commit bare") { try await $0.commit("idem:b", record: bare, client: nil, ttl: 60, now: now, on: loop).get() }
        try await step("committed without answer") { try await reserve($0, "idem:b", [2]) }
        // A commit whose lease had gone: the key is held anew, committed.
        try await step("commit unheld") { try await $0.commit("idem:c", record: record, client: alice, ttl: 60, now: now, on: loop).get() }
        try await step("commit without reserve") { try await reserve($0, "idem:c", [2]) }

        for index in 0..<6 { try await step("burst \(index)") { try await rate($0, "rl:alice", [tenPerHour]) } }
        for index in 0..<4 { try await step("two limits \(index)") { try await rate($0, "rl:bob", [tenPerHour, threePerHour]) } }
        try await step("first limit not charged by a refusal") { try await rate($0, "rl:bob", [tenPerHour]) }
        try await step("cost above burst") { try await rate($0, "rl:carol", [tenPerHour], cost: 6) }
        try await step("cost within burst") { try await rate($0, "rl:carol", [tenPerHour], cost: 5) }
        try await step("no limits") { try await rate($0, "rl:dave", []) }

        try await step("count") { try await $0.increment("strikes:a", by: 1, window: 60, client: alice, now: now, on: loop).get() }
        try await step("count more") { try await $0.increment("strikes:a", by: 3, window: 60, client: alice, now: now, on: loop).get() }
        try await step("count other") { try await $0.increment("strikes:b", by: 1, window: 30, client: nil, now: now, on: loop).get() }

        try await step("ban") { try await ban($0, "ban:a", "signature_invalid", at: now) }
        try await step("ban again") { try await ban($0, "ban:a", "rate_limited", at: now + 10) }
        try await step("ban other") { try await ban($0, "ban:b", "admin", at: now) }
        try await step("active") { try await active($0, "ban:a", at: now + 20) }
        try await step("active none") { try await active($0, "ban:none", at: now) }
        try await step("ended") { try await active($0, "ban:b", at: now + 60) }
        try await step("listed") { try await $0.activeBans(now: now, limit: 10, on: loop).get() }
        try await step("listed, one") { try await $0.activeBans(now: now, limit: 1, on: loop).get() }
        try await step("lift") { try await $0.liftBan("ban:a", now: now, on: loop).get() }
        try await step("lift again") { try await $0.liftBan("ban:a", now: now, on: loop).get() }
        try await step("lift ended") { try await $0.liftBan("ban:b", now: now + 600, on: loop).get() }
        try await step("after lift") { try await active($0, "ban:a", at: now) }
        try await step("pardoned: first offence again") { try await ban($0, "ban:a", "admin", at: now) }
        return answers
    }

    /// Equal, except that whole seconds of time left may differ by one or two: in rate-limit
    /// figures (`resetSeconds`, `retryAfterSeconds`), because the two stores are asked a moment
    /// apart on a real clock; and in a counter's `windowEnds`, which Redis answers as the caller's
    /// `now` plus the key's TTL (Redis's clock runs on while the table's `now` stands still).
    /// Units left, counts and everything else must be equal. `slack` is how many seconds the
    /// time figures may differ by: two, or more when the machine took longer over the table.
    static func same(_ a: String, _ b: String, slack: Int = 2) -> Bool {
        if a == b { return true }
        func numbers(_ text: String, after label: String) -> [Int] {
            text.components(separatedBy: label).dropFirst().compactMap { Int($0.prefix { $0.isNumber }) }
        }
        let timeLabels = ["resetSeconds: ", "retryAfterSeconds: ", "windowEnds: "]
        // Everything but the time figures, which are blanked out.
        func skeleton(_ text: String) -> String {
            text.replacing(/(resetSeconds|retryAfterSeconds|windowEnds): \d+/) { match in "\(match.1): _" }
        }
        guard skeleton(a) == skeleton(b) else { return false }
        return timeLabels.allSatisfy { label in
            zip(numbers(a, after: label), numbers(b, after: label)).allSatisfy { abs($0 - $1) <= slack }
        }
    }

    @Test("every operation answers as the memory store does")
    func sameAnswers() async throws {
        // The comparison forgives a second or two of time left, and nothing else.
        #expect(
            Self.same(
                "a: limited([R(remaining: 0, resetSeconds: 30)], retryAfterSeconds: 6)",
                "a: limited([R(remaining: 0, resetSeconds: 29)], retryAfterSeconds: 5)"))
        #expect(!Self.same("a: allowed([R(remaining: 1, resetSeconds: 6)])", "a: allowed([R(remaining: 2, resetSeconds: 6)])"))
        #expect(!Self.same("a: counted(4, windowEnds: 100)", "a: counted(5, windowEnds: 100)"))
        #expect(!Self.same("a: counted(4, windowEnds: 100)", "a: counted(4, windowEnds: 110)"))
        if let missing = RedisServer.missing {
            print(missing)
            return
        }
        let server = try RedisServer()
        defer { server.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let redis = try RedisStore(
            configuration: .init(endpoint: RedisEndpoint(host: "127.0.0.1", port: server.port), timeout: .seconds(2)))
        let loop = group.next()
        let now = WallClock.now().seconds
        let started = ContinuousClock.now
        let answers = try await Self.table([MemoryStore(), redis], on: loop, now: now)
        // A loaded machine can take seconds over the table: the time figures may drift that much.
        let slack = max(2, Int((ContinuousClock.now - started).components.seconds) + 1)
        let (expected, answered) = (answers[0], answers[1])
        #expect(answered.count == expected.count)
        for (memory, fromRedis) in zip(expected, answered) { #expect(Self.same(fromRedis, memory, slack: slack), "slack \(slack) s") }
        // The reference itself says what the table is about (so both cannot be wrong alike).
        #expect(expected[0] == "reserve free: reserved")
        // (The figures themselves move with the time a busy machine takes between steps.)
        #expect(expected.contains { $0.hasPrefix("burst 5: limited(") })
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
        #expect(
            try await a.reserve("replay:x", fingerprint: [1], client: nil, answerBytes: 0, lease: 60, now: now, on: loopA).get()
                == .reserved)
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

    @Test(
        "a server that lost its scripts (SCRIPT FLUSH, a restart, a failover) answers NOSCRIPT once per connection; the script is loaded again and the operation still answers"
    )
    func reloadsFlushedScripts() async throws {
        if let missing = RedisServer.missing {
            print(missing)
            return
        }
        let server = try RedisServer()
        defer { server.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let store = try RedisStore(
            configuration: .init(endpoint: RedisEndpoint(host: "127.0.0.1", port: server.port), timeout: .seconds(2), poolSize: 1))
        let loop = group.next()
        let limit = Self.limit(1, per: 60, burst: 2)
        func take() async throws -> RateLimitOutcome {
            try await store.rateLimit("rl:flushed", limits: [limit], cost: 1, client: nil, now: WallClock.now(), on: loop).get()
        }
        guard case .allowed = try await take() else { throw RedisServer.StartFailure(message: "first take refused") }
        func loads() throws -> Int { try server.calls(of: "script|load") }
        let before = try loads()
        _ = try server.cli(["SCRIPT", "FLUSH"])
        // The second take still counts against the same key: the state survived, only the script went.
        guard case .allowed(let figures) = try await take() else { throw RedisServer.StartFailure(message: "take after flush refused") }
        #expect(figures.first?.remaining == 0)
        #expect(try loads() == before + 1)
        guard case .limited = try await take() else { throw RedisServer.StartFailure(message: "third take allowed") }
        await store.shutdown()
        try await group.shutdownGracefully()
    }

    @Test(
        "steps on one key read in one loop turn leave as one script call, and answer what the same steps one after another give on the memory store"
    )
    func coalescesOneTurnsSteps() async throws {
        if let missing = RedisServer.missing {
            print(missing)
            return
        }
        let server = try RedisServer()
        defer { server.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let redis = try RedisStore(
            configuration: .init(endpoint: RedisEndpoint(host: "127.0.0.1", port: server.port), timeout: .seconds(2), poolSize: 1))
        let memory = MemoryStore()
        let loop = group.next()
        let limits = [Self.limit(10, per: 60, burst: 7), Self.limit(100, per: 3600, burst: 20)]
        func evalshaCalls() throws -> Int { try server.calls(of: "evalsha") }
        // Warm the connection (and load the scripts) first, on another key.
        _ = try await redis.rateLimit("rl:warm", limits: limits, cost: 1, client: nil, now: WallClock.now(), on: loop).get()
        let before = try evalshaCalls()
        // Twelve steps on one key and three on another, all started in one turn of the loop.
        let futures = try await loop.submit { () -> [EventLoopFuture<RateLimitOutcome>] in
            (0..<15).map { index in
                redis.rateLimit(
                    index % 5 == 4 ? "rl:other" : "rl:hot", limits: limits, cost: 1, client: nil, now: WallClock.now(), on: loop)
            }
        }.get()
        var answers: [RateLimitOutcome] = []
        for future in futures { answers.append(try await future.get()) }
        #expect(try evalshaCalls() == before + 2)
        // The script took its steps at one instant; the memory store takes them at one too, so a
        // slow machine between two of them cannot move a figure across a second.
        let instant = WallClock.now()
        var expected: [RateLimitOutcome] = []
        for index in 0..<15 {
            let key = index % 5 == 4 ? "rl:other" : "rl:hot"
            expected.append(try await memory.rateLimit(key, limits: limits, cost: 1, client: nil, now: instant, on: loop).get())
        }
        #expect(answers == expected)
        let hot = answers.enumerated().filter { $0.offset % 5 != 4 }.map(\.element)
        #expect(hot.prefix(7).allSatisfy { if case .allowed = $0 { true } else { false } })
        #expect(hot.dropFirst(7).allSatisfy { if case .limited = $0 { true } else { false } })
        // The state the call left is the state seven steps leave: the next turn's step is refused.
        guard
            case .limited = try await redis.rateLimit("rl:hot", limits: limits, cost: 1, client: nil, now: WallClock.now(), on: loop).get()
        else { throw RedisServer.StartFailure(message: "an eighth step was allowed") }
        await redis.shutdown()
        try await group.shutdownGracefully()
    }
}
