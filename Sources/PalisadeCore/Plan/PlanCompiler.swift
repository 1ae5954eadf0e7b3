/// Compiles a decoded policy into a `RuntimePlan`: guards built, lists turned into lookup sets.
public enum PlanCompiler {
    /// `store` carries shared state across reloads; a new store is made when none is given or when
    /// `store:` changed (StoreFactory).
    public static func compile(
        _ policy: PolicySpec, sourceFile: String, generation: Int, store givenStore: (any StateStore)? = nil,
        localStore givenLocalStore: MemoryStore? = nil, remoteKeys givenRemoteKeys: RemoteJWKSRegistry? = nil,
        extensions: PlanExtensions = .none
    ) throws -> RuntimePlan {
        let remoteKeys = givenRemoteKeys ?? RemoteJWKSRegistry()
        let store = try StoreFactory.make(policy, given: givenStore, file: sourceFile)
        // `scope: local` limits count in this process whatever the shared store is: the memory
        // store itself, or the one a Redis store falls back on (`on_error: local`).
        let localStore =
            givenLocalStore ?? (store as? MemoryStore) ?? (store as? ResilientStore)?.fallback
            ?? MemoryStore(limits: policy.storeLimits)
        let secrets = try SecretResolver.resolve(policy.secrets, file: sourceFile)
        // An unfinished request holds its replay id or idempotency key this long at most.
        let lease = policy.upstream.responseTimeout.nanoseconds / 1_000_000_000 + 60
        var routes: [CompiledRoute] = []
        var errors: [PolicyDiagnostic] = []
        // One masker for the plan's access lines and bodies alike.
        let logMasking = LogMasking(policy.log)
        func bodyLogging(_ route: RouteSpec) -> BodyLogging? {
            switch route.logBody {
            case .off: return nil
            case .on(let spec): return BodyLogging(spec, masker: logMasking.masker)
            case .inherit: return policy.log.body.map { BodyLogging($0, masker: logMasking.masker) }
            }
        }
        for (index, routeSpec) in policy.routes.enumerated() {
            var guards: [any Guard] = []
            var signatureHeaders: [String] = []
            for guardSpec in routeSpec.guards {
                if case .hmac(let hmac) = guardSpec.kind { signatureHeaders = HMACScheme(spec: hmac).signatureHeaders }
                if case .apiKey(let apiKey) = guardSpec.kind {
                    // Keys files load with the policy (start and reload), errors with their own positions.
                    let result = APIKeyFile.decode(path: apiKey.keysFile)
                    if !result.errors.isEmpty {
                        errors += result.errors
                        continue
                    }
                    guards.append(APIKeyGuard(spec: apiKey, entries: result.entries))
                    continue
                }
                do {
                    let context = GuardContext(
                        routeName: routeSpec.name, secrets: secrets, store: store, localStore: localStore,
                        signatureHeaders: signatureHeaders, lease: lease, remoteKeys: remoteKeys, guardIndex: guards.count
                    )
                    guards.append(try makeGuard(guardSpec, context))
                } catch {
                    errors.append(.init(severity: .error, file: sourceFile, position: guardSpec.position, message: error.message))
                }
            }
            routes.append(
                CompiledRoute(
                    spec: routeSpec, index: index, guards: guards, extraGuards: extensions.routeGuards[routeSpec.name] ?? [],
                    caseInsensitive: policy.routing.caseInsensitive, bodyLogging: bodyLogging(routeSpec)
                )
            )
        }
        if !errors.isEmpty { throw PolicyLoadError(diagnostics: errors) }
        let usedRemoteKeys = Set(
            policy.routes.flatMap(\.guards).compactMap { guardSpec -> RemoteJWKSSpec? in
                if case .jwt(let jwt) = guardSpec.kind, case .url(let remote) = jwt.keySource { return remote }
                return nil
            })
        return RuntimePlan(
            generation: generation,
            sourceFile: sourceFile,
            policy: policy,
            routes: RouteTable(routes: routes),
            store: store,
            localStore: localStore,
            remoteKeys: remoteKeys,
            usedRemoteKeys: usedRemoteKeys,
            policyAdmitGuards: policy.abuse.map { [AbuseGuard(spec: $0, routes: policy.routes, store: store)] } ?? [],
            adminTokens: policy.admin?.tokenSecret.flatMap { secrets[$0] } ?? [],
            alertSecret: policy.alerts.flatMap { secrets[$0.secret]?.first },
            extensions: extensions
        )
    }

