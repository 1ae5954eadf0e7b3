import NIOConcurrencyHelpers
import NIOCore

/// The embedded store: keys spread over 32 independently locked shards, so two event loops
/// contend only when they touch the same shard at the same instant; a lock is held for one
/// dictionary operation, never across I/O. Expired entries go lazily and in a bounded sweep.
public final class MemoryStore: StateStore {
    private enum State: Sendable {
        case held(fingerprint: [UInt8])
        case committed(StoredRecord)
    }

    private struct Entry: Sendable {
        var state: State
        var expires: Int64
    }

    private struct Shard: Sendable {
        var entries: [String: Entry] = [:]
        var operationsSinceSweep = 0
    }

    private let shards: [NIOLockedValueBox<Shard>]
    private static let shardCount = 32
    private static let sweepEvery = 1024

    public init() {
        shards = (0..<Self.shardCount).map { _ in NIOLockedValueBox(Shard()) }
    }

    private func shard(for key: String) -> NIOLockedValueBox<Shard> {
        var hasher = Hasher()
        hasher.combine(key)
        return shards[Int(UInt(bitPattern: hasher.finalize()) % UInt(Self.shardCount))]
    }

    private static func sweepIfDue(_ shard: inout Shard, now: Int64) {
        shard.operationsSinceSweep += 1
        guard shard.operationsSinceSweep >= sweepEvery else { return }
        shard.operationsSinceSweep = 0
        shard.entries = shard.entries.filter { $0.value.expires > now }
    }

    public func reserve(
        _ key: String, fingerprint: [UInt8], lease: Int64, now: Int64, on loop: any EventLoop
    ) -> EventLoopFuture<ReservationOutcome> {
        let outcome = shard(for: key).withLockedValue { shard -> ReservationOutcome in
            Self.sweepIfDue(&shard, now: now)
            if let entry = shard.entries[key], entry.expires > now {
                switch entry.state {
                case .held(let held): return .inFlight(fingerprint: held)
                case .committed(let record): return .committed(record)
                }
            }
            shard.entries[key] = Entry(state: .held(fingerprint: fingerprint), expires: now + lease)
            return .reserved
        }
        return loop.makeSucceededFuture(outcome)
    }

    public func commit(
        _ key: String, record: StoredRecord, ttl: Int64, now: Int64, on loop: any EventLoop
    ) -> EventLoopFuture<Void> {
        shard(for: key).withLockedValue { shard in
            Self.sweepIfDue(&shard, now: now)
            shard.entries[key] = Entry(state: .committed(record), expires: now + ttl)
        }
        return loop.makeSucceededVoidFuture()
    }

    public func release(_ key: String, on loop: any EventLoop) -> EventLoopFuture<Void> {
        shard(for: key).withLockedValue { shard in
            if case .held = shard.entries[key]?.state { shard.entries[key] = nil }
        }
        return loop.makeSucceededVoidFuture()
    }

    /// Entries currently held (for tests and the admin view).
    public var count: Int { shards.reduce(0) { $0 + $1.withLockedValue { $0.entries.count } } }
}
