import NIOCore
import Synchronization

/// A networked store with `store.redis.on_error` around it: what an operation answers when the
/// primary fails (down, too slow, or answering nonsense; always a `StoreUnavailable`).
///
/// - `fail_closed`: the failure goes on to the guard, which answers 503 `store_unavailable`.
/// - `fail_open`: an answer shaped like "allowed" (a replay id is new, no limit is reached, no
///   client is banned), counted, so the operator sees how much went through unprotected.
/// - `local`: the embedded `fallback` answers, so each replica protects on its own until the
///   primary is back. The primary is tried first on every operation; while it is down its
///   back-off makes that try fail at once, so the fallback costs no timeout per request.
///
/// Recovery needs nothing: the first operation after the primary's back-off reconnects.
public final class ResilientStore: StateStore {
    public let primary: RedisStore
    public let fallback: MemoryStore
    public let mode: StoreErrorMode
    private let degraded = Synchronization.Atomic<Int>(0)
    /// The runtime's security events: a failure is reported at most every `reportInterval`
    /// seconds (Redis down under load fails every request; one event says so).
    let securityEvents = Mutex<SecurityEventLog?>(nil)
    private let lastReport = Synchronization.Atomic<Int64>(0)
    static let reportInterval: Int64 = 10

    public init(primary: RedisStore, fallback: MemoryStore, mode: StoreErrorMode) {
        self.primary = primary
        self.fallback = fallback
        self.mode = mode
    }

    private func guarded<Answer: Sendable>(
        _ attempt: EventLoopFuture<Answer>, open: @autoclosure @escaping @Sendable () -> Answer,
        local: @escaping @Sendable () -> EventLoopFuture<Answer>
    ) -> EventLoopFuture<Answer> {
        attempt.flatMapError { error in
            self.recovered((error as? StoreUnavailable) ?? StoreUnavailable(.connection), on: attempt.eventLoop, open: open, local: local)
        }
    }

    /// What a failed operation answers under `on_error`, counted and reported.
    private func recovered<Answer: Sendable>(
        _ failure: StoreUnavailable, on loop: any EventLoop, open: () -> Answer, local: () -> EventLoopFuture<Answer>
    ) -> EventLoopFuture<Answer> {
        degraded.add(1, ordering: .relaxed)
        report(failure)
        switch mode {
        case .failOpen: return loop.makeSucceededFuture(open())
        case .failClosed: return loop.makeFailedFuture(failure)
        case .local: return local()
        }
    }

    private func report(_ failure: StoreUnavailable) {
        let now = WallClock.now().seconds
        let last = lastReport.load(ordering: .relaxed)
        guard now - last >= Self.reportInterval,
            lastReport.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged,
            let log = securityEvents.withLock({ $0 })
        else { return }
        var event = SecurityEvent(type: .storeFailure, reason: "\(failure.reason)")
        event.details = [("store", "redis"), ("on_error", mode.rawValue)]
        log.record(event)
    }

    public func reserve(
        _ key: String, fingerprint: [UInt8], client: IPAddressBytes?, answerBytes: Int, lease: Int64, now: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<ReservationOutcome> {
        guarded(
            primary.reserve(key, fingerprint: fingerprint, client: client, answerBytes: answerBytes, lease: lease, now: now, on: loop),
            open: .reserved
        ) {
            self.fallback.reserve(key, fingerprint: fingerprint, client: client, answerBytes: answerBytes, lease: lease, now: now, on: loop)
        }
    }

    public func commit(
        _ key: String, record: StoredRecord, client: IPAddressBytes?, ttl: Int64, now: Int64, on loop: any EventLoop
    ) -> EventLoopFuture<Void> {
        guarded(primary.commit(key, record: record, client: client, ttl: ttl, now: now, on: loop), open: ()) {
            self.fallback.commit(key, record: record, client: client, ttl: ttl, now: now, on: loop)
        }
    }

    public func release(_ key: String, on loop: any EventLoop) -> EventLoopFuture<Void> {
        guarded(primary.release(key, on: loop), open: ()) { self.fallback.release(key, on: loop) }
    }

    public func rateLimit(
        _ key: String, limits: [GCRALimit], cost: Int, client: IPAddressBytes?, now: WallClock.Instant, on loop: any EventLoop
    ) -> EventLoopFuture<RateLimitOutcome> {
        // The recovery rides with the step (one closure; its answers are made only on a failure),
        // so a limit Redis answers makes no future here. Open: as if the key were fresh, each limit
        // with its whole burst less this cost.
        primary.rateLimit(key, limits: limits, cost: cost, client: client, now: now, on: loop) { failure in
            self.recovered(
                failure, on: loop,
                open: { .allowed(limits.map { RateLimitFigures(remaining: max($0.burst - max(cost, 0), 0), resetSeconds: 0) }) },
                local: { self.fallback.rateLimit(key, limits: limits, cost: cost, client: client, now: now, on: loop) })
        }
    }

    public func increment(
        _ key: String, by amount: Int64, window: Int64, client: IPAddressBytes?, now: Int64, on loop: any EventLoop
    ) -> EventLoopFuture<CounterOutcome> {
        // Open: nothing counted, so no strike adds up to a ban while the store is away.
        guarded(
            primary.increment(key, by: amount, window: window, client: client, now: now, on: loop),
            open: .counted(0, windowEnds: now + max(window, 1))
        ) {
            self.fallback.increment(key, by: amount, window: window, client: client, now: now, on: loop)
        }
    }

    public func ban(_ key: String, reason: String, terms: BanTerms, now: Int64, on loop: any EventLoop) -> EventLoopFuture<BanOutcome> {
        // Open: a ban that has already ended (nothing was kept to enforce it).
        guarded(
            primary.ban(key, reason: reason, terms: terms, now: now, on: loop),
            open: .banned(BanRecord(until: now, reason: reason, offences: 0))
        ) {
            self.fallback.ban(key, reason: reason, terms: terms, now: now, on: loop)
        }
    }

    public func activeBan(_ key: String, now: Int64, on loop: any EventLoop) -> EventLoopFuture<BanRecord?> {
        guarded(primary.activeBan(key, now: now, on: loop), open: nil) { self.fallback.activeBan(key, now: now, on: loop) }
    }

    public func liftBan(_ key: String, now: Int64, on loop: any EventLoop) -> EventLoopFuture<Bool> {
        guarded(primary.liftBan(key, now: now, on: loop), open: false) { self.fallback.liftBan(key, now: now, on: loop) }
    }

    public func activeBans(now: Int64, limit: Int, on loop: any EventLoop) -> EventLoopFuture<[ListedBan]> {
        guarded(primary.activeBans(now: now, limit: limit, on: loop), open: []) {
            self.fallback.activeBans(now: now, limit: limit, on: loop)
        }
    }

    /// The fallback follows the policy's limits; Redis follows its own `maxmemory`.
    public func apply(_ limits: StoreLimitsSpec) { fallback.apply(limits) }

    /// Redis's figures, with what the fallback holds (under `local`) and the degraded answers.
    public var statistics: StoreStatistics {
        var statistics = mode == .local ? fallback.statistics : StoreStatistics()
        var backend = primary.statistics.backend ?? StoreBackendStatistics()
        backend.onErrorMode = mode
        backend.degradedAnswers = degraded.load(ordering: .relaxed)
        statistics.backend = backend
        return statistics
    }
}
