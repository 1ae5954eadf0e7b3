import Dispatch
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing

@testable import PalisadeCore

/// The store's GCRA step, driven with an injected clock.
@Suite("Memory store rate limits")
struct MemoryStoreRateLimitTests {
    let loop = EmbeddedEventLoop()
    static let alice = IPAddressBytes(parsing: "192.0.2.1")!
    static let second: Int64 = 1_000_000_000
    static let start: Int64 = 1_700_000_000 * second

    static func limit(_ count: Int, per seconds: Int64, burst: Int) -> GCRALimit {
        GCRALimit(limit: count, periodNanoseconds: seconds * second, burst: burst)!
    }

    func step(
        _ store: MemoryStore, _ limits: [GCRALimit], key: String = "rl:alice", cost: Int = 1, at nanoseconds: Int64,
        client: IPAddressBytes = alice
    ) throws -> RateLimitOutcome {
        try store.rateLimit(
            key, limits: limits, cost: cost, client: client, now: WallClock.Instant(nanosecondsSinceEpoch: nanoseconds), on: loop
        ).wait()
    }

    static func allowed(_ outcome: RateLimitOutcome) -> Bool {
        if case .allowed = outcome { return true }
        return false
    }

    @Test("a burst passes at once, counting down; the next waits one interval, and Retry-After says so")
    func burstThenInterval() throws {
        let store = MemoryStore()
        let tenPerSecond = [Self.limit(10, per: 1, burst: 5)]
        for remaining in [4, 3, 2, 1, 0] {
            #expect(try step(store, tenPerSecond, at: Self.start) == .allowed([RateLimitFigures(remaining: remaining, resetSeconds: 1)]))
        }
        // The sixth is 100 ms early: refused, told to come back in a second (rounded up), charged nothing.
        let refused = try step(store, tenPerSecond, at: Self.start)
        #expect(refused == .limited([RateLimitFigures(remaining: 0, resetSeconds: 1)], retryAfterSeconds: 1))
        #expect(!Self.allowed(try step(store, tenPerSecond, at: Self.start + 99_000_000)))
        #expect(try step(store, tenPerSecond, at: Self.start + 100_000_000) == .allowed([RateLimitFigures(remaining: 0, resetSeconds: 1)]))
        // Idle long enough, the whole burst is back.
        #expect(
            try step(store, tenPerSecond, at: Self.start + 2 * Self.second) == .allowed([RateLimitFigures(remaining: 4, resetSeconds: 1)]))
    }

    /// Twice the allowed rate over many periods: what passes is the burst plus one per interval.
    @Test(
        "at twice the rate, what passes is the burst plus what the limit allows",
        arguments: [
            (limit: 10, period: Int64(1), burst: 1, periods: Int64(10)),
            (limit: 100, period: Int64(1), burst: 20, periods: Int64(10)),
            (limit: 100, period: Int64(60), burst: 5, periods: Int64(3)),
            (limit: 1000, period: Int64(3600), burst: 50, periods: Int64(2)),
            (limit: 3, period: Int64(1), burst: 3, periods: Int64(30)),
        ]
    )
    func accuracy(limit: Int, period: Int64, burst: Int, periods: Int64) throws {
        let store = MemoryStore()
        let rule = Self.limit(limit, per: period, burst: burst)
        let gap = rule.interval / 2
        let duration = period * periods * Self.second
        var passed = 0
        var time = Self.start
        while time < Self.start + duration {
            if Self.allowed(try step(store, [rule], at: time)) { passed += 1 }
            time += gap
        }
        let expected = burst + Int(duration / rule.interval)
        #expect(abs(passed - expected) <= 1, "passed \(passed), expected \(expected)")
    }

    @Test("two limits on one key: a request refused by one charges neither; Retry-After is the longer wait")
    func allOrNothing() throws {
        let store = MemoryStore()
        let limits = [Self.limit(3, per: 1, burst: 3), Self.limit(5, per: 60, burst: 5)]
        for _ in 0..<3 { #expect(Self.allowed(try step(store, limits, at: Self.start))) }
        guard case .limited(_, let firstWait) = try step(store, limits, at: Self.start) else {
            Issue.record("the fourth request within a second passed a 3/s limit")
            return
        }
        #expect(firstWait == 1)
        let oneLater = Self.start + Self.second
        for _ in 0..<2 { #expect(Self.allowed(try step(store, limits, at: oneLater))) }
        // The per-second limit has room for one more; the per-minute one has none left.
        for _ in 0..<3 {
            let outcome = try step(store, limits, at: oneLater)
            // 5/min: five spent; the sixth fits when the TAT (start + 72 s) is within 60 s: at start + 12 s.
            #expect(
                outcome
                    == .limited(
                        [RateLimitFigures(remaining: 1, resetSeconds: 1), RateLimitFigures(remaining: 0, resetSeconds: 59)],
                        retryAfterSeconds: 11
                    ))
        }
        #expect(!Self.allowed(try step(store, limits, at: Self.start + 11_500_000_000)))
        #expect(
            try step(store, limits, at: Self.start + 12 * Self.second)
                == .allowed([
                    RateLimitFigures(remaining: 2, resetSeconds: 1), RateLimitFigures(remaining: 0, resetSeconds: 60),
                ]))
    }

    @Test("a cost spends that many units; a cost above the burst never passes and stores nothing")
    func cost() throws {
        let store = MemoryStore()
        let rule = [Self.limit(10, per: 1, burst: 5)]
        #expect(try step(store, rule, cost: 3, at: Self.start) == .allowed([RateLimitFigures(remaining: 2, resetSeconds: 1)]))
        #expect(!Self.allowed(try step(store, rule, cost: 3, at: Self.start)))
        #expect(try step(store, rule, cost: 2, at: Self.start) == .allowed([RateLimitFigures(remaining: 0, resetSeconds: 1)]))
        let bytes = store.bytes
        #expect(!Self.allowed(try step(store, rule, key: "rl:other", cost: 6, at: Self.start)))
        #expect(store.bytes == bytes)
        #expect(store.count == 1)
    }

    @Test("a limit changed by a reload starts fresh; the limit that went is forgotten")
    func changedLimitStartsFresh() throws {
        let store = MemoryStore()
        let before = [Self.limit(10, per: 1, burst: 2)]
        for _ in 0..<2 { #expect(Self.allowed(try step(store, before, at: Self.start))) }
        #expect(!Self.allowed(try step(store, before, at: Self.start)))
        let after = [Self.limit(20, per: 1, burst: 2)]
        #expect(try step(store, after, at: Self.start) == .allowed([RateLimitFigures(remaining: 1, resetSeconds: 1)]))
        // Back to the old limit: its state went with the reload, so it too starts fresh.
        #expect(try step(store, before, at: Self.start) == .allowed([RateLimitFigures(remaining: 1, resetSeconds: 1)]))
    }

    @Test("a key's state is charged to the budget and the client, and expires when its TAT has passed")
    func budgetAndExpiry() throws {
        let size = EntrySize.rateLimit(key: "rl:10", limits: 1)
        var limits = StoreLimitsSpec()
        limits.maxBytes = ByteCount(bytes: size * 10)
        limits.maxEntriesPerClient = 4
        let store = MemoryStore(limits: limits)
        let rule = [Self.limit(1, per: 10, burst: 1)]
        // One client may hold four keys; a fifth is refused (429 reason), its keys still answer.
        for index in 0..<4 { #expect(Self.allowed(try step(store, rule, key: "rl:\(10 + index)", at: Self.start))) }
        #expect(try step(store, rule, key: "rl:14", at: Self.start) == .refused(.clientLimit))
        #expect(!Self.allowed(try step(store, rule, key: "rl:10", at: Self.start)))
        #expect(store.entries(of: Self.alice) == 4)
        #expect(store.bytes == 4 * size)
        // Other clients fill the budget; the next new key is refused as full.
        for index in 4..<10 {
            let client = IPAddressBytes(ipv4: 0x0A00_0000 + UInt32(index))
            #expect(Self.allowed(try step(store, rule, key: "rl:\(10 + index)", at: Self.start, client: client)))
        }
        let stranger = IPAddressBytes(parsing: "198.51.100.7")!
        #expect(try step(store, rule, key: "rl:20", at: Self.start + 9 * Self.second, client: stranger) == .refused(.full))
        #expect(store.statistics.refusedFull == 1)
        #expect(store.statistics.refusedClientLimit == 1)
        // Ten seconds on, every TAT has passed: those entries are evicted and the new key fits.
        #expect(Self.allowed(try step(store, rule, key: "rl:20", at: Self.start + 10 * Self.second, client: stranger)))
        #expect(store.count == 1)
        #expect(store.bytes == size)
        #expect(store.entries(of: Self.alice) == 0)
    }

    @Test("many threads on one key at one instant: exactly the burst passes")
    func concurrentSteps() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        defer { try? group.syncShutdownGracefully() }
        let store = MemoryStore()
        let rule = [Self.limit(1, per: 3600, burst: 50)]
        let passed = NIOLockedValueBox(0)
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            let loop = group.any()
            var mine = 0
            for _ in 0..<100 {
                let outcome = try? store.rateLimit(
                    "rl:shared", limits: rule, cost: 1, client: nil, now: WallClock.Instant(nanosecondsSinceEpoch: Self.start), on: loop
                ).wait()
                if let outcome, Self.allowed(outcome) { mine += 1 }
            }
            passed.withLockedValue { $0 += mine }
        }
        #expect(passed.withLockedValue { $0 } == 50)
    }

    @Test("a limit's figures: interval and tolerance from limit, period and burst; nonsense is refused")
    func limitFigures() {
        let limit = Self.limit(1000, per: 3600, burst: 50)
        #expect(limit.interval == 3_600_000_000)
        #expect(limit.tolerance == 180_000_000_000)
        #expect(GCRALimit(limit: 0, periodNanoseconds: Self.second, burst: 1) == nil)
        #expect(GCRALimit(limit: 10, periodNanoseconds: Self.second, burst: 0) == nil)
        #expect(GCRALimit(limit: 10, periodNanoseconds: 5, burst: 1) == nil)
        #expect(GCRALimit(limit: 1, periodNanoseconds: Int64.max, burst: 2) == nil)
    }
}