    /// What a guard may need from around it when it is built.
    struct GuardContext {
        var routeName: String
        var secrets: [String: [Secret]]
        var store: any StateStore
        var localStore: MemoryStore
        var signatureHeaders: [String]
        var lease: Int64
        var remoteKeys: RemoteJWKSRegistry
        /// The guard's place in its route's list: two limits on one route keep apart state.
        var guardIndex: Int = 0
    }

    static func makeGuard(_ spec: GuardSpec, _ c: GuardContext) throws(GuardConfigurationError) -> any Guard {
        switch spec.kind {
        case .ip(let ipSpec):
            return IPGuard(spec: ipSpec)
        case .hmac(let hmacSpec):
            return try HMACGuard(spec: hmacSpec, secrets: c.secrets[hmacSpec.secret] ?? [])
        case .jwt(let jwtSpec):
            let keys: JWTGuard.Keys
            do throws(JWKSet.LoadError) {
                switch jwtSpec.keySource {
                case .file(let path): keys = .fixed(try JWKSet.load(path: path))
                case .pem(let path): keys = .fixed(try JWKSet.loadPEM(path: path))
                case .url(let remote):
                    guard let source = try? c.remoteKeys.source(for: remote) else {
                        throw JWKSet.LoadError.message("jwks.url \(remote.url): cannot set up TLS (is ca_file a PEM certificate?)")
                    }
                    keys = .remote(source)
                case nil: keys = .none
                }
            } catch {
                switch error {
                case .message(let message): throw GuardConfigurationError(message: message)
                }
            }
            let secrets = jwtSpec.secret.flatMap { c.secrets[$0] } ?? []
            // RFC 7518 3.2: an HMAC key at least as long as the hash output.
            let needed = jwtSpec.algorithms.contains("HS512") ? 64 : jwtSpec.algorithms.contains("HS384") ? 48 : 32
            if jwtSpec.algorithms.contains(where: { $0.hasPrefix("HS") }),
                secrets.contains(where: { $0.bytes.count < needed })
            {
                throw GuardConfigurationError(
                    message: "an HS secret must be at least \(needed) bytes for \(jwtSpec.algorithms.joined(separator: ", "))")
            }
            return JWTGuard(spec: jwtSpec, keys: keys, secrets: secrets)
        case .apiKey:
            // Built by `compile`, which loads the keys file.
            throw GuardConfigurationError(message: "api_key guards are compiled with their keys file")
        case .idempotency(let idempotencySpec):
            return IdempotencyGuard(spec: idempotencySpec, routeName: c.routeName, store: c.store, lease: c.lease)
        case .replay(let replaySpec):
            return ReplayGuard(
                spec: replaySpec, routeName: c.routeName, store: c.store, signatureHeaders: c.signatureHeaders,
                lease: c.lease
            )
        case .rateLimit(let rateLimitSpec):
            return RateLimitGuard(
                spec: rateLimitSpec, routeName: c.routeName, index: c.guardIndex, local: c.localStore, shared: c.store
            )
        }
    }

    /// Reads, decodes and compiles a policy file; every problem comes back in the thrown error.
    public static func load(
        path: String, generation: Int, store: (any StateStore)? = nil, localStore: MemoryStore? = nil,
        remoteKeys: RemoteJWKSRegistry? = nil, extensions: PlanExtensions = .none
    ) throws -> (RuntimePlan, [PolicyDiagnostic]) {
        let result = PolicyDecoder.decode(contentsOf: path)
        guard let policy = result.policy else { throw PolicyLoadError(diagnostics: result.diagnostics) }
        let plan = try compile(
            policy, sourceFile: path, generation: generation, store: store, localStore: localStore, remoteKeys: remoteKeys,
            extensions: extensions
        )
        return (plan, result.warnings)
    }

    public static func load(
        yaml: String, file: String, generation: Int, store: (any StateStore)? = nil,
        remoteKeys: RemoteJWKSRegistry? = nil, extensions: PlanExtensions = .none
    ) throws -> (RuntimePlan, [PolicyDiagnostic]) {
        let result = PolicyDecoder.decode(yaml: yaml, file: file)
        guard let policy = result.policy else { throw PolicyLoadError(diagnostics: result.diagnostics) }
        let plan = try compile(
            policy, sourceFile: file, generation: generation, store: store, remoteKeys: remoteKeys, extensions: extensions
        )
        return (plan, result.warnings)
    }
}
