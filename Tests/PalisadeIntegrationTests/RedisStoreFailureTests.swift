import Foundation
import NIOCore
import NIOPosix
import PalisadeTesting
import Testing

@testable import PalisadeCore

/// A real redis-server killed while operations run, made slow, and started again: no operation
/// hangs past its timeout, each `on_error` mode answers as it says, and sharing resumes.
@Suite("Redis store failures", .serialized)
struct RedisStoreFailureTests {
    /// Above the policy's default (50 ms): a debug build answering bursts of hundreds on a busy
    /// 2-core machine needs it; what is tested is that nothing waits much past it.
    static let timeout = TimeAmount.milliseconds(200)
    /// An answer must come within the timeout and this much more (the loop's own scheduling on a
    /// busy 2-core machine running the whole suite).
    static let margin: Int64 = 500_000_000

    static func store(_ server: RedisServer, mode: StoreErrorMode) throws -> ResilientStore {
        let redis = try RedisStore(configuration: .init(endpoint: RedisEndpoint(host: "127.0.0.1", port: server.port), timeout: timeout))
        return ResilientStore(primary: redis, fallback: MemoryStore(), mode: mode)
    }

    /// Runs `count` reservations at once on `loop`; answers how many succeeded, failed with
    /// `StoreUnavailable`, and the slowest answer in nanoseconds, timed on the loop itself (from
    /// the call to the future's completion), so a busy test runner's task scheduling is not
    /// counted against the store. Any other error fails the test.
    static func burst(_ store: any StateStore, on loop: any EventLoop, count: Int, tag: String) async -> (
        ok: Int, unavailable: Int, slowest: Int64
    ) {
        let now = WallClock.now().seconds
        let timed = try? await loop.flatSubmit { () -> EventLoopFuture<[(Bool?, Int64)]> in
            let calls = (0..<count).map { index -> EventLoopFuture<(Bool?, Int64)> in
                let started = NIODeadline.now()
                return store.reserve("\(tag):\(index)", fingerprint: [1], client: nil, answerBytes: 0, lease: 60, now: now, on: loop)
                    .map { _ in (true as Bool?, (NIODeadline.now() - started).nanoseconds) }
                    .recover { error in (error is StoreUnavailable ? false : nil, (NIODeadline.now() - started).nanoseconds) }
            }
            return EventLoopFuture.whenAllSucceed(calls, on: loop)
        }.get()
        var (ok, unavailable, slowest) = (0, 0, Int64(0))
        for (outcome, elapsed) in timed ?? [] {
            slowest = max(slowest, elapsed)
            if outcome == true {
                ok += 1
            } else if outcome == false {
                unavailable += 1
            } else {
                Issue.record("an error other than StoreUnavailable")
            }
        }
        return (ok, unavailable, slowest)
    }

    static func attempt<T: Sendable>(_ body: () async throws -> T) async -> Result<T, any Error> {
        do { return .success(try await body()) } catch { return .failure(error) }
    }

