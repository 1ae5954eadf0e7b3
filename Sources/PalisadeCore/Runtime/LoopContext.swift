import NIOCore

/// What one event loop owns: the plan it serves, its upstream pool, its counters, its access-log
/// buffer and its request-id generator. Touched only from that loop, so nothing here needs a lock;
/// a new plan arrives through `eventLoop.execute`, Envoy's per-worker push.
final class LoopContext {
    let eventLoop: any EventLoop
    private(set) var plan: RuntimePlan
    private(set) var pool: UpstreamPool
    /// Counter handles aligned with `plan.routes.routes`, resolved when the plan is installed.
    private(set) var routeStats: [RouteStats]
    /// Stats for requests that matched no route (protocol errors, `default`).
    let unroutedStats: RouteStats
    let stats = LoopStats()
    let accessLog: AccessLogWriter
    var requestIDs = RequestIDGenerator()
    let allocator = ByteBufferAllocator()
    let jwtCache = JWTLoopCache()
    /// Guards' per-loop state (GuardRequest.loopSlot).
    let slots = LoopSlots()
    private var connections: [ObjectIdentifier: ExchangeHandler] = [:]
    private var sweepTask: RepeatedTask?
    private(set) var isDraining = false

    init(eventLoop: any EventLoop, plan: RuntimePlan, accessLogSink: any AccessLogSink, securityEvents: SecurityEventLog) {
        self.eventLoop = eventLoop
        self.plan = plan
        self.pool = UpstreamPool(target: plan.upstream, eventLoop: eventLoop)
        self.accessLog = AccessLogWriter(eventLoop: eventLoop, sink: accessLogSink, securityEvents: securityEvents)
        self.unroutedStats = stats.unroutedHandle()
        self.routeStats = []
        self.routeStats = plan.routes.routes.map { stats.handle(for: $0) }
    }

    /// Runs on this loop. In-flight exchanges keep the plan, route and pool they started with.
    func install(_ newPlan: RuntimePlan) {
        eventLoop.preconditionInEventLoop()
        if newPlan.upstream != pool.target {
            pool.shutDown()
            pool = UpstreamPool(target: newPlan.upstream, eventLoop: eventLoop)
        }
        routeStats = newPlan.routes.routes.map { stats.handle(for: $0) }
        plan = newPlan
        jwtCache.retain(onlyUsedBy: newPlan)
        slots.retain(onlyOwnedBy: newPlan.loopSlotOwners)
    }

    func register(_ connection: ExchangeHandler) {
        connections[ObjectIdentifier(connection)] = connection
        stats.activeConnections += 1
        stats.acceptedConnections += 1
        if sweepTask == nil { startSweeping() }
    }

    /// A connection arrived above `limits.max_connections`: close this loop's longest-idle
    /// connection; false when every connection here is busy, and the new one is to be refused.
    /// Runs before the new connection's handler is added, so it is never its own victim.
    /// O(connections on this loop), paid only above the limit.
    func makeRoom() -> Bool {
        var oldest: (handler: ExchangeHandler, since: NIODeadline)?
        for connection in connections.values {
            guard let since = connection.idleSince else { continue }
            if oldest == nil || since < oldest!.since { oldest = (connection, since) }
        }
        if let oldest {
            stats.connectionsClosedForLimit += 1
            oldest.handler.closeForConnectionLimit()
            return true
        }
        stats.connectionsRefusedForLimit += 1
        return false
    }

    func unregister(_ connection: ExchangeHandler) {
        if connections.removeValue(forKey: ObjectIdentifier(connection)) != nil {
            stats.activeConnections -= 1
        }
    }

    /// Timeouts are checked by one sweep per loop every 50 ms rather than a timer per request:
    /// arming and cancelling a scheduled task per request costs more than the whole rewrite of a head.
    private func startSweeping() {
        let interval = TimeAmount.milliseconds(50)
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        sweepTask = eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            bound.value.sweep()
        }
    }

    /// Wall-clock time of a monotonic instant, from an offset refreshed by each sweep: a request
    /// then costs one clock read instead of two, and a wall-clock step shows within 50 ms.
    func wallTime(at instant: NIODeadline) -> WallClock.Instant {
        WallClock.Instant(nanosecondsSinceEpoch: Int64(instant.uptimeNanoseconds) &+ wallOffset)
    }

    private var wallOffset = LoopContext.measureWallOffset()

    private static func measureWallOffset() -> Int64 {
        WallClock.now().nanosecondsSinceEpoch &- Int64(NIODeadline.now().uptimeNanoseconds)
    }

    private func sweep() {
        wallOffset = Self.measureWallOffset()
        guard !connections.isEmpty else { return }
        let now = NIODeadline.now()
        for connection in Array(connections.values) { connection.checkDeadlines(now: now) }
    }

    var jwtCacheSizes: JWTLoopCache.Sizes {
        let tokenCaches = slots.values(of: VerifiedTokens.self)
        return JWTLoopCache.Sizes(
            tokenCaches: tokenCaches.count, keySetCopies: jwtCache.keySetCopies,
            tokens: tokenCaches.reduce(0) { $0 + $1.count }
        )
    }

    func beginDraining() {
        isDraining = true
        pool.shutDown()
    }

    func stop() {
        sweepTask?.cancel()
        sweepTask = nil
        accessLog.writesImmediately = true
        accessLog.flush()
    }
}

@available(*, unavailable)
extension LoopContext: Sendable {}
