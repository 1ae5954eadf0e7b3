import NIOCore

/// Rate limits, counters and bans in Redis: each one script (or one HMGET) on one key.
extension RedisStore {
    /// Coalesced per loop turn and key (`RedisRateLimitCoalescer`): one script call answers every
    /// step on one key that the turn read.
    public func rateLimit(
        _ key: String, limits: [GCRALimit], cost: Int, client: IPAddressBytes?, now: WallClock.Instant, on loop: any EventLoop
    ) -> EventLoopFuture<RateLimitOutcome> {
        rateLimit(key, limits: limits, cost: cost, client: client, now: now, on: loop, recover: nil)
    }

    /// The same, with what answers instead when Redis fails (`ResilientStore`): handed down to
    /// the waiting step, so the answer needs no future of its own on the way back.
    func rateLimit(
        _ key: String, limits: [GCRALimit], cost: Int, client: IPAddressBytes?, now: WallClock.Instant, on loop: any EventLoop,
        recover: Recovery<RateLimitOutcome>?
    ) -> EventLoopFuture<RateLimitOutcome> {
        guard !limits.isEmpty else { return loop.makeSucceededFuture(.allowed([])) }
        guard loop.inEventLoop else {
            return loop.flatSubmit {
                self.rateLimit(key, limits: limits, cost: cost, client: client, now: now, on: loop, recover: recover)
            }
        }
        let redis = self.client(on: loop)
        return redis.rateLimits.enqueue(key: RedisKey(.rateLimit, key), limits: limits, cost: max(cost, 0), on: redis, recover: recover)
    }

    public func increment(
        _ key: String, by amount: Int64, window: Int64, client: IPAddressBytes?, now: Int64, on loop: any EventLoop
    ) -> EventLoopFuture<CounterOutcome> {
        evaluate(
            RedisScripts.increment, key: RedisKey(.counter, key), on: loop,
            arguments: {
                $0.append(amount)
                $0.append(max(window, 1))
            },
            decode: { reply -> CounterOutcome in
                if Self.isOutOfMemory(reply) { return .refused(.full) }
                guard case .array(let values) = reply, values.count == 2, let count = values[0].integer, let left = values[1].integer
                else { throw Self.unusable(reply) }
                return .counted(count, windowEnds: now + left)
            })
    }

    public func ban(_ key: String, reason: String, terms: BanTerms, now: Int64, on loop: any EventLoop) -> EventLoopFuture<BanOutcome> {
        evaluate(
            RedisScripts.ban, key: RedisKey(.ban, key), on: loop,
            arguments: {
                $0.append(now)
                $0.append(terms.first)
                $0.append(terms.longest)
                $0.append(terms.memory)
                $0.append(reason)
                $0.append(key.utf8.prefix(RedisKey.maxListedKeyBytes))
            },
            decode: { reply -> BanOutcome in
                if Self.isOutOfMemory(reply) { return .refused(.full) }
                guard case .array(let values) = reply, values.count == 2, let until = values[0].integer, let offences = values[1].integer
                else { throw Self.unusable(reply) }
                return .banned(BanRecord(until: until, reason: reason, offences: Int(offences)))
            })
    }

    public func activeBan(_ key: String, now: Int64, on loop: any EventLoop) -> EventLoopFuture<BanRecord?> {
        let redisKey = RedisKey(.ban, key)
        return command(
            key: redisKey, on: loop,
            arguments: {
                $0.append("HMGET")
                $0.append(redisKey.bytes)
                $0.append("until")
                $0.append("reason")
                $0.append("offences")
            },
            decode: { reply -> BanRecord? in
                guard case .array(let values) = reply, values.count == 3 else { throw Self.unusable(reply) }
                return Self.banRecord(values, now: now)
            })
    }

    public func liftBan(_ key: String, now: Int64, on loop: any EventLoop) -> EventLoopFuture<Bool> {
        evaluate(
            RedisScripts.liftBan, key: RedisKey(.ban, key), on: loop, arguments: { $0.append(now) },
            decode: { reply -> Bool in
                guard let lifted = reply.integer else { throw Self.unusable(reply) }
                return lifted == 1
            })
    }

