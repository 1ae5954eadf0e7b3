/// Renders merged counters in the Prometheus text exposition format (version 0.0.4), family by
/// family in `MetricFamily` order, with names, types, help and label names from its declarations.
///
/// Why not swift-prometheus on the request path: its `Histogram.record` takes a lock shared by all
/// cores and its counters are atomics that bounce a cache line between loops on every request.
/// Palisade counts in plain per-loop integers and only formats text here, at scrape time.
enum PrometheusRenderer {
    struct ProcessValues: Sendable {
        var reloadsSucceeded = 0
        var reloadsFailed = 0
        var planGeneration = 0
        var draining = false
        var startTimeSeconds: Int64 = 0
        var version = ""
        /// Key sets fetched from JWKS URLs (the URL is the label: one per configured issuer).
        var jwks: [RemoteJWKS.Status] = []
        /// The shared store's usage and refusals (replay ids, idempotency records).
        var store = StoreStatistics()
        /// Security events written, by `SecurityEventType.index`.
        var securityEvents = [Int](repeating: 0, count: SecurityEventType.allCases.count)
        var accessLogDroppedLines = 0
        /// Alert webhook deliveries; nil without `alerts:`.
        var alerts: AlertSender.Counts?
    }

    static func render(_ s: StatsSnapshot, process: ProcessValues) -> String {
        var out = ""
        out.reserveCapacity(4096)
        for family in MetricFamily.allCases {
            let declaration = family.declaration
            let series = samples(of: family, s, process)
            if series.isEmpty && !declaration.listedWhenEmpty { continue }
            out += "# HELP \(declaration.name) \(declaration.help)\n# TYPE \(declaration.name) \(declaration.kind.rawValue)\n"
            for sample in series { write(sample, of: declaration, into: &out) }
        }
        return out
    }

