/// Every metric family Palisade exports, declared once: its name, type, help text and label names.
/// `PrometheusRenderer` writes each family's header from here and switches over the cases for its
/// values, so a family added here without values (or values without a declaration) does not compile.
///
/// Label values may only be route names from the policy, guard kinds, fixed code lists, status codes,
/// a secret's name and position from the policy (`detail`), and JWKS URLs from the policy: never an
/// API-key id, an IP, a path or anything else a client chooses (docs/threat_model.md).
enum MetricFamily: CaseIterable, Sendable {
    case requests
    case requestDuration
    case upstreamDuration
    case rateLimited
    case guardDecisions
    case rejections
    case upstreamErrors
    case upstreamPoolIdle
    case upstreamOpened
    case upstreamReused
    case connectionsActive
    case connectionsAccepted
    case connectionsLimited
    case policyReloads
    case policyGeneration
    case draining
    case storeBytes
    case storeMaxBytes
    case storeEntries
    case storeRefusals
    case storeExpiredEvictions
    case storeUp
    case storeErrors
    case storeRedirects
    case storeDegradedAnswers
    case storeOperationDuration
    case abuseStrikes
    case abuseBans
    case abuseRefusals
    case bansActive
    case securityEvents
    case logDropped
    case alerts
    case jwksKeys
    case jwksFetches
    case jwksAge
    case buildInfo
    case startTime

    enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    struct Declaration: Sendable {
        let name: String
        let kind: Kind
        let labels: [String]
        let help: String
        /// False for families that only exist with some configuration (JWKS URLs): no header
        /// is written when they have no series.
        var listedWhenEmpty = true
    }

