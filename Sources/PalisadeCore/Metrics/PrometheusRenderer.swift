/// Renders merged counters in the Prometheus text exposition format (version 0.0.4).
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
    }

    static func render(_ s: StatsSnapshot, process: ProcessValues) -> String {
        var out = ""
        out.reserveCapacity(4096)
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        family("palisade_requests_total", "counter", "Requests answered, by route and status code.")
        for name in s.routes.keys.sorted() {
            let route = s.routes[name]!
            for status in route.requestsByStatus.keys.sorted() {
                out += "palisade_requests_total{route=\"\(escape(name))\",status=\"\(status)\"} \(route.requestsByStatus[status]!)\n"
            }
        }
        family("palisade_request_duration_seconds", "histogram", "Time from request head to the end of the response.")
        for name in s.routes.keys.sorted() {
            let route = s.routes[name]!
            var cumulative = 0
            for (index, bound) in RouteStats.durationBoundsSeconds.enumerated() {
                cumulative += route.durationBuckets[index]
                out += "palisade_request_duration_seconds_bucket{route=\"\(escape(name))\",le=\"\(bound)\"} \(cumulative)\n"
            }
            cumulative += route.durationBuckets[RouteStats.durationBoundsSeconds.count]
            out += "palisade_request_duration_seconds_bucket{route=\"\(escape(name))\",le=\"+Inf\"} \(cumulative)\n"
            out += "palisade_request_duration_seconds_sum{route=\"\(escape(name))\"} \(Double(route.durationSumNanos) / 1e9)\n"
            out += "palisade_request_duration_seconds_count{route=\"\(escape(name))\"} \(route.durationCount)\n"
        }
        family(
            "palisade_guard_decisions_total", "counter",
            "Guard decisions by route, guard kind and outcome; detail names the secret of a rotation that matched."
        )
        for name in s.routes.keys.sorted() {
            let outcomes = s.routes[name]!.guardOutcomes
            for key in outcomes.keys.sorted(by: { ($0.guardKind, $0.outcome, $0.detail) < ($1.guardKind, $1.outcome, $1.detail) }) {
                out += "palisade_guard_decisions_total{route=\"\(escape(name))\",guard=\"\(escape(key.guardKind))\",outcome=\"\(escape(key.outcome))\",detail=\"\(escape(key.detail))\"} \(outcomes[key]!)\n"
            }
        }
        family("palisade_rejections_total", "counter", "Requests refused by Palisade itself, by error code.")
        for code in s.rejections.keys.sorted() {
            out += "palisade_rejections_total{code=\"\(escape(code))\"} \(s.rejections[code]!)\n"
        }
        family("palisade_upstream_errors_total", "counter", "Failures talking to the app, by kind.")
        for kind in s.upstreamErrors.keys.sorted() {
            out += "palisade_upstream_errors_total{kind=\"\(escape(kind))\"} \(s.upstreamErrors[kind]!)\n"
        }
        family("palisade_connections_active", "gauge", "Client connections open now.")
        out += "palisade_connections_active \(s.activeConnections)\n"
        family("palisade_connections_accepted_total", "counter", "Client connections accepted.")
        out += "palisade_connections_accepted_total \(s.acceptedConnections)\n"
        family(
            "palisade_connections_limited_total", "counter",
            "Client connections closed while idle, or refused, because limits.max_connections was reached."
        )
        out += "palisade_connections_limited_total{action=\"closed_idle\"} \(s.connectionsClosedForLimit)\n"
        out += "palisade_connections_limited_total{action=\"refused\"} \(s.connectionsRefusedForLimit)\n"
        family("palisade_policy_reloads_total", "counter", "Policy reloads by result.")
        out += "palisade_policy_reloads_total{result=\"success\"} \(process.reloadsSucceeded)\n"
        out += "palisade_policy_reloads_total{result=\"failure\"} \(process.reloadsFailed)\n"
        family("palisade_policy_generation", "gauge", "Generation of the policy in force (1 at start, +1 per successful reload).")
        out += "palisade_policy_generation \(process.planGeneration)\n"
        family("palisade_draining", "gauge", "1 while shutting down.")
        out += "palisade_draining \(process.draining ? 1 : 0)\n"
        family("palisade_store_bytes", "gauge", "Bytes the store charges against store.max_bytes now (an estimate per entry).")
        out += "palisade_store_bytes \(process.store.bytes)\n"
        family("palisade_store_max_bytes", "gauge", "The store's byte budget, store.max_bytes.")
        out += "palisade_store_max_bytes \(process.store.maxBytes)\n"
        family("palisade_store_entries", "gauge", "Replay ids and idempotency keys the store holds now.")
        out += "palisade_store_entries \(process.store.entries)\n"
        family(
            "palisade_store_refusals_total", "counter",
            "Keys the store would not hold: budget spent (store_full), client at its cap (store_client_limit), answer not kept (commit_dropped)."
        )
        out += "palisade_store_refusals_total{reason=\"store_full\"} \(process.store.refusedFull)\n"
        out += "palisade_store_refusals_total{reason=\"store_client_limit\"} \(process.store.refusedClientLimit)\n"
        out += "palisade_store_refusals_total{reason=\"commit_dropped\"} \(process.store.commitsDropped)\n"
        family("palisade_store_expired_evictions_total", "counter", "Expired entries removed from the store.")
        out += "palisade_store_expired_evictions_total \(process.store.expiredEvicted)\n"
        if !process.jwks.isEmpty {
            family("palisade_jwks_keys", "gauge", "Usable keys in the set last fetched from a JWKS URL (0 until one fetch succeeds).")
            for set in process.jwks { out += "palisade_jwks_keys{url=\"\(escape(set.url))\"} \(set.keys)\n" }
            family("palisade_jwks_fetches_total", "counter", "Fetches of a JWKS URL by result; a failure keeps the last good set.")
            for set in process.jwks {
                out += "palisade_jwks_fetches_total{url=\"\(escape(set.url))\",result=\"success\"} \(set.successes)\n"
                out += "palisade_jwks_fetches_total{url=\"\(escape(set.url))\",result=\"failure\"} \(set.failures)\n"
            }
            family("palisade_jwks_age_seconds", "gauge", "Seconds since the key set in use was fetched.")
            for set in process.jwks {
                if let age = set.ageSeconds { out += "palisade_jwks_age_seconds{url=\"\(escape(set.url))\"} \(age)\n" }
            }
        }
        family("palisade_build_info", "gauge", "Palisade version.")
        out += "palisade_build_info{version=\"\(escape(process.version))\"} 1\n"
        family("palisade_start_time_seconds", "gauge", "Start time of the process since the Unix epoch.")
        out += "palisade_start_time_seconds \(process.startTimeSeconds)\n"
        return out
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
