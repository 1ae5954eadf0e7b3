import NIOCore

/// Rate-limit steps that arrive in one turn of a loop for the same key, limits and cost leave as
/// one script call that takes them in arrival order (`RedisScripts.rateLimit` with a request
/// count): one EVALSHA, one reply and one Lua run instead of one each per request. A hot key (one
/// heavy client, a route-wide limit, a NAT) is exactly where a limiter sees most traffic, and
/// there a loop turn holds many requests for it.
///
/// The answers are what the same steps one after another would give on the server's clock: the
/// script admits requests while every limit has room (a refused one charges nothing, so at one
/// instant every later one is refused too) and answers the state it read; each waiter's figures
/// come from `GCRA.step` replayed over that state in the same order. Nothing waits longer than
/// it would have: the commands of a turn were flushed at the turn's end already.
final class RedisRateLimitCoalescer {
    /// What makes two steps one call: the same stored key, the same limits and the same cost.
    private struct BatchKey: Hashable {
        let key: [UInt8]
        let limits: [GCRALimit]
        let cost: Int

        /// The key's bytes end in 32 hex digits of a SHA-256 and a `}`: eight of those digits
        /// already spread keys evenly, where hashing every byte and limit costs a `Hasher` round per
        /// byte. Equality still compares everything.
        func hash(into hasher: inout Hasher) {
            key.withUnsafeBytes { bytes in
                hasher.combine(bytes.count >= 9 ? bytes.loadUnaligned(fromByteOffset: bytes.count - 9, as: UInt64.self) : 0)
            }
            hasher.combine(cost)
        }
    }

    /// A step waiting for the call: its promise, and what answers instead if the call fails
    /// (`store.redis.on_error`, from `ResilientStore`).
    private struct Waiter {
        let promise: EventLoopPromise<RateLimitOutcome>
        let recover: RedisStore.Recovery<RateLimitOutcome>?
    }

    private final class Batch {
        let key: RedisKey
        let limits: [GCRALimit]
        let cost: Int
        var waiters: [Waiter] = []

        init(key: RedisKey, limits: [GCRALimit], cost: Int) {
            self.key = key
            self.limits = limits
            self.cost = cost
        }
    }

    /// A turn with more steps than this on one key sends them in several calls, so one reply and
    /// one Lua run stay small.
    static let maxBatch = 512

    private var open: [BatchKey: Batch] = [:]
    private var ready: [Batch] = []
    private var scheduled = false

    /// Queues one step; it is sent when the loop has dispatched this turn's events.
    func enqueue(
        key: RedisKey, limits: [GCRALimit], cost: Int, on client: RedisLoopClient, recover: RedisStore.Recovery<RateLimitOutcome>?
    ) -> EventLoopFuture<RateLimitOutcome> {
        let promise = client.loop.makePromise(of: RateLimitOutcome.self)
        let batchKey = BatchKey(key: key.bytes, limits: limits, cost: cost)
        let batch: Batch
        if let existing = open[batchKey], existing.waiters.count < Self.maxBatch {
            batch = existing
        } else {
            batch = Batch(key: key, limits: limits, cost: cost)
            open[batchKey] = batch
            ready.append(batch)
        }
        batch.waiters.append(Waiter(promise: promise, recover: recover))
        if !scheduled {
            scheduled = true
            client.loop.assumeIsolated().execute { self.send(on: client) }
        }
        return promise.futureResult
    }

    private func send(on client: RedisLoopClient) {
        scheduled = false
        let batches = ready
        ready.removeAll(keepingCapacity: true)
        open.removeAll(keepingCapacity: true)
        for batch in batches { send(batch, on: client) }
    }

    private func send(_ batch: Batch, on client: RedisLoopClient) {
        let limits = batch.limits
        let cost = batch.cost
        let count = batch.waiters.count
        client.builder.script(RedisScripts.rateLimit, key: batch.key)
        client.builder.append(Int64(cost))
        client.builder.append(Int64(count))
        client.builder.append(Int64(limits.count))
        for limit in limits {
            client.builder.append(limit.interval)
            client.builder.append(limit.tolerance)
        }
        let command = client.builder.encode(allocator: ByteBufferAllocator())
        let waiters = batch.waiters
        client.run(command, slot: client.slot(of: batch.key), script: RedisScripts.rateLimit, timeout: client.timeout) { reply in
            try Self.outcomes(reply, limits: limits, cost: cost, count: count)
        }.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let outcomes):
                for (waiter, outcome) in zip(waiters, outcomes) { waiter.promise.succeed(outcome) }
            case .failure(let error):
                let failure = (error as? StoreUnavailable) ?? StoreUnavailable(.connection)
                for waiter in waiters {
                    if let recover = waiter.recover {
                        recover(failure).cascade(to: waiter.promise)
                    } else {
                        waiter.promise.fail(failure)
                    }
                }
            }
        }
    }

    /// Each of `count` steps' answer from the script's reply `{seconds, microseconds, ahead_1 ...
    /// ahead_n, admitted}`: the state as read, replayed through the same pure step the memory
    /// store takes (same integers, same comparisons, so the verdicts match the script's).
    static func outcomes(_ reply: RedisValue, limits: [GCRALimit], cost: Int, count: Int) throws -> [RateLimitOutcome] {
        if RedisStore.isOutOfMemory(reply) { return Array(repeating: .refused(.full), count: count) }
        guard case .array(let values) = reply, values.count == limits.count + 3,
            let seconds = values[0].integer, let micros = values[1].integer, let admitted = values[limits.count + 2].integer
        else { throw RedisStore.unusable(reply) }
        let serverNow = seconds * 1_000_000_000 + micros * 1000
        var cells: [GCRA.Cell] = []
        cells.reserveCapacity(limits.count)
        for (index, limit) in limits.enumerated() {
            guard let ahead = values[index + 2].integer else { throw RedisStore.unusable(reply) }
            cells.append(GCRA.Cell(interval: limit.interval, tolerance: limit.tolerance, tat: serverNow + ahead))
        }
        var outcomes: [RateLimitOutcome] = []
        outcomes.reserveCapacity(count)
        while outcomes.count < count {
            switch GCRA.step(stored: cells, limits: limits, cost: cost, now: serverNow) {
            case .allowed(let charged, let figures) where outcomes.count < admitted:
                cells = charged
                outcomes.append(.allowed(figures))
            case .limited(let figures, let retryAfter):
                // At one instant, what did not fit never will: the rest are refused alike.
                outcomes.append(contentsOf: repeatElement(.limited(figures, retryAfterSeconds: retryAfter), count: count - outcomes.count))
            case .allowed:
                // The script charged no more than `admitted`; a step the replay would still allow
                // (never, with the same integers) is answered as the script decided.
                let refusal = RateLimitOutcome.limited(GCRA.standing(cells, limits: limits, now: serverNow), retryAfterSeconds: 1)
                outcomes.append(contentsOf: repeatElement(refusal, count: count - outcomes.count))
            }
        }
        return outcomes
    }
}

@available(*, unavailable)
extension RedisRateLimitCoalescer: Sendable {}