    var declaration: Declaration {
        switch self {
        case .requests:
            Declaration(
                name: "palisade_requests_total", kind: .counter, labels: ["route", "status"],
                help: "Requests answered, by route and status code.")
        case .requestDuration:
            Declaration(
                name: "palisade_request_duration_seconds", kind: .histogram, labels: ["route"],
                help: "Time from request head to the end of the response.")
        case .upstreamDuration:
            Declaration(
                name: "palisade_upstream_duration_seconds", kind: .histogram, labels: ["route"],
                help: "The app's part: from the request sent to the app to its answer's first byte.")
        case .rateLimited:
            Declaration(
                name: "palisade_rate_limited_total", kind: .counter, labels: ["route"],
                help: "Requests refused 429 rate_limited by a route's rate_limit guards.")
        case .guardDecisions:
            Declaration(
                name: "palisade_guard_decisions_total", kind: .counter, labels: ["route", "guard", "outcome", "detail"],
                help: "Guard decisions by route, guard kind and outcome; detail names the secret of a rotation that matched.")
        case .rejections:
            Declaration(
                name: "palisade_rejections_total", kind: .counter, labels: ["code"],
                help: "Requests refused by Palisade itself, by error code.")
        case .upstreamErrors:
            Declaration(
                name: "palisade_upstream_errors_total", kind: .counter, labels: ["kind"],
                help: "Failures talking to the app, by kind.")
        case .connectionsActive:
            Declaration(name: "palisade_connections_active", kind: .gauge, labels: [], help: "Client connections open now.")
        case .connectionsAccepted:
            Declaration(name: "palisade_connections_accepted_total", kind: .counter, labels: [], help: "Client connections accepted.")
        case .connectionsLimited:
            Declaration(
                name: "palisade_connections_limited_total", kind: .counter, labels: ["action"],
                help: "Client connections closed while idle, or refused, because limits.max_connections was reached.")
        case .policyReloads:
            Declaration(name: "palisade_policy_reloads_total", kind: .counter, labels: ["result"], help: "Policy reloads by result.")
        case .policyGeneration:
            Declaration(
                name: "palisade_policy_generation", kind: .gauge, labels: [],
                help: "Generation of the policy in force (1 at start, +1 per successful reload).")
        case .draining:
            Declaration(name: "palisade_draining", kind: .gauge, labels: [], help: "1 while shutting down.")
        case .storeBytes:
            Declaration(
                name: "palisade_store_bytes", kind: .gauge, labels: [],
                help: "Bytes the store charges against store.max_bytes now (an estimate per entry).")
        case .storeMaxBytes:
            Declaration(name: "palisade_store_max_bytes", kind: .gauge, labels: [], help: "The store's byte budget, store.max_bytes.")
        case .storeEntries:
            Declaration(
                name: "palisade_store_entries", kind: .gauge, labels: [],
                help: "Replay ids and idempotency keys the store holds now.")
        case .storeRefusals:
            Declaration(
                name: "palisade_store_refusals_total", kind: .counter, labels: ["reason"],
                help:
                    "Keys the store would not hold: budget spent (store_full), client at its cap (store_client_limit), answer not kept (commit_dropped)."
            )
        case .storeExpiredEvictions:
            Declaration(
                name: "palisade_store_expired_evictions_total", kind: .counter, labels: [],
                help: "Expired entries removed from the store.")
        case .storeUp:
            Declaration(
                name: "palisade_store_up", kind: .gauge, labels: [],
                help: "1 while the shared store (Redis) answers, 0 while its connections back off after failures.",
                listedWhenEmpty: false)
        case .storeErrors:
            Declaration(
                name: "palisade_store_errors_total", kind: .counter, labels: ["reason"],
                help: "Shared-store operations that failed: timeout, connection, down (failed at once during back-off), reply.",
                listedWhenEmpty: false)
        case .storeRedirects:
            Declaration(
                name: "palisade_store_redirects_total", kind: .counter, labels: [],
                help: "MOVED and ASK answers followed (Redis Cluster).", listedWhenEmpty: false)
        case .storeDegradedAnswers:
            Declaration(
                name: "palisade_store_degraded_answers_total", kind: .counter, labels: ["mode"],
                help: "Operations answered by store.redis.on_error (fail_open, fail_closed or local) instead of Redis.",
                listedWhenEmpty: false)
        case .storeOperationDuration:
            Declaration(
                name: "palisade_store_operation_duration_seconds", kind: .histogram, labels: [],
                help: "Round trip of shared-store operations that Redis answered.", listedWhenEmpty: false)
        case .abuseStrikes:
            Declaration(
                name: "palisade_abuse_strikes_total", kind: .counter, labels: [],
                help: "Exchanges counted against their client by the abuse section (refusals, protocol errors, counted app statuses).")
        case .abuseBans:
            Declaration(
                name: "palisade_abuse_bans_total", kind: .counter, labels: [],
                help: "Bans made by the abuse section (first offences and repeats; admin API bans are logged, not counted here).")
        case .abuseRefusals:
            Declaration(
                name: "palisade_abuse_refusals_total", kind: .counter, labels: ["reason"],
                help: "Requests refused before routing: client_banned (a running ban), client_denied (abuse.deny).")
        case .bansActive:
            Declaration(
                name: "palisade_bans_active", kind: .gauge, labels: [],
                help: "Ban records the embedded store holds (running or remembered for a repeat); absent with Redis.")
        case .securityEvents:
            Declaration(
                name: "palisade_security_events_total", kind: .counter, labels: ["type"],
                help: "Security events written (refusal, ban, unban, policy_reload, secret_rotation, jwks_failure, store_failure).")
        case .logDropped:
            Declaration(
                name: "palisade_log_dropped_lines_total", kind: .counter, labels: ["stream"],
                help: "Log lines dropped because their reader fell behind by more than the buffer.")
        case .alerts:
            Declaration(
                name: "palisade_alerts_total", kind: .counter, labels: ["result"],
                help: "Alert webhook deliveries: sent, failed (after every retry), dropped (queue full).")
        case .upstreamPoolIdle:
            Declaration(
                name: "palisade_upstream_pool_idle_connections", kind: .gauge, labels: [],
                help: "Keep-alive connections to the app idle in the pools now.")
        case .upstreamOpened:
            Declaration(
                name: "palisade_upstream_connections_opened_total", kind: .counter, labels: [],
                help: "Connections to the app opened.")
        case .upstreamReused:
            Declaration(
                name: "palisade_upstream_connections_reused_total", kind: .counter, labels: [],
                help: "Requests sent on a pooled keep-alive connection to the app.")
        case .jwksKeys:
            Declaration(
                name: "palisade_jwks_keys", kind: .gauge, labels: ["url"],
                help: "Usable keys in the set last fetched from a JWKS URL (0 until one fetch succeeds).", listedWhenEmpty: false)
        case .jwksFetches:
            Declaration(
                name: "palisade_jwks_fetches_total", kind: .counter, labels: ["url", "result"],
                help: "Fetches of a JWKS URL by result; a failure keeps the last good set.", listedWhenEmpty: false)
        case .jwksAge:
            Declaration(
                name: "palisade_jwks_age_seconds", kind: .gauge, labels: ["url"],
                help: "Seconds since the key set in use was fetched.", listedWhenEmpty: false)
        case .buildInfo:
            Declaration(name: "palisade_build_info", kind: .gauge, labels: ["version"], help: "Palisade version.")
        case .startTime:
            Declaration(
                name: "palisade_start_time_seconds", kind: .gauge, labels: [],
                help: "Start time of the process since the Unix epoch.")
        }
    }
}

/// One series of a family at scrape time: its label values, in the family's declared label order.
struct MetricSample {
    enum Value {
        case number(String)
        /// Per-bucket (not cumulative) counts aligned with `bounds`, plus the +Inf bucket last.
        case histogram(bounds: [Double], buckets: [Int], sum: Double, count: Int)
    }

    var labelValues: [String]
    var value: Value

    init(_ labelValues: [String] = [], _ value: some BinaryInteger) {
        self.labelValues = labelValues
        self.value = .number(String(value))
    }

    init(_ labelValues: [String], _ value: Value) {
        self.labelValues = labelValues
        self.value = value
    }
}