    /// SCAN over every master for the ban keys (`MATCH palisade:ban:*`, 1000 a page), then one
    /// pipelined HMGET batch per page on the node that listed it. It walks the whole keyspace of
    /// each master: O(all keys) work on Redis and several round trips, which only the admin API
    /// pays (never a request). Not bounded by the store's timeout per operation but by
    /// `adminTimeout` in all. A key moving slots meanwhile may be missed in that one listing.
    public func activeBans(now: Int64, limit: Int, on loop: any EventLoop) -> EventLoopFuture<[ListedBan]> {
        guard loop.inEventLoop else { return loop.flatSubmit { self.activeBans(now: now, limit: limit, on: loop) } }
        let redis = client(on: loop)
        let listed = redis.masters().assumeIsolated().flatMap { masters -> EventLoopFuture<[ListedBan]> in
            let perNode = masters.map { self.scanBans(on: $0, cursor: "0", found: [], now: now, client: redis) }
            return EventLoopFuture.whenAllSucceed(perNode, on: loop).map { lists in
                let bans = lists.flatMap { $0 }.sorted { ($0.record.until, $0.key) < ($1.record.until, $1.key) }
                return Array(bans.prefix(max(limit, 0)))
            }
        }.nonisolated()
        let promise = loop.makePromise(of: [ListedBan].self)
        let timeout = loop.scheduleTask(in: Self.adminTimeout) { promise.fail(StoreUnavailable(.timeout)) }
        listed.whenComplete { result in
            timeout.cancel()
            switch result {
            case .success(let bans): promise.succeed(bans)
            case .failure(let error): promise.fail((error as? StoreUnavailable) ?? StoreUnavailable(.connection))
            }
        }
        return promise.futureResult
    }

    static let adminTimeout = TimeAmount.seconds(10)
    static let scanPage = "1000"

    private func scanBans(
        on node: RedisEndpoint, cursor: String, found: [ListedBan], now: Int64, client: RedisLoopClient
    ) -> EventLoopFuture<[ListedBan]> {
        let scan = RedisCommandBuilder.encode([
            Array("SCAN".utf8), Array(cursor.utf8), Array("MATCH".utf8), RedisKey.pattern(.ban), Array("COUNT".utf8),
            Array(Self.scanPage.utf8),
        ])
        return client.send([scan], to: node).assumeIsolated().flatMap { replies -> EventLoopFuture<[ListedBan]> in
            guard let page = replies[0].elements, page.count == 2, let next = page[0].text, let keys = page[1].elements else {
                return client.loop.makeFailedFuture(StoreUnavailable(.reply))
            }
            let reads = keys.compactMap(\.bytes).map { key in
                RedisCommandBuilder.encode([Array("HMGET".utf8), key] + ["until", "reason", "offences", "key"].map { Array($0.utf8) })
            }
            let batch = reads.isEmpty ? client.loop.makeSucceededFuture([]) : client.send(reads, to: node)
            return batch.assumeIsolated().flatMap { records -> EventLoopFuture<[ListedBan]> in
                var found = found
                for record in records {
                    guard let values = record.elements, values.count == 4,
                        let banRecord = Self.banRecord(Array(values.prefix(3)), now: now),
                        let listedKey = values[3].text
                    else { continue }
                    found.append(ListedBan(key: listedKey, record: banRecord))
                }
                if next == "0" { return client.loop.makeSucceededFuture(found) }
                return self.scanBans(on: node, cursor: next, found: found, now: now, client: client)
            }.nonisolated()
        }.nonisolated()
    }

    /// `[until, reason, offences]` as HMGET answers them; nil unless a ban runs at `now`.
    static func banRecord(_ values: [RedisValue], now: Int64) -> BanRecord? {
        guard let until = values[0].integer, until > now, let reason = values[1].text, let offences = values[2].integer else { return nil }
        return BanRecord(until: until, reason: reason, offences: Int(offences))
    }
}
