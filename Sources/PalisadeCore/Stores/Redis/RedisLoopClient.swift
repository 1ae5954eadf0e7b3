import NIOCore

/// Where a store's Redis is: one server, or the seed nodes of a Redis Cluster.
enum RedisTopology: Sendable, Equatable {
    case single(RedisEndpoint)
    case cluster(seeds: [RedisEndpoint])
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
    /// A loop's one command builder: guard operations are formatted one at a time on the loop.
    var builder = RedisCommandBuilder()
    /// This loop's rate-limit steps waiting for the turn's end, one script call per key.
    let rateLimits = RedisRateLimitCoalescer()
    /// How long an operation may wait for its answer (`store.redis.timeout`).
    let timeout: TimeAmount

    init(
        loop: any EventLoop, topology: RedisTopology, settings: RedisConnectionSettings, poolSize: Int, timeout: TimeAmount,
        counters: RedisStoreCounters
    ) {
        self.loop = loop
        self.timeout = timeout
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

    var isCluster: Bool {
        if case .cluster = topology { return true }
        return false
    }

    /// The slot an operation on `key` is routed by; a single server needs none (no CRC per operation).
    func slot(of key: RedisKey) -> Int { isCluster ? key.slot : 0 }

    /// The node that serves `slot`; nil only for a Cluster whose map this loop has not read.
    func endpoint(forSlot slot: Int) -> RedisEndpoint? {
        switch topology {
        case .single(let endpoint):
            return endpoint
        case .cluster(let seeds):
            guard let slots else { return nil }
            if NIODeadline.now() - lastRefresh > Self.refreshInterval { refreshSoon() }
            return slots[slot] ?? seeds.first
        }
    }

    /// A MOVED answer: the slot's new owner, at once (the full map is read again soon after).
    func noteMoved(slot: Int, to target: RedisEndpoint) {
        slots?[slot] = target
        refreshSoon()
    }

    /// Starts one operation's command on this loop.
    func run<Answer: Sendable>(
        _ command: ByteBuffer, slot: Int, script: RedisScript?, timeout: TimeAmount, decode: @escaping RedisOperation<Answer>.Decode
    ) -> EventLoopFuture<Answer> {
        let promise = loop.makePromise(of: Answer.self)
        RedisOperation(client: self, command: command, slot: slot, script: script, timeout: timeout, promise: promise, decode: decode)
            .start()
        return promise.futureResult
    }

    /// Sends `commands` pipelined to one node (SCAN pages, a batch of HMGETs).
    func send(_ commands: [ByteBuffer], to endpoint: RedisEndpoint) -> EventLoopFuture<[RedisValue]> {
        pool(endpoint).connection().send(commands)
    }

    // MARK: Deadlines

    /// One timer per loop for every operation's deadline, instead of one scheduled (and almost
    /// always cancelled) task per operation: armed for the earliest deadline, it fails what is
    /// overdue and re-arms for the next.
    private var sweep: Scheduled<Void>?
    private var sweepAt: NIODeadline?

    func armSweep(_ deadline: NIODeadline) {
        if let sweepAt, sweepAt <= deadline { return }
        sweep?.cancel()
        sweepAt = deadline
        sweep = loop.assumeIsolated().scheduleTask(deadline: deadline) { self.runSweep() }
    }

    private func runSweep() {
        sweep = nil
        sweepAt = nil
        let now = NIODeadline.now()
        var next: NIODeadline?
        var overdue: [RedisConnection] = []
        for pool in pools.values {
            for connection in pool.connections {
                let (expired, nextDeadline) = connection.expire(now: now)
                if expired { overdue.append(connection) }
                if let nextDeadline { next = min(next ?? nextDeadline, nextDeadline) }
            }
        }
        if !overdue.isEmpty {
            // A connection that has answered nothing for a whole timeout while commands wait is
            // wedged: start it afresh. One that is only behind (replies still flowing) is kept, or
            // one slow answer would fail every command pipelined behind it. Decided a moment
            // later, once the loop has read what arrived: a loop that was itself busy past the
            // timeout (a CPU stall) has replies waiting in the socket, not a wedged server.
            let limit = timeout
            loop.assumeIsolated().scheduleTask(in: .milliseconds(1)) {
                for connection in overdue where connection.isWedged(after: limit) { connection.recycle() }
            }
        }
        if let next { armSweep(next) }
    }

    /// Every node that serves a slot (a Cluster's masters), or the one server.
    func masters() -> EventLoopFuture<[RedisEndpoint]> {
        switch topology {
        case .single(let endpoint):
            return loop.makeSucceededFuture([endpoint])
        case .cluster:
            return slotMap().assumeIsolated().map { _ in
                var seen: [RedisEndpoint] = []
                for endpoint in self.slots ?? [] { if let endpoint, !seen.contains(endpoint) { seen.append(endpoint) } }
                return seen
            }.nonisolated()
        }
    }

    private var seeds: [RedisEndpoint] {
        switch topology {
        case .single(let endpoint): return [endpoint]
        case .cluster(let seeds): return seeds
        }
    }

    /// The slot map, read first if this loop has none; refreshed in the background when old.
    func slotMap() -> EventLoopFuture<Void> {
        if slots != nil {
            if NIODeadline.now() - lastRefresh > Self.refreshInterval { refreshSoon() }
            return loop.makeSucceededVoidFuture()
        }
        return refresh()
    }

    func refreshSoon() {
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
        let command = RedisCommandBuilder.encode(["CLUSTER", "SLOTS"])
        send([command], to: endpoint).assumeIsolated().whenComplete { result in
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
