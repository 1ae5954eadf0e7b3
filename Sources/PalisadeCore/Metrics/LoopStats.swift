/// Everything one event loop counts. Only its own loop touches it. The request path reaches its
/// counters through handles (`RouteStats`) resolved when a plan is installed, and through
/// `count(rejection:)` and `count(upstreamFailure:)`, which neither hash nor allocate.
final class LoopStats {
    /// By route name: counts outlive reloads while the process lives. Looked up only at install.
    private var routes: [String: RouteCounters] = [:]
    private var guards: [GuardSlot: GuardOutcomeCounters] = [:]
    private var upstreamErrors = [Int](repeating: 0, count: ProxyFailure.allCases.count)
    /// Refusal codes are short constants from a fixed list; a scan finds one without hashing it.
    private var rejections: [(code: String, count: Int)] = []
    var activeConnections = 0
    var acceptedConnections = 0
    /// Idle connections closed, and new ones refused, because `limits.max_connections` was reached.
    var connectionsClosedForLimit = 0
    var connectionsRefusedForLimit = 0
    /// Connections to the app opened, and requests sent on a pooled one.
    var upstreamOpened = 0
    var upstreamReused = 0

    /// Which counters one guard of a route keeps: its kind and its position among the route's
    /// guards of that kind, so reordering other guards on reload keeps them.
    private struct GuardSlot: Hashable {
        var route: String
        var guardKind: String
        var ordinal: Int
    }

    /// The handle a request of `route` counts through on this loop; runs when a plan is installed.
    func handle(for route: CompiledRoute) -> RouteStats {
        var seen: [String: Int] = [:]
        let guardCounters = route.guards.map { guardItem -> GuardOutcomeCounters in
            let kind = guardItem.kind
            let ordinal = seen[kind, default: 0]
            seen[kind] = ordinal + 1
            let details = (guardItem as? any CountedGuardDetails)?.countedDetails ?? []
            let slot = GuardSlot(route: route.name, guardKind: kind, ordinal: ordinal)
            if let existing = guards[slot] {
                existing.adopt(countedDetails: details)
                return existing
            }
            let created = GuardOutcomeCounters(guardKind: kind, countedDetails: details)
            guards[slot] = created
            return created
        }
        return RouteStats(counters: counters(forRoute: route.name), guards: guardCounters)
    }

    /// Requests that matched no route (protocol errors, `default`), counted as route `_unrouted`.
    func unroutedHandle() -> RouteStats {
        RouteStats(counters: counters(forRoute: "_unrouted"), guards: [])
    }

    private func counters(forRoute name: String) -> RouteCounters {
        if let existing = routes[name] { return existing }
        let created = RouteCounters()
        routes[name] = created
        return created
    }

    func count(rejection code: RejectionCode) {
        let name = code.code
        for index in rejections.indices where rejections[index].code == name {
            rejections[index].count &+= 1
            return
        }
        rejections.append((name, 1))
    }

    func count(upstreamFailure failure: ProxyFailure) {
        upstreamErrors[failure.counterIndex] &+= 1
    }

    func snapshot() -> StatsSnapshot {
        var snapshot = StatsSnapshot()
        for (name, counters) in routes {
            var route = StatsSnapshot.Route()
            for status in 100..<600 where counters.requestsByStatus[status] > 0 {
                route.requestsByStatus[status] = counters.requestsByStatus[status]
            }
            route.duration = counters.duration
            route.upstream = counters.upstream
            snapshot.routes[name] = route
        }
        for (slot, counters) in guards {
            counters.addCounts(into: &snapshot.routes[slot.route, default: StatsSnapshot.Route()].guardOutcomes)
        }
        for failure in ProxyFailure.allCases where upstreamErrors[failure.counterIndex] > 0 {
            snapshot.upstreamErrors[failure.metricLabel] = upstreamErrors[failure.counterIndex]
        }
        for entry in rejections { snapshot.rejections[entry.code, default: 0] += entry.count }
        snapshot.activeConnections = activeConnections
        snapshot.acceptedConnections = acceptedConnections
        snapshot.connectionsClosedForLimit = connectionsClosedForLimit
        snapshot.connectionsRefusedForLimit = connectionsRefusedForLimit
        snapshot.upstreamOpened = upstreamOpened
        snapshot.upstreamReused = upstreamReused
        return snapshot
    }
}

extension ProxyFailure {
    /// Position in `allCases`, for counters kept in an array.
    var counterIndex: Int {
        switch self {
        case .connectFailed: 0
        case .connectTimeout: 1
        case .responseTimeout: 2
        case .connectionLost: 3
        case .protocolError: 4
        }
    }
}

/// A copy of one or more loops' counters, safe to carry to the admin listener's loop.
struct StatsSnapshot: Sendable {
    struct Route: Sendable {
        var requestsByStatus: [Int: Int] = [:]
        var duration = DurationHistogram()
        var upstream = DurationHistogram()
        var guardOutcomes: [GuardOutcomeKey: Int] = [:]
    }

    var routes: [String: Route] = [:]
    var upstreamErrors: [String: Int] = [:]
    var activeConnections = 0
    var acceptedConnections = 0
    var connectionsClosedForLimit = 0
    var connectionsRefusedForLimit = 0
    var rejections: [String: Int] = [:]
    var upstreamOpened = 0
    var upstreamReused = 0
    var upstreamIdle = 0
    /// Security events written by the loops' access-log writers, by `SecurityEventType.index`.
    var securityEvents = [Int](repeating: 0, count: SecurityEventType.allCases.count)

    mutating func merge(_ other: StatsSnapshot) {
        for (name, route) in other.routes {
            var mine = routes[name] ?? Route()
            mine.requestsByStatus.merge(route.requestsByStatus, uniquingKeysWith: +)
            mine.duration.merge(route.duration)
            mine.upstream.merge(route.upstream)
            mine.guardOutcomes.merge(route.guardOutcomes, uniquingKeysWith: +)
            routes[name] = mine
        }
        upstreamErrors.merge(other.upstreamErrors, uniquingKeysWith: +)
        activeConnections += other.activeConnections
        acceptedConnections += other.acceptedConnections
        connectionsClosedForLimit += other.connectionsClosedForLimit
        connectionsRefusedForLimit += other.connectionsRefusedForLimit
        upstreamOpened += other.upstreamOpened
        upstreamReused += other.upstreamReused
        upstreamIdle += other.upstreamIdle
        for index in securityEvents.indices { securityEvents[index] += other.securityEvents[index] }
        rejections.merge(other.rejections, uniquingKeysWith: +)
    }
}