    /// The values of one family; the compiler checks that every declared family has some.
    private static func samples(of family: MetricFamily, _ s: StatsSnapshot, _ process: ProcessValues) -> [MetricSample] {
        let routeNames = s.routes.keys.sorted()
        switch family {
        case .requests:
            return routeNames.flatMap { name in
                let counts = s.routes[name]!.requestsByStatus
                return counts.keys.sorted().map { MetricSample([name, String($0)], counts[$0]!) }
            }
        case .requestDuration:
            return routeNames.map { MetricSample([$0], s.routes[$0]!.duration.sample) }
        case .upstreamDuration:
            return routeNames.compactMap { name in
                let upstream = s.routes[name]!.upstream
                return upstream.count > 0 ? MetricSample([name], upstream.sample) : nil
            }
        case .rateLimited:
            // Derived from the guard decisions: counting it again on the request path would cost
            // every limited request a second increment.
            return routeNames.compactMap { name in
                let limited = s.routes[name]!.guardOutcomes.filter { $0.key.guardKind == "rate_limit" && $0.key.outcome == "rate_limited" }
                guard s.routes[name]!.guardOutcomes.keys.contains(where: { $0.guardKind == "rate_limit" }) else { return nil }
                return MetricSample([name], limited.values.reduce(0, +))
            }
        case .upstreamPoolIdle:
            return [MetricSample([], s.upstreamIdle)]
        case .upstreamOpened:
            return [MetricSample([], s.upstreamOpened)]
        case .upstreamReused:
            return [MetricSample([], s.upstreamReused)]
        case .bansActive:
            return process.store.banRecords.map { [MetricSample([], $0)] } ?? []
        case .securityEvents:
            return SecurityEventType.allCases.map { MetricSample([$0.rawValue], process.securityEvents[$0.index]) }
        case .alerts:
            guard let counts = process.alerts else { return [] }
            return [
                MetricSample(["sent"], counts.sent), MetricSample(["failed"], counts.failed), MetricSample(["dropped"], counts.dropped),
            ]
        case .logDropped:
            return [MetricSample(["access"], process.accessLogDroppedLines)]
        case .guardDecisions:
            return routeNames.flatMap { name in
                let outcomes = s.routes[name]!.guardOutcomes
                return outcomes.keys.sorted().map { key in
                    MetricSample([name, key.guardKind, key.outcome, key.detail], outcomes[key]!)
                }
            }
        case .rejections:
            return s.rejections.keys.sorted().map { MetricSample([$0], s.rejections[$0]!) }
        case .upstreamErrors:
            return s.upstreamErrors.keys.sorted().map { MetricSample([$0], s.upstreamErrors[$0]!) }
        case .connectionsActive:
            return [MetricSample([], s.activeConnections)]
        case .connectionsAccepted:
            return [MetricSample([], s.acceptedConnections)]
        case .connectionsLimited:
            return [MetricSample(["closed_idle"], s.connectionsClosedForLimit), MetricSample(["refused"], s.connectionsRefusedForLimit)]
        case .policyReloads:
            return [MetricSample(["success"], process.reloadsSucceeded), MetricSample(["failure"], process.reloadsFailed)]
        case .policyGeneration:
            return [MetricSample([], process.planGeneration)]
        case .draining:
            return [MetricSample([], process.draining ? 1 : 0)]
        case .storeBytes:
            return [MetricSample([], process.store.bytes)]
        case .storeMaxBytes:
            return [MetricSample([], process.store.maxBytes)]
        case .storeEntries:
            return [MetricSample([], process.store.entries)]
        case .storeRefusals:
            return [
                MetricSample(["store_full"], process.store.refusedFull),
                MetricSample(["store_client_limit"], process.store.refusedClientLimit),
                MetricSample(["commit_dropped"], process.store.commitsDropped),
            ]
        case .storeExpiredEvictions:
            return [MetricSample([], process.store.expiredEvicted)]
        case .storeUp:
            return process.store.backend.map { [MetricSample([], $0.up ? 1 : 0)] } ?? []
        case .storeErrors:
            guard let b = process.store.backend else { return [] }
            return [
                MetricSample(["connection"], b.connectionErrors), MetricSample(["down"], b.downErrors),
                MetricSample(["reply"], b.replyErrors), MetricSample(["timeout"], b.timeouts),
            ]
        case .storeRedirects:
            return process.store.backend.map { [MetricSample([], $0.redirects)] } ?? []
        case .storeDegradedAnswers:
            return process.store.backend.map { [MetricSample([$0.onErrorMode.rawValue], $0.degradedAnswers)] } ?? []
        case .storeOperationDuration:
            guard let b = process.store.backend else { return [] }
            let count = b.latencyBuckets.reduce(0, +)
            return [
                MetricSample(
                    [],
                    .histogram(
                        bounds: StoreBackendStatistics.latencyBoundsSeconds, buckets: b.latencyBuckets,
                        sum: Double(b.latencySumNanos) / 1e9, count: count))
            ]
        case .abuseStrikes:
            return [MetricSample([], AbuseCounters.shared.strikes.load(ordering: .relaxed))]
        case .abuseBans:
            return [MetricSample([], AbuseCounters.shared.bans.load(ordering: .relaxed))]
        case .abuseRefusals:
            return [
                MetricSample(["client_banned"], AbuseCounters.shared.bannedRefusals.load(ordering: .relaxed)),
                MetricSample(["client_denied"], AbuseCounters.shared.deniedRefusals.load(ordering: .relaxed)),
            ]
        case .jwksKeys:
            return process.jwks.map { MetricSample([$0.url], $0.keys) }
        case .jwksFetches:
            return process.jwks.flatMap {
                [MetricSample([$0.url, "success"], $0.successes), MetricSample([$0.url, "failure"], $0.failures)]
            }
        case .jwksAge:
            return process.jwks.compactMap { set in set.ageSeconds.map { MetricSample([set.url], $0) } }
        case .buildInfo:
            return [MetricSample([process.version], 1)]
        case .startTime:
            return [MetricSample([], process.startTimeSeconds)]
        }
    }

    private static func write(_ sample: MetricSample, of family: MetricFamily.Declaration, into out: inout String) {
        precondition(sample.labelValues.count == family.labels.count, "\(family.name): label values do not match the declaration")
        let labels = zip(family.labels, sample.labelValues).map { "\($0)=\"\(escape($1))\"" }
        switch sample.value {
        case .number(let value):
            out += family.name + braced(labels) + " " + value + "\n"
        case .histogram(let bounds, let buckets, let sum, let count):
            var cumulative = 0
            for (index, bound) in bounds.enumerated() {
                cumulative += buckets[index]
                out += "\(family.name)_bucket\(braced(labels + ["le=\"\(bound)\""])) \(cumulative)\n"
            }
            cumulative += buckets[bounds.count]
            out += "\(family.name)_bucket\(braced(labels + ["le=\"+Inf\""])) \(cumulative)\n"
            out += "\(family.name)_sum\(braced(labels)) \(sum)\n"
            out += "\(family.name)_count\(braced(labels)) \(count)\n"
        }
    }

    private static func braced(_ labels: [String]) -> String {
        labels.isEmpty ? "" : "{" + labels.joined(separator: ",") + "}"
    }

    static func escape(_ value: String) -> String {
        var result = ""
        for ch in value {
            switch ch {
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            case "\n": result += "\\n"
            default: result.append(ch)
            }
        }
        return result
    }
}
