import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOExtras
import NIOPosix

/// Owns the event loops, the listeners and the plan in force. Requests never touch this object:
/// each loop serves from its own `LoopContext`; this type only publishes plans to them, answers
/// the admin listener and drains on shutdown.
public final class ProxyRuntime: Sendable {
    public let group: MultiThreadedEventLoopGroup
    private let ownsGroup: Bool
    private let contexts: [ObjectIdentifier: NIOLoopBound<LoopContext>]
    private let state: NIOLockedValueBox<RuntimeState>
    /// Released inside `drainAndStop`: its deinit touches an event loop, so it must go before the loops do.
    private let quiescing: NIOLockedValueBox<ServerQuiescingHelper?>
    private let connectionLimiter = ConnectionLimiter()
    let logger: Logger
    let accessLogSink: any AccessLogSink
    /// This runtime's security events (bans, unbans, reloads): written to the access sink.
    public let securityEvents: SecurityEventLog

    struct RuntimeState: Sendable {
        var plan: RuntimePlan
        var reloadsSucceeded = 0
        var reloadsFailed = 0
        var draining = false
        var serverChannel: (any Channel)?
        var adminChannel: (any Channel)?
        var startTimeSeconds: Int64 = WallClock.now().seconds
    }

    /// The addresses actually bound (port 0 in the policy becomes a real port here).
    public struct BoundAddresses: Sendable {
        public var proxy: SocketAddress
        public var admin: SocketAddress?
        public var proxyPort: Int { proxy.port ?? 0 }
        public var adminPort: Int? { admin?.port }
    }

    public static func make(
        plan: RuntimePlan,
        threads: Int = System.coreCount,
        group: MultiThreadedEventLoopGroup? = nil,
        logger: Logger,
        accessLogSink: any AccessLogSink = FileDescriptorSink.stdout
    ) async throws -> ProxyRuntime {
        let securityEvents = SecurityEventLog(sink: accessLogSink)
        plan.remoteKeys.securityEvents.withLock { $0 = securityEvents }
        (plan.store as? ResilientStore)?.securityEvents.withLock { $0 = securityEvents }
        securityEvents.configureAlerts(plan.policy.alerts, secret: plan.alertSecret)
        let eventLoopGroup = group ?? MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        plan.remoteKeys.activate(only: plan.usedRemoteKeys)
        var contexts: [ObjectIdentifier: NIOLoopBound<LoopContext>] = [:]
        for loop in eventLoopGroup.makeIterator() {
            let bound = try await loop.submit {
                NIOLoopBound(
                    LoopContext(eventLoop: loop, plan: plan, accessLogSink: accessLogSink, securityEvents: securityEvents), eventLoop: loop)
            }.get()
            contexts[ObjectIdentifier(loop)] = bound
        }
        return ProxyRuntime(
            group: eventLoopGroup, ownsGroup: group == nil, contexts: contexts, plan: plan, logger: logger, accessLogSink: accessLogSink,
            securityEvents: securityEvents)
    }

    private init(
        group: MultiThreadedEventLoopGroup,
        ownsGroup: Bool,
        contexts: [ObjectIdentifier: NIOLoopBound<LoopContext>],
        plan: RuntimePlan,
        logger: Logger,
        accessLogSink: any AccessLogSink,
        securityEvents: SecurityEventLog
    ) {
        self.accessLogSink = accessLogSink
        self.securityEvents = securityEvents
        self.group = group
        self.ownsGroup = ownsGroup
        self.contexts = contexts
        self.state = NIOLockedValueBox(RuntimeState(plan: plan))
        self.quiescing = NIOLockedValueBox(ServerQuiescingHelper(group: group))
        self.logger = logger
    }

    public var currentPlan: RuntimePlan { state.withLockedValue { $0.plan } }
    public var isDraining: Bool { state.withLockedValue { $0.draining } }