    /// Polls until a reservation goes through Redis again (the back-off is at most ~1.5 s).
    static func waitForRecovery(_ store: RedisStore, on loop: any EventLoop) async throws {
        for attempt in 0..<100 {
            let result = await Self.attempt {
                try await store.reserve("recovery:\(attempt)", fingerprint: [], client: nil, answerBytes: 0, lease: 5, now: 0, on: loop)
                    .get()
            }
            if case .success = result { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("Redis did not come back")
    }

    @Test(
        "Redis killed mid-load: every answer comes within the timeout, as on_error says; restarted, Redis is used again",
        arguments: [StoreErrorMode.failClosed, .failOpen, .local])
    func killedMidLoad(mode: StoreErrorMode) async throws {
        if let missing = RedisServer.missing {
            print(missing)
            return
        }
        let server = try RedisServer()
        defer { server.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let store = try Self.store(server, mode: mode)
        let loop = group.next()
        // Connected first (a new connection's handshake is not what this measures).
        #expect(await Self.burst(store, on: loop, count: 2, tag: "warm").ok == 2)
        let before = await Self.burst(store, on: loop, count: 200, tag: "before")
        #expect(before.ok == 200, "\(String(describing: store.statistics.backend))")
        // Kill it while a burst is in flight.
        async let during = Self.burst(store, on: loop, count: 400, tag: "during")
        try await Task.sleep(for: .milliseconds(2))
        server.stop()
        let duringResult = await during
        #expect(duringResult.ok + duringResult.unavailable == 400)
        #expect(duringResult.slowest < Int64(Self.timeout.nanoseconds) + Self.margin)
        let down = await Self.burst(store, on: loop, count: 100, tag: "down")
        #expect(down.slowest < Int64(Self.timeout.nanoseconds) + Self.margin)
        switch mode {
        case .failClosed:
            // Every operation fails, typed, so the guard answers 503 store_unavailable.
            #expect(down.unavailable == 100)
        case .failOpen, .local:
            // Nothing fails: allow-shaped answers, or this replica's memory store.
            #expect(duringResult.unavailable == 0)
            #expect(down.ok == 100)
        }
        // Only `local` keeps anything in this replica's memory (at least the 100 made while down).
        #expect(mode == .local ? store.fallback.count >= 100 : store.fallback.count == 0)
        #expect(store.statistics.backend?.up == false)
        #expect((store.statistics.backend?.degradedAnswers ?? 0) >= 100)
        try server.restart()
        try await Self.waitForRecovery(store.primary, on: loop)
        let after = await Self.burst(store, on: loop, count: 100, tag: "after")
        #expect(after.ok == 100)
        #expect(store.statistics.backend?.up == true)
        await store.primary.shutdown()
        try await group.shutdownGracefully()
    }

    @Test("fail_open answers allow-shaped outcomes while Redis is down, and counts them")
    func failOpen() async throws {
        if let missing = RedisServer.missing {
            print(missing)
            return
        }
        let server = try RedisServer()
        defer { server.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let store = try Self.store(server, mode: .failOpen)
        let loop = group.next()
        server.stop()
        let now = WallClock.now().seconds
        #expect(
            try await store.reserve("r", fingerprint: [1], client: nil, answerBytes: 0, lease: 60, now: now, on: loop).get() == .reserved)
        #expect(
            try await store.reserve("r", fingerprint: [1], client: nil, answerBytes: 0, lease: 60, now: now, on: loop).get() == .reserved)
        let limit = GCRALimit(limit: 1, periodNanoseconds: 60_000_000_000, burst: 1)!
        #expect(
            try await store.rateLimit("l", limits: [limit], cost: 1, client: nil, now: WallClock.now(), on: loop).get()
                == .allowed([RateLimitFigures(remaining: 0, resetSeconds: 0)]))
        #expect(try await store.activeBan("b", now: now, on: loop).get() == nil)
        #expect(
            try await store.increment("c", by: 1, window: 60, client: nil, now: now, on: loop).get() == .counted(0, windowEnds: now + 60))
        #expect(store.statistics.backend?.degradedAnswers == 5)
        #expect(store.statistics.backend?.onErrorMode == .failOpen)
        try await group.shutdownGracefully()
    }

