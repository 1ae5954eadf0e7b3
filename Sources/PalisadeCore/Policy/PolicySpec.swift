/// The policy file as written: plain values that mirror the YAML, each section with its position.
/// Nothing here is resolved or compiled; `PlanCompiler` turns it into a `RuntimePlan`.
public struct PolicySpec: Sendable {
    public var version: Int = 1
    /// SHA-256 of the policy text, in hex: which policy is in force (start line, reload events).
    public var digest = ""
    public var listen = HostPort(host: "0.0.0.0", port: 8080)
    public var upstream: UpstreamSpec
    public var admin: AdminSpec?
    public var clientIP = ClientIPSpec()
    public var limits = LimitsSpec()
    public var drainTimeout = PolicyDuration.seconds(20)
    public var log = LogSpec()
    /// `alerts:`: a signed webhook told of bans and bursts of signature failures.
    public var alerts: AlertsSpec?
    public var secrets: [String: SecretSpec] = [:]
    public var storeKind: StoreKind = .memory
    public var storeLimits = StoreLimitsSpec()
    /// `store.redis`, required when `storeKind` is `.redis`.
    public var storeRedis: RedisStoreSpec?
    public var responseHeaders: [HeaderSpec] = []
    /// `abuse:` refusals counted per client, bans; nil when the section is absent.
    public var abuse: AbuseSpec?
    public var routes: [RouteSpec] = []
    public var routing = RoutingSpec()
    public var defaultAction: DefaultAction = .deny
    /// Where `default` and `client_ip` were written, for warnings about them.
    public var defaultPosition: SourcePosition?
    public var clientIPPosition: SourcePosition?

    public init(upstream: UpstreamSpec) { self.upstream = upstream }
}

public struct UpstreamSpec: Sendable {
    public var url: UpstreamURL
    public var connectTimeout = PolicyDuration.seconds(2)
    public var responseTimeout = PolicyDuration.seconds(30)
    public var maxIdleConnections = 64

    public init(url: UpstreamURL) { self.url = url }
}

/// `http://host:port` of the app. Only plain HTTP: the app sits beside Palisade on loopback or in the pod.
public struct UpstreamURL: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var description: String { "http://\(HostPort(host: host, port: port))" }

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init?(parsing text: String) {
        guard text.hasPrefix("http://") else { return nil }
        var rest = Substring(text.dropFirst("http://".count))
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.contains("/"), !rest.contains("@"), !rest.contains("?"), !rest.contains("#") else { return nil }
        if let hostPort = HostPort(parsing: String(rest)) {
            self.init(host: hostPort.host, port: hostPort.port)
        } else if !rest.isEmpty, !rest.contains(":") {
            self.init(host: String(rest), port: 80)
        } else if rest.hasPrefix("["), rest.hasSuffix("]") {
            self.init(host: String(rest.dropFirst().dropLast()), port: 80)
        } else {
            return nil
        }
    }
}

public struct AdminSpec: Sendable {
    public var listen: HostPort
    /// `admin.token`: the secret (declared under `secrets:`) a caller of `/admin/*` presents as a
    /// bearer token. Without it the admin API is off; `/healthz`, `/readyz` and `/metrics` stay open.
    public var tokenSecret: String?
    public var tokenPosition: SourcePosition?
}

public struct ClientIPSpec: Sendable {
    public enum Source: String, Sendable {
        case peer
        case xForwardedFor = "x-forwarded-for"
    }
    public var from: Source = .peer
    public var trustedProxies: [CIDRBlock] = []
}

public struct LimitsSpec: Sendable {
    public var maxHeaderBytes = ByteCount(bytes: 32 * 1024)
    public var maxBodyBytes = ByteCount(bytes: 1024 * 1024)
    public var idleTimeout = PolicyDuration.seconds(60)
    public var headerReadTimeout = PolicyDuration.seconds(10)
    /// `max_connections`: client connections open at once; nil derives it from the descriptor limit.
    public var maxConnections: Int?
}

