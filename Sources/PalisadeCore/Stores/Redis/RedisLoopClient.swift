import NIOCore

/// Where a store's Redis is: one server, or the seed nodes of a Redis Cluster.
enum RedisTopology: Sendable, Equatable {
    case single(RedisEndpoint)
    case cluster(seeds: [RedisEndpoint])
}

/// The connections one operation used, so that a timeout can recycle exactly those.
final class RedisOperationTrace {
    var connections: [RedisConnection] = []
}

/// Everything one event loop uses to reach Redis: a pool per node, and for a Cluster the slot
/// map. Confined to its loop (found through a thread-specific variable of the store), so a guard's
/// operation never leaves its loop and takes no lock.
///
/// Cluster: the slot map comes from CLUSTER SLOTS, asked of the seeds (then of any known node) on
/// first use, again at most every `refreshInterval`, and again after every MOVED or failure to
/// reach a node (a failover moves its slots to a promoted replica). A MOVED answer
/// updates the slot at once and the command is sent again to the new owner; an ASK answer sends
/// ASKING and the command, pipelined on one connection, to the node importing the slot, leaving
/// the map alone (the slot is only half moved).
final class RedisLoopClient {
    let loop: any EventLoop
    let counters: RedisStoreCounters
    private let topology: RedisTopology
    private let settings: RedisConnectionSettings
    private let poolSize: Int
    private var pools: [RedisEndpoint: RedisNodePool] = [:]
    private var slots: [RedisEndpoint?]?
    private var refreshing: EventLoopFuture<Void>?
    private var lastRefresh = NIODeadline.distantPast
    static let refreshInterval = TimeAmount.seconds(30)
    static let maxRedirects = 5

    init(loop: any EventLoop, topology: RedisTopology, settings: RedisConnectionSettings, poolSize: Int, counters: RedisStoreCounters) {
        self.loop = loop
        self.topology = topology
        self.settings = settings
        self.poolSize = poolSize
        self.counters = counters
    }

    func pool(_ endpoint: RedisEndpoint) -> RedisNodePool {
        if let pool = pools[endpoint] { return pool }
        let pool = RedisNodePool(endpoint: endpoint, loop: loop, settings: settings, size: poolSize)
        pools[endpoint] = pool
        return pool
    }

    func closeAll() {
        for pool in pools.values { pool.closeAll() }
    }

    /// Sends one command about a key of `slot` to the node that serves it.
    func send(_ command: ByteBuffer, slot: Int, trace: RedisOperationTrace) -> EventLoopFuture<RedisValue> {
        switch topology {
        case .single(let endpoint):
            return send([command], to: endpoint, trace: trace).map { $0[0] }
        case .cluster:
            return withSlots().assumeIsolated().flatMap { _ in
                self.sendFollowingRedirects(command, slot: slot, trace: trace, redirects: 0)
            }.nonisolated()
        }
    }

    /// Sends `commands` pipelined to one node (SCAN pages, a batch of HMGETs).
    func send(_ commands: [ByteBuffer], to endpoint: RedisEndpoint, trace: RedisOperationTrace) -> EventLoopFuture<[RedisValue]> {
        let connection = pool(endpoint).connection()
        trace.connections.append(connection)
        return connection.send(commands)
    }

    /// Every node that serves a slot (a Cluster's masters), or the one server.
    func masters() -> EventLoopFuture<[RedisEndpoint]> {
        switch topology {
        case .single(let endpoint):
            return loop.makeSucceededFuture([endpoint])
        case .cluster:
            return withSlots().assumeIsolated().map { _ in
                var seen: [RedisEndpoint] = []
                for endpoint in self.slots ?? [] { if let endpoint, !seen.contains(endpoint) { seen.append(endpoint) } }
                return seen
            }.nonisolated()
        }
    }

    private func sendFollowingRedirects(
        _ command: ByteBuffer, slot: Int, trace: RedisOperationTrace, redirects: Int
    ) -> EventLoopFuture<RedisValue> {
        guard let endpoint = slots?[slot] ?? seeds.first else { return loop.makeFailedFuture(StoreUnavailable(.reply)) }
        let sent = send([command], to: endpoint, trace: trace).assumeIsolated().flatMapError { error -> EventLoopFuture<[RedisValue]> in
            // A node that cannot be reached may have failed over: read the map again now rather
            // than at the next periodic refresh.
            self.refreshSoon()
            return self.loop.makeFailedFuture(error)
        }
        return sent.flatMap { replies -> EventLoopFuture<RedisValue> in
            let reply = replies[0]
            guard case .error(let text) = reply, let redirect = RedisClusterSlots.redirect(text) else {
                return self.loop.makeSucceededFuture(reply)
            }
            self.counters.redirects.add(1, ordering: .relaxed)
            guard redirects < Self.maxRedirects else { return self.loop.makeFailedFuture(StoreUnavailable(.reply)) }
            switch redirect {
            case .moved(let movedSlot, let target):
                self.slots?[movedSlot] = target
                self.refreshSoon()
                return self.sendFollowingRedirects(command, slot: slot, trace: trace, redirects: redirects + 1)
            case .ask(_, let target):
                let asking = RedisCommandEncoder.encode([Array("ASKING".utf8)], allocator: ByteBufferAllocator())
                return self.send([asking, command], to: target, trace: trace).map { $0[1] }
            }
        }.nonisolated()
    }

    private var seeds: [RedisEndpoint] {
        switch topology {
        case .single(let endpoint): return [endpoint]
        case .cluster(let seeds): return seeds
        }
    }

    /// The slot map, read first if this loop has none; refreshed in the background when old.
    private func withSlots() -> EventLoopFuture<Void> {
        if slots != nil {
            if NIODeadline.now() - lastRefresh > Self.refreshInterval { refreshSoon() }
            return loop.makeSucceededVoidFuture()
        }
        return refresh()
    }

    private func refreshSoon() {
        if refreshing == nil { _ = refresh() }
    }

    /// Asks CLUSTER SLOTS of each known node in turn until one answers with a usable map.
    private func refresh() -> EventLoopFuture<Void> {
        if let refreshing { return refreshing }
        var candidates = seeds
        for endpoint in pools.keys where !candidates.contains(endpoint) { candidates.append(endpoint) }
        let promise = loop.makePromise(of: Void.self)
        refreshing = promise.futureResult
        lastRefresh = .now()
        ask(candidates[...], promise: promise)
        promise.futureResult.assumeIsolated().whenComplete { _ in self.refreshing = nil }
        return promise.futureResult
    }

    private func ask(_ candidates: ArraySlice<RedisEndpoint>, promise: EventLoopPromise<Void>) {
        guard let endpoint = candidates.first else {
            promise.fail(StoreUnavailable(slots == nil ? .connection : .reply))
            return
        }
        let command = RedisCommandEncoder.encode(["CLUSTER", "SLOTS"].map { Array($0.utf8) }, allocator: ByteBufferAllocator())
        send([command], to: endpoint, trace: RedisOperationTrace()).assumeIsolated().whenComplete { result in
            if case .success(let replies) = result, let map = RedisClusterSlots.parse(replies[0], askedOf: endpoint),
                map.contains(where: { $0 != nil })
            {
                self.slots = map
                promise.succeed(())
            } else {
                self.ask(candidates.dropFirst(), promise: promise)
            }
        }
    }
}

@available(*, unavailable)
extension RedisLoopClient: Sendable {}
