import NIOConcurrencyHelpers
import Synchronization

/// How a networked store is doing, for `/metrics` and `/readyz`. Nil for the embedded store.
public struct StoreBackendStatistics: Sendable, Equatable {
    public static let latencyBoundsSeconds: [Double] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25]

    public var kind = "redis"
    /// False while every connection tried is backing off after a failure.
    public var up = true
    public var operations = 0
    public var timeouts = 0
    public var connectionErrors = 0
    /// Operations failed at once because the store was known to be down (back-off running).
    public var downErrors = 0
    public var replyErrors = 0
    /// MOVED and ASK answers followed (Redis Cluster).
    public var redirects = 0
    /// Operations answered by `on_error` instead of Redis, and the mode that answered them.
    public var onErrorMode = StoreErrorMode.failClosed
    public var degradedAnswers = 0
    /// Per-bucket (not cumulative) counts for `latencyBoundsSeconds`, then the +Inf bucket.
    public var latencyBuckets = [Int](repeating: 0, count: latencyBoundsSeconds.count + 1)
    public var latencySumNanos: Int64 = 0

    public var errors: Int { timeouts + connectionErrors + downErrors + replyErrors }

    mutating func merge(_ other: StoreBackendStatistics) {
        up = up && other.up
        operations += other.operations
        timeouts += other.timeouts
        connectionErrors += other.connectionErrors
        downErrors += other.downErrors
        replyErrors += other.replyErrors
        redirects += other.redirects
        degradedAnswers += other.degradedAnswers
        for index in latencyBuckets.indices { latencyBuckets[index] += other.latencyBuckets[index] }
        latencySumNanos += other.latencySumNanos
    }
}

/// One event loop's counts for a Redis store. Written by that loop only, so its lock is never
/// contended on the request path; a scrape takes it once per loop.
final class RedisStoreCounters: Sendable {
    private let counts = NIOLockedValueBox(StoreBackendStatistics())
    /// Written from the loop, read by `/readyz` and `/metrics` on another thread.
    let isUp = Synchronization.Atomic<Bool>(true)
    let redirects = Synchronization.Atomic<Int>(0)

    func record(_ result: Result<Void, StoreUnavailable>, nanoseconds: Int64) {
        counts.withLockedValue { s in
            s.operations += 1
            switch result {
            case .success:
                let seconds = Double(nanoseconds) / 1e9
                let bucket =
                    StoreBackendStatistics.latencyBoundsSeconds.firstIndex { seconds <= $0 }
                    ?? StoreBackendStatistics.latencyBoundsSeconds.count
                s.latencyBuckets[bucket] += 1
                s.latencySumNanos += nanoseconds
            case .failure(let error):
                switch error.reason {
                case .timeout: s.timeouts += 1
                case .connection: s.connectionErrors += 1
                case .down: s.downErrors += 1
                case .reply: s.replyErrors += 1
                }
            }
        }
    }

    var snapshot: StoreBackendStatistics {
        var s = counts.withLockedValue { $0 }
        s.up = isUp.load(ordering: .relaxed)
        s.redirects = redirects.load(ordering: .relaxed)
        return s
    }
}
