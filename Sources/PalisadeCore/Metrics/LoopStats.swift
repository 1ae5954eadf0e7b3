/// Counters for one route on one event loop. Plain integers touched only by that loop: no atomics,
/// no lock, no shared cache line on the request path. `/metrics` merges every loop's copy.
final class RouteStats {
    static let durationBoundsSeconds: [Double] = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    ]
    private static let durationBoundsNanos: [Int64] = durationBoundsSeconds.map { Int64($0 * 1e9) }

    /// Indexed by status code (100...599).
    var requestsByStatus = [Int](repeating: 0, count: 600)
    /// Cumulative-free bucket counts; the last slot is +Inf.
    var durationBuckets = [Int](repeating: 0, count: durationBoundsSeconds.count + 1)
    var durationSumNanos: Int64 = 0
    var durationCount = 0
    /// "kind\u{0}outcome" -> count; outcomes are rejection codes or "ok"/"reported:<code>".
    var guardOutcomes: [GuardOutcomeKey: Int] = [:]

    /// Counts each guard's decision; a report-only refusal is counted as `reported:CODE`.
    func record(guardNotes: [GuardNote]) {
        for note in guardNotes {
            let outcome = note.reportOnly ? "reported:\(note.outcome)" : note.outcome
            guardOutcomes[GuardOutcomeKey(guardKind: note.guardKind, outcome: outcome, detail: note.detail ?? ""), default: 0] += 1
        }
    }

    func record(status: Int, durationNanos: Int64) {
        if status >= 100 && status < 600 { requestsByStatus[status] &+= 1 }
        var bucket = 0
        let bounds = Self.durationBoundsNanos
        while bucket < bounds.count && durationNanos > bounds[bucket] { bucket += 1 }
        durationBuckets[bucket] &+= 1
        durationSumNanos &+= durationNanos
        durationCount &+= 1
    }
}

struct GuardOutcomeKey: Hashable, Sendable {
    var guardKind: String
    var outcome: String
    /// Non-secret detail from the guard (which secret of a rotation matched), or "".
    var detail: String = ""
}

/// Everything one event loop counts. Only its own loop touches it.
final class LoopStats {
    private(set) var routes: [String: RouteStats] = [:]
    var upstreamErrors: [String: Int] = [:]
    var activeConnections = 0
    var acceptedConnections = 0
    /// Idle connections closed, and new ones refused, because `limits.max_connections` was reached.
    var connectionsClosedForLimit = 0
    var connectionsRefusedForLimit = 0
    var rejections: [String: Int] = [:]

    /// The stats object for a route name, kept across reloads so counters never reset while the process lives.
    func route(named name: String) -> RouteStats {
        if let existing = routes[name] { return existing }
        let created = RouteStats()
        routes[name] = created
        return created
    }

    func snapshot() -> StatsSnapshot {
        var snapshot = StatsSnapshot()
        for (name, stats) in routes {
            var route = StatsSnapshot.Route()
            for status in 100..<600 where stats.requestsByStatus[status] > 0 {
                route.requestsByStatus[status] = stats.requestsByStatus[status]
            }
            route.durationBuckets = stats.durationBuckets
            route.durationSumNanos = stats.durationSumNanos
            route.durationCount = stats.durationCount
            route.guardOutcomes = stats.guardOutcomes
            snapshot.routes[name] = route
        }
        snapshot.upstreamErrors = upstreamErrors
        snapshot.activeConnections = activeConnections
        snapshot.acceptedConnections = acceptedConnections
        snapshot.connectionsClosedForLimit = connectionsClosedForLimit
        snapshot.connectionsRefusedForLimit = connectionsRefusedForLimit
        snapshot.rejections = rejections
        return snapshot
    }
}

/// A copy of one or more loops' counters, safe to carry to the admin listener's loop.
struct StatsSnapshot: Sendable {
    struct Route: Sendable {
        var requestsByStatus: [Int: Int] = [:]
        var durationBuckets = [Int](repeating: 0, count: RouteStats.durationBoundsSeconds.count + 1)
        var durationSumNanos: Int64 = 0
        var durationCount = 0
        var guardOutcomes: [GuardOutcomeKey: Int] = [:]
    }

    var routes: [String: Route] = [:]
    var upstreamErrors: [String: Int] = [:]
    var activeConnections = 0
    var acceptedConnections = 0
    var connectionsClosedForLimit = 0
    var connectionsRefusedForLimit = 0
    var rejections: [String: Int] = [:]

    mutating func merge(_ other: StatsSnapshot) {
        for (name, route) in other.routes {
            var mine = routes[name] ?? Route()
            mine.requestsByStatus.merge(route.requestsByStatus, uniquingKeysWith: +)
            for i in mine.durationBuckets.indices { mine.durationBuckets[i] += route.durationBuckets[i] }
            mine.durationSumNanos += route.durationSumNanos
            mine.durationCount += route.durationCount
            mine.guardOutcomes.merge(route.guardOutcomes, uniquingKeysWith: +)
            routes[name] = mine
        }
        upstreamErrors.merge(other.upstreamErrors, uniquingKeysWith: +)
        activeConnections += other.activeConnections
        acceptedConnections += other.acceptedConnections
        connectionsClosedForLimit += other.connectionsClosedForLimit
        connectionsRefusedForLimit += other.connectionsRefusedForLimit
        rejections.merge(other.rejections, uniquingKeysWith: +)
    }
}