public struct LogSpec: Sendable {
    public enum AccessTarget: String, Sendable { case stdout, off }
    public var access: AccessTarget = .stdout
    /// Request headers copied into the access line, lower-cased.
    public var headers: [String] = []
    /// The kinds of personal data masked wherever a logged value may hold it (`log.mask`): every
    /// class unless the policy lists fewer (`mask: []` turns detection off; credentials headers
    /// and secret-named parameters listed in `secret_names` are still never logged in clear).
    public var mask: Set<MaskClass> = Set(MaskClass.allCases)
    /// Parameter, header and JSON field names whose values are secrets (`log.secret_names`),
    /// compared ignoring case, `-` and `_`.
    public var secretNames: [String] = PIIMasker.defaultSecretNames
    /// Palisade's own diagnostics on stderr (`log.level`): trace … critical. Read at start.
    public var level = "info"
    /// How far the access stream's reader may fall behind before lines are dropped (`log.buffer`).
    /// Read at start.
    public var buffer = ByteCount(bytes: 4 << 20)
    /// `log.body`: bodies logged (masked) on every route that does not say otherwise; nil: off.
    public var body: LogBodySpec?
}

/// `log.body: { max_bytes, content_types, fields }` (or `true` for these defaults).
public struct LogBodySpec: Sendable, Equatable {
    public var maxBytes = ByteCount(bytes: 4096)
    public var contentTypes = ["application/json", "application/x-www-form-urlencoded"]
    /// JSON field names (any depth) or paths (`$.payer.document`) and form parameter names whose
    /// values are replaced whole.
    public var fields: [String] = []

    public init() {}
}

/// A route's own `log: { body: ... }`: as `log.body` says, off, or its own settings.
public enum RouteBodyLogging: Sendable, Equatable {
    case inherit
    case off
    case on(LogBodySpec)
}

public struct HeaderSpec: Sendable {
    public var name: String
    public var value: String
}

/// How request paths are compared with routes (after PathNormalizer).
public struct RoutingSpec: Sendable {
    /// For apps that read paths case-insensitively (IIS, ASP.NET, some Spring setups): routes then
    /// take `/INTERNAL/x` as `/internal/x`, since that is what the app will serve.
    public var caseInsensitive = false
}

public enum DefaultAction: String, Sendable { case deny, allow }

/// Where shared state lives: `memory` is embedded (per replica); `redis` is shared by replicas.
public enum StoreKind: String, Sendable { case memory, redis }

/// How much the embedded store may hold: every key in it was chosen by a client.
public struct StoreLimitsSpec: Sendable, Equatable {
    public var maxBytes = ByteCount(bytes: 64 << 20)
    public var maxEntriesPerClient = 10_000

    public init() {}
}

public enum EnforcementMode: String, Sendable { case enforce, report }

public struct RouteSpec: Sendable {
    public var name: String
    public var match: MatchSpec
    public var guards: [GuardSpec]
    public var mode: EnforcementMode
    public var position: SourcePosition
    /// The route's part of `abuse:` (the app's statuses that count against the client).
    public var abuse: RouteAbuseSpec? = nil
    /// The route's `log: { body: ... }`.
    public var logBody = RouteBodyLogging.inherit
    /// The route's `log: { access: true|false }`: its own say over access lines (a health check
    /// nobody wants logged, or the one route that is); nil follows `log.access`.
    public var logAccess: Bool?
}

public struct MatchSpec: Sendable {
    public var path: String?
    public var prefix: String?
    /// Upper-case method names; empty means any method.
    public var methods: [String] = []
    /// Lower-case host name without port; nil means any host.
    public var host: String?
}

/// One entry of a route's `guards:` list. The kind is a closed enum so that adding a guard makes
/// every exhaustive switch (compiler, docs check) fail to build until it handles the new case.
public struct GuardSpec: Sendable {
    public enum Kind: Sendable {
        case ip(IPGuardSpec)
        case hmac(HMACGuardSpec)
        case replay(ReplayGuardSpec)
        case idempotency(IdempotencyGuardSpec)
        case apiKey(APIKeyGuardSpec)
        case jwt(JWTGuardSpec)
        case rateLimit(RateLimitGuardSpec)
    }

    public var kind: Kind
    public var mode: EnforcementMode?
    public var position: SourcePosition

    public var name: String { kind.guardKind.rawValue }
}
