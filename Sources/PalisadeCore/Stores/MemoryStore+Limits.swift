import NIOCore

/// Rate limits, counters and bans in the embedded store: each one locked step on one key's shard,
/// under the same byte budget, per-client cap and evict-expired-then-refuse rule as reservations.
extension MemoryStore {
    public func rateLimit(
        _ key: String, limits: [GCRALimit], cost: Int, client: IPAddressBytes?, now: WallClock.Instant, on loop: any EventLoop
    ) -> EventLoopFuture<RateLimitOutcome> {
        loop.makeSucceededFuture(rateLimitNow(key, limits: limits, cost: cost, client: client, now: now))
    }

    /// `rateLimit` answered at once: a guard that knows its store is this one skips the future
    /// (an allocation and a hop through the guard chain's pending path on every request).
    func rateLimitNow(
        _ key: String, limits: [GCRALimit], cost: Int, client: IPAddressBytes?, now: WallClock.Instant
    ) -> RateLimitOutcome {
        guard !limits.isEmpty else { return .allowed([]) }
        let client = Self.clientKey(client)
        let seconds = now.seconds
        let step = withRoom(key, now: seconds) { shard -> Step<RateLimitOutcome> in
            if let index = shard.entries.index(forKey: key),
                let answer = Self.chargeInPlace(&shard.entries.values[index], limits: limits, cost: cost, now: now)
            {
                return .done(answer)
            }
            var stored: [GCRA.Cell] = []
            if let entry = live(key, now: seconds, in: &shard), case .rateLimit(let cells) = entry.state { stored = cells }
            switch GCRA.step(stored: stored, limits: limits, cost: cost, now: now.nanosecondsSinceEpoch) {
            case .limited(let figures, let retryAfter):
                // Nothing is written: a refused request spends nothing, on any limit.
                return .done(.limited(figures, retryAfterSeconds: retryAfter))
            case .allowed(let cells, let figures):
                let size = EntrySize.rateLimit(key: key, limits: cells.count)
                if let refusal = put(
                    key, .rateLimit(cells), expires: GCRA.expiry(cells), size: size, client: client, now: seconds, in: &shard
                ) {
                    return .needsRoom(refusal)
                }
                return .done(.allowed(figures))
            }
        }
        return settle(step, refused: RateLimitOutcome.refused)
    }

    /// A live rate-limit entry of the same limits, stepped where it lies in the table: one hash
    /// lookup instead of three, and no new state list. Its size is unchanged (same number of
    /// cells), so nothing is charged. Nil for anything else (absent limits, another kind, expired,
    /// another shape): the general step handles those.
    private static func chargeInPlace(
        _ entry: inout Entry, limits: [GCRALimit], cost: Int, now: WallClock.Instant
    ) -> RateLimitOutcome? {
        guard entry.expires > now.seconds, case .rateLimit(var cells) = entry.state else { return nil }
        // The entry lets go of its list while it is charged, so `cells` is its only owner and
        // changes in place rather than as a copy.
        entry.state = .counter(0)
        let outcome = GCRA.chargeInPlace(&cells, limits: limits, cost: cost, now: now.nanosecondsSinceEpoch)
        if case .allowed? = outcome { entry.expires = GCRA.expiry(cells) }
        entry.state = .rateLimit(cells)
        return outcome
    }

    public func increment(
        _ key: String, by amount: Int64, window: Int64, client: IPAddressBytes?, now: Int64, on loop: any EventLoop
    ) -> EventLoopFuture<CounterOutcome> {
        let client = Self.clientKey(client)
        let step = withRoom(key, now: now) { shard -> Step<CounterOutcome> in
            var count = amount
            var windowEnds = now + max(window, 1)
            if let entry = live(key, now: now, in: &shard), case .counter(let counted) = entry.state {
                count = counted &+ amount
                windowEnds = entry.expires
            }
            let size = EntrySize.counter(key: key)
            if let refusal = put(key, .counter(count), expires: windowEnds, size: size, client: client, now: now, in: &shard) {
                return .needsRoom(refusal)
            }
            return .done(.counted(count, windowEnds: windowEnds))
        }
        return loop.makeSucceededFuture(settle(step, refused: CounterOutcome.refused))
    }

    public func ban(
        _ key: String, reason: String, terms: BanTerms, now: Int64, on loop: any EventLoop
    ) -> EventLoopFuture<BanOutcome> {
        let step = withRoom(key, now: now) { shard -> Step<BanOutcome> in
            var offences = 1
            var until = now
            if let entry = live(key, now: now, in: &shard), case .ban(let previous) = entry.state {
                offences = previous.offences + 1
                until = previous.until
            }
            let record = BanRecord(until: max(until, now + terms.duration(forOffence: offences)), reason: reason, offences: offences)
            let size = EntrySize.ban(key: key, reason: reason)
            if let refusal = put(
                key, .ban(record), expires: record.until + terms.memory, size: size, client: nil, now: now, in: &shard
            ) {
                return .needsRoom(refusal)
            }
            return .done(.banned(record))
        }
        return loop.makeSucceededFuture(settle(step, refused: BanOutcome.refused))
    }

    public func activeBan(_ key: String, now: Int64, on loop: any EventLoop) -> EventLoopFuture<BanRecord?> {
        loop.makeSucceededFuture(activeBanNow(key, now: now))
    }

    /// False while the store holds no ban at all: the abuse guard then need not even make the key.
    var mayHoldBans: Bool { banEntries.load(ordering: .relaxed) > 0 }

    /// `activeBan` answered at once, for the abuse guard's check on every request.
    func activeBanNow(_ key: String, now: Int64) -> BanRecord? {
        guard banEntries.load(ordering: .relaxed) > 0 else { return nil }
        // Read only, no sweep: this runs on every request and must stay one lookup.
        return shard(for: key).withLockedValue { shard -> BanRecord? in
            guard let entry = shard.entries[key], case .ban(let record) = entry.state, record.isActive(at: now) else { return nil }
            return record
        }
    }

    public func liftBan(_ key: String, now: Int64, on loop: any EventLoop) -> EventLoopFuture<Bool> {
        let lifted = shard(for: key).withLockedValue { shard -> Bool in
            guard let entry = shard.entries[key], case .ban(let record) = entry.state else { return false }
            shard.entries[key] = nil
            forget(entry)
            return record.isActive(at: now)
        }
        return loop.makeSucceededFuture(lifted)
    }

    /// Walks every shard, each under its own lock for one pass over its entries: an admin call,
    /// rare enough that keeping a second index in step on every ban is not worth it.
    public func activeBans(now: Int64, limit: Int, on loop: any EventLoop) -> EventLoopFuture<[ListedBan]> {
        var bans: [ListedBan] = []
        for box in shards {
            box.withLockedValue { shard in
                for (key, entry) in shard.entries {
                    if case .ban(let record) = entry.state, record.isActive(at: now) {
                        bans.append(ListedBan(key: key, record: record))
                    }
                }
            }
        }
        bans.sort { ($0.record.until, $0.key) < ($1.record.until, $1.key) }
        return loop.makeSucceededFuture(Array(bans.prefix(max(limit, 0))))
    }
}