    /// Binds the proxy and admin listeners from the current plan.
    public func start() async throws -> BoundAddresses {
        let plan = currentPlan
        let contexts = self.contexts
        let limiter = connectionLimiter
        guard let quiescing = self.quiescing.withLockedValue({ $0 }) else { throw ChannelError.ioOnClosedChannel }
        let server = try await ListenFailure.naming("listen", plan.policy.listen) {
            try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 1024)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(AcceptPauseHandler())
                        try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                    }
                }
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.maxMessagesPerRead, value: 16)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        guard let loop = contexts[ObjectIdentifier(channel.eventLoop)] else {
                            throw ChannelError.ioOnClosedChannel
                        }
                        if limiter.admit(channel, limit: loop.value.plan.limits.maxConnections) {
                            // Thrown, the accept handler closes the new connection.
                            guard loop.value.makeRoom() else { throw ConnectionLimiter.Refused() }
                        }
                        try ClientPipeline.configure(channel: channel, loop: loop.value)
                    }
                }
                .bind(host: plan.policy.listen.host, port: plan.policy.listen.port)
                .get()
        }
        var admin: (any Channel)?
        if let adminSpec = plan.policy.admin {
            do {
                admin = try await ListenFailure.naming("admin.listen", adminSpec.listen) {
                    try await AdminServer.bind(runtime: self, host: adminSpec.listen.host, port: adminSpec.listen.port)
                }
            } catch {
                try? await server.close()
                throw error
            }
        }
        state.withLockedValue {
            $0.serverChannel = server
            $0.adminChannel = admin
        }
        logger.info(
            "palisade listening",
            metadata: [
                "proxy": "\(server.localAddress.map(ListenFailure.display) ?? "?")",
                "admin": "\(admin?.localAddress.map(ListenFailure.display) ?? "off")",
                "upstream": "\(plan.policy.upstream.url)",
                "policy": "\(plan.sourceFile)",
                "policy_digest": "\(plan.policy.digest)",
                "routes": "\(plan.routes.routes.count)",
                "guards": "\(Self.guardSummary(plan))",
                "store": "\(plan.policy.storeKind.rawValue)",
                "event_loops": "\(contexts.count)",
            ]
        )
        guard let proxyAddress = server.localAddress else { throw ChannelError.ioOnClosedChannel }
        return BoundAddresses(proxy: proxyAddress, admin: admin?.localAddress)
    }

    /// `hmac×2 jwt×1 rate_limit×3`: how many guards of each kind the routes (and `abuse:`) use.
    static func guardSummary(_ plan: RuntimePlan) -> String {
        var counts: [String: Int] = [:]
        for route in plan.routes.routes { for guardItem in route.guards { counts[guardItem.kind, default: 0] += 1 } }
        for guardItem in plan.admitGuards { counts[guardItem.kind, default: 0] += 1 }
        return counts.keys.sorted().map { "\($0)×\(counts[$0]!)" }.joined(separator: " ")
    }

    /// Publishes a new plan to every loop. Requests already in flight keep the plan they started with.
    public func apply(_ plan: RuntimePlan) {
        let (changedListen, previousStore) = state.withLockedValue { current -> (Bool, any StateStore) in
            let changed =
                current.plan.policy.listen != plan.policy.listen
                || current.plan.policy.admin?.listen != plan.policy.admin?.listen
            let previous = current.plan.store
            current.plan = plan
            current.reloadsSucceeded += 1
            return (changed, previous)
        }
        // A Redis store replaced by a reload (its store: section changed) closes its connections;
        // requests still in flight on it fail over to its on_error answer.
        if let retired = previousStore as? ResilientStore, retired !== plan.store {
            Task { await retired.primary.shutdown() }
        }
        if changedListen {
            logger.warning("listen or admin.listen changed; the new addresses take effect after a restart")
        }
        plan.remoteKeys.activate(only: plan.usedRemoteKeys)
        (plan.store as? ResilientStore)?.securityEvents.withLock { $0 = securityEvents }
        securityEvents.configureAlerts(plan.policy.alerts, secret: plan.alertSecret)
        // The store outlives the plan that made it; its limits follow the policy in force.
        plan.store.apply(plan.policy.storeLimits)
        for bound in contexts.values {
            bound.eventLoop.execute { bound.value.install(plan) }
        }
    }

    public func recordFailedReload() {
        state.withLockedValue { $0.reloadsFailed += 1 }
    }

    /// Loads the policy file again; on any error the plan in force stays and the failure is counted.
    @discardableResult
    public func reload(path: String) -> Result<RuntimePlan, PolicyLoadError> {
        let generation = currentPlan.generation + 1
        do {
            let current = currentPlan
            let (plan, warnings) = try PlanCompiler.load(
                path: path, generation: generation, store: current.store, localStore: current.localStore, remoteKeys: current.remoteKeys,
                extensions: current.extensions
            )
            for warning in warnings { logger.warning("policy warning", metadata: ["diagnostic": "\(warning)"]) }
            apply(plan)
            logger.info(
                "policy reloaded", metadata: ["policy": "\(path)", "generation": "\(generation)", "policy_digest": "\(plan.policy.digest)"])
            var event = SecurityEvent(type: .policyReload, reason: "applied")
            event.details = [("generation", String(generation)), ("digest", plan.policy.digest)]
            securityEvents.record(event)
            return .success(plan)
        } catch let error as PolicyLoadError {
            recordFailedReload()
            securityEvents.record(SecurityEvent(type: .policyReload, reason: "refused"))
            for diagnostic in error.diagnostics {
                logger.error("policy reload refused; the previous policy stays", metadata: ["diagnostic": "\(diagnostic)"])
            }
            return .failure(error)
        } catch {
            recordFailedReload()
            let diagnostic = PolicyDiagnostic(
                severity: .error, file: path, position: SourcePosition(line: 1, column: 1, keyPath: ""),
                message: "\(error)"
            )
            securityEvents.record(SecurityEvent(type: .policyReload, reason: "refused"))
            logger.error("policy reload refused; the previous policy stays", metadata: ["diagnostic": "\(diagnostic)"])
            return .failure(PolicyLoadError(diagnostics: [diagnostic]))
        }
    }

    /// What each loop's JWT cache holds now (tests: it must not grow with reloads).
    func jwtCacheSizes() async throws -> [JWTLoopCache.Sizes] {
        var sizes: [JWTLoopCache.Sizes] = []
        for bound in contexts.values {
            sizes.append(try await bound.eventLoop.submit { bound.value.jwtCacheSizes }.get())
        }
        return sizes
    }

    /// Hands every loop's pending access lines to the sink now rather than at the end of the tick.
    /// Once it returns, every exchange completed before the call is in the sink (tests read the
    /// log at that point instead of sleeping).
    public func flushAccessLogs() async {
        for bound in contexts.values {
            _ = try? await bound.eventLoop.submit { bound.value.accessLog.flush() }.get()
        }
    }

    /// Gathers every loop's counters (each copied on its own loop) and renders them.
    func metricsText() async -> String {
        var merged = StatsSnapshot()
        for bound in contexts.values {
            let snapshot = try? await bound.eventLoop.submit {
                var snapshot = bound.value.stats.snapshot()
                snapshot.upstreamIdle = bound.value.pool.idleCount
                snapshot.securityEvents = bound.value.accessLog.securityCounts
                return snapshot
            }.get()
            if let snapshot {
                merged.merge(snapshot)
            }
        }
        var process = state.withLockedValue { s in
            PrometheusRenderer.ProcessValues(
                reloadsSucceeded: s.reloadsSucceeded,
                reloadsFailed: s.reloadsFailed,
                planGeneration: s.plan.generation,
                draining: s.draining,
                startTimeSeconds: s.startTimeSeconds,
                version: PalisadeVersion.current
            )
        }
        let plan = currentPlan
        let usedURLs = Set(plan.usedRemoteKeys.map(\.url))
        process.jwks = plan.remoteKeys.statuses.filter { usedURLs.contains($0.url) }
        process.store = plan.store.statistics
        process.securityEvents = zip(securityEvents.snapshot, merged.securityEvents).map { $0 + $1 }
        process.alerts = securityEvents.alerts.withLock { $0 }?.counts
        process.accessLogDroppedLines = accessLogSink.droppedLines
        return PrometheusRenderer.render(merged, process: process)
    }

    /// SIGTERM: readiness goes false, no new connections, in-flight requests finish (each
    /// connection closes after its current response), then everything stops at `drain_timeout`.
    public func drainAndStop() async {
        let (alreadyDraining, server, admin, timeout) = state.withLockedValue { s in
            let was = s.draining
            s.draining = true
            return (was, s.serverChannel, s.adminChannel, s.plan.limits.drainTimeout)
        }
        guard !alreadyDraining else { return }
        logger.info("draining", metadata: ["deadline_seconds": "\(timeout.nanoseconds / 1_000_000_000)"])
        for bound in contexts.values {
            bound.eventLoop.execute { bound.value.beginDraining() }
        }
        if server != nil {
            let loop = group.next()
            let drained = loop.makePromise(of: Void.self)
            let finished = loop.makePromise(of: Void.self)
            quiescing.withLockedValue { $0 }?.initiateShutdown(promise: drained)
            drained.futureResult.whenComplete { _ in finished.succeed() }
            let deadline = loop.scheduleTask(in: timeout) { finished.succeed() }
            _ = try? await finished.futureResult.get()
            deadline.cancel()
        }
        try? await admin?.close()
        currentPlan.remoteKeys.stopAll()
        quiescing.withLockedValue { $0 = nil }
        for bound in contexts.values {
            try? await bound.eventLoop.submit { bound.value.stop() }.get()
        }
        securityEvents.alerts.withLock { $0 }?.shutdown()
        // The last lines are queued; give the log thread a moment to write them out.
        (accessLogSink as? FileDescriptorSink)?.drain()
        logger.info("stopped")
        if ownsGroup { try? await group.shutdownGracefully() }
    }
}
