import NIOCore

/// Everything the proxy needs to serve requests under one policy, compiled once. Immutable, so each
/// event loop can hold it without locks; a reload publishes a new plan and in-flight requests
/// keep the one they started with.
public final class RuntimePlan: Sendable {
    public let generation: Int
    public let sourceFile: String
    public let policy: PolicySpec
    public let routes: RouteTable
    public let defaultAction: DefaultAction
    public let upstream: UpstreamTarget
    public let limits: RuntimeLimits
    public let clientIP: ClientIPResolver
    /// Added to every response, in file order.
    public let responseHeaders: [(String, String)]
    public let accessLogEnabled: Bool
    public let loggedHeaders: [String]
    /// How personal data is masked in this plan's access lines (`log.mask`, `log.secret_names`).
    let logMasking: LogMasking
    /// Shared state (replay ids, idempotency records); the same store survives reloads.
    public let store: any StateStore
    /// The in-process store `scope: local` limits count in (the same as `store` when that is
    /// the memory store); like `store`, it survives reloads.
    public let localStore: MemoryStore
    /// `admin.token`'s values (several during a rotation); empty when the admin API is off.
    let adminTokens: [Secret]
    /// The first value of `alerts.secret`, when `alerts:` is set.
    let alertSecret: Secret?
    /// Key sets fetched from JWKS URLs; like the store, the registry survives reloads.
    public let remoteKeys: RemoteJWKSRegistry
    /// The URLs this plan's guards use: started when the plan is put in force (not by `check`).
    let usedRemoteKeys: Set<RemoteJWKSSpec>
    /// Policy-wide guards run before routing (PlanExtensions today; bans and global limits next).
    public let admitGuards: [any Guard]
    /// Some admit guard implements `completed`.
    let admitObservesCompletion: Bool
    /// Guards added by the embedding program, carried to the plans that reloads compile.
    public let extensions: PlanExtensions
    /// Owners of the per-loop slots this plan's guards use; a loop installing the plan drops the rest.
    let loopSlotOwners: Set<ObjectIdentifier>
    /// Files besides the policy that the plan was built from, watched for changes: API keys
    /// files, JWKS and PEM files, and secret files.
    public var watchedFiles: [String] {
        var files: [String] = []
        for route in policy.routes {
            for guardSpec in route.guards {
                switch guardSpec.kind {
                case .apiKey(let spec):
                    files.append(spec.keysFile)
                case .jwt(let spec):
                    switch spec.keySource {
                    case .file(let path), .pem(let path): files.append(path)
                    case .url, nil: break
                    }
                default:
                    break
                }
            }
        }
        for name in policy.secrets.keys.sorted() {
            if let secret = policy.secrets[name], case .file(let path) = secret.source { files.append(path) }
        }
        var seen = Set<String>()
        return files.filter { seen.insert($0).inserted }
    }

    init(
        generation: Int, sourceFile: String, policy: PolicySpec, routes: RouteTable, store: any StateStore,
        localStore: MemoryStore? = nil, remoteKeys: RemoteJWKSRegistry, usedRemoteKeys: Set<RemoteJWKSSpec>,
        policyAdmitGuards: [any Guard] = [], adminTokens: [Secret] = [], alertSecret: Secret? = nil,
        extensions: PlanExtensions = .none
    ) {
        self.adminTokens = adminTokens
        self.alertSecret = alertSecret
        self.extensions = extensions
        // The policy's own (abuse) first: a banned client is refused before an extension's work.
        let admitGuards = policyAdmitGuards + extensions.admitGuards
        self.admitGuards = admitGuards
        self.admitObservesCompletion = admitGuards.contains { $0.observesCompletion }
        let allGuards = admitGuards + routes.routes.flatMap(\.guards)
        self.localStore = localStore ?? (store as? MemoryStore) ?? MemoryStore(limits: policy.storeLimits)
        self.loopSlotOwners = Set(allGuards.flatMap(\.loopSlotOwners).map(ObjectIdentifier.init))
        self.store = store
        self.remoteKeys = remoteKeys
        self.usedRemoteKeys = usedRemoteKeys
        self.generation = generation
        self.sourceFile = sourceFile
        self.policy = policy
        self.routes = routes
        self.defaultAction = policy.defaultAction
        self.upstream = UpstreamTarget(spec: policy.upstream)
        self.limits = RuntimeLimits(spec: policy.limits, drainTimeout: policy.drainTimeout)
        self.clientIP = ClientIPResolver(spec: policy.clientIP)
        self.responseHeaders = policy.responseHeaders.map { ($0.name, $0.value) }
        self.accessLogEnabled = policy.log.access == .stdout
        self.loggedHeaders = policy.log.headers
        self.logMasking = LogMasking(policy.log)
    }
}

public struct UpstreamTarget: Sendable, Hashable {
    public let host: String
    public let port: Int
    public let connectTimeout: TimeAmount
    public let responseTimeout: TimeAmount
    public let maxIdleConnections: Int
    /// `host:port` of the app, sent as Host when a client (HTTP/1.0) sent none.
    public let endpoint: String

    init(spec: UpstreamSpec) {
        self.host = spec.url.host
        self.port = spec.url.port
        self.connectTimeout = .nanoseconds(spec.connectTimeout.nanoseconds)
        self.responseTimeout = .nanoseconds(spec.responseTimeout.nanoseconds)
        self.maxIdleConnections = spec.maxIdleConnections
        self.endpoint = HostPort(host: spec.url.host, port: spec.url.port).description
    }

}

public struct RuntimeLimits: Sendable {
    public let maxHeaderBytes: Int
    public let maxBodyBytes: Int
    public let idleTimeout: TimeAmount
    public let headerReadTimeout: TimeAmount
    public let drainTimeout: TimeAmount
    /// Client connections open at once; above it the oldest idle one is closed (see ConnectionLimiter).
    public let maxConnections: Int

    init(spec: LimitsSpec, drainTimeout: PolicyDuration) {
        self.maxConnections = spec.maxConnections ?? Self.defaultMaxConnections(descriptorLimit: DescriptorLimit.current)
        self.maxHeaderBytes = spec.maxHeaderBytes.bytes
        self.maxBodyBytes = spec.maxBodyBytes.bytes
        self.idleTimeout = .nanoseconds(spec.idleTimeout.nanoseconds)
        self.headerReadTimeout = .nanoseconds(spec.headerReadTimeout.nanoseconds)
        self.drainTimeout = .nanoseconds(drainTimeout.nanoseconds)
    }

    /// Without `limits.max_connections`: what the descriptor limit leaves after a reserve of 64
    /// (listeners, event loops, policy and key files, JWKS fetches), halved because a client whose
    /// request is with the app holds a second descriptor for the app connection. Above it the
    /// process would run out of descriptors, where nothing, not even the app connection of an
    /// admitted request, can be opened. Never below 16, never above 1,000,000.
    static func defaultMaxConnections(descriptorLimit: Int) -> Int {
        min(1_000_000, max(16, (descriptorLimit - 64) / 2))
    }
}