    @Test("local answers from this replica's memory store while Redis is down, then Redis again")
    func local() async throws {
        if let missing = RedisServer.missing {
            print(missing)
            return
        }
        let server = try RedisServer()
        defer { server.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let store = try Self.store(server, mode: .local)
        let loop = group.next()
        server.stop()
        let now = WallClock.now().seconds
        #expect(
            try await store.reserve("r", fingerprint: [1], client: nil, answerBytes: 0, lease: 60, now: now, on: loop).get() == .reserved)
        #expect(
            try await store.reserve("r", fingerprint: [2], client: nil, answerBytes: 0, lease: 60, now: now, on: loop).get()
                == .inFlight(fingerprint: [1]))
        #expect(store.fallback.count == 1)
        try server.restart()
        try await Self.waitForRecovery(store.primary, on: loop)
        // Redis (empty after its restart) answers again, not the fallback.
        #expect(
            try await store.reserve("r", fingerprint: [3], client: nil, answerBytes: 0, lease: 60, now: now, on: loop).get() == .reserved)
        await store.primary.shutdown()
        try await group.shutdownGracefully()
    }

    @Test("a server that stops answering (SIGSTOP) times out at the timeout; resumed, it answers again")
    func wedgedServer() async throws {
        if let missing = RedisServer.missing {
            print(missing)
            return
        }
        let server = try RedisServer()
        defer { server.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let store = try Self.store(server, mode: .failClosed)
        let loop = group.next()
        #expect(await Self.burst(store, on: loop, count: 10, tag: "warm").ok == 10)
        server.pause()
        let slow = await Self.burst(store, on: loop, count: 20, tag: "slow")
        #expect(slow.unavailable == 20)
        #expect(slow.slowest < Int64(Self.timeout.nanoseconds) + Self.margin)
        // The first to time out finds its connection wedged and recycles it: what waited behind
        // it on that connection fails at once (connection), not at its own timeout.
        #expect((store.statistics.backend?.timeouts ?? 0) > 0)
        #expect((store.statistics.backend?.errors ?? 0) >= 20)
        // Still frozen: the wedged connections were recycled, the new ones wait in vain too.
        let still = await Self.burst(store, on: loop, count: 20, tag: "still")
        #expect(still.unavailable == 20)
        #expect(still.slowest < Int64(Self.timeout.nanoseconds) + Self.margin)
        server.resume()
        try await Self.waitForRecovery(store.primary, on: loop)
        await store.primary.shutdown()
        try await group.shutdownGracefully()
    }

    static func replayPolicy(port: Int, onError: String = "fail_closed") -> String {
        ProxyHarness.policy(
            """
            store:
              kind: redis
              redis: { url: "redis://127.0.0.1:\(port)/0", timeout: 100ms, on_error: \(onError) }
            routes:
              - name: hooks
                match: { prefix: / }
                guards:
                  - replay: { id: "header:webhook-id", ttl: 1h }
            default: deny
            """)
    }

    static func post(_ id: String, port: Int) async throws -> WireResponse? {
        let bytes = RawClient.request("POST", "/hook", headers: [("webhook-id", id)], body: "{}")
        return try await RawClient.send(bytes, port: port).first
    }

    @Test("two proxies on one Redis see one replay id; with Redis down the guard answers 503 store_unavailable")
    func proxiesShareAndFailClosed() async throws {
        if let missing = RedisServer.missing {
            print(missing)
            return
        }
        let server = try RedisServer()
        defer { server.stop() }
        let a = try await ProxyHarness.start(yaml: Self.replayPolicy(port: server.port))
        let b = try await ProxyHarness.start(yaml: Self.replayPolicy(port: server.port))
        #expect(try await Self.post("evt_1", port: a.proxyPort)?.status == 200)
        let second = try await Self.post("evt_1", port: b.proxyPort)
        #expect(second?.status == 409)
        // A's commit leaves with the Redis commands of its loop's turn, just after A's answer
        // (RedisConnection.scheduleFlush): a duplicate that reaches B within that turn finds the
        // id still held. Either way B saw A's id, and the duplicate is refused.
        let code = second?.json?["error"] as? String
        #expect(code == "replay_detected" || code == "replay_in_flight", "\(code ?? "nil")")
        #expect(b.upstream.requests.isEmpty)
        server.stop()
        let down = try await Self.post("evt_2", port: a.proxyPort)
        #expect(down?.status == 503)
        #expect(down?.json?["error"] as? String == "store_unavailable")
        // Readiness shows the store down but stays 200: every replica shares it.
        let ready = try await RawClient.get("/readyz", port: try #require(a.adminPort))
        #expect(ready.status == 200)
        let store = ready.json?["store"] as? [String: Any]
        #expect(store?["kind"] as? String == "redis")
        #expect(store?["up"] as? Bool == false)
        #expect(store?["on_error"] as? String == "fail_closed")
        let metrics = try await a.metrics()
        #expect(metrics.contains("palisade_store_up 0"))
        #expect(metrics.contains("palisade_store_degraded_answers_total{mode=\"fail_closed\"}"))
        try server.restart()
        for harness in [a, b] {
            let store = try #require(harness.runtime.currentPlan.store as? ResilientStore)
            try await Self.waitForRecovery(store.primary, on: harness.group.next())
        }
        #expect(try await Self.post("evt_3", port: a.proxyPort)?.status == 200)
        #expect(try await Self.post("evt_3", port: b.proxyPort)?.status == 409)
        await a.stop()
        await b.stop()
    }
}
