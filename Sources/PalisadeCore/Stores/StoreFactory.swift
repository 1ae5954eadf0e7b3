/// Makes the plan's store from `store:`, or keeps the one the running plan has when its
/// configuration did not change: a reload must not drop the replay ids, limits and bans held so
/// far, nor (for Redis) reconnect for nothing.
enum StoreFactory {
    static func make(_ policy: PolicySpec, given: (any StateStore)?, file: String) throws -> any StateStore {
        switch policy.storeKind {
        case .memory:
            // Back from Redis to memory: what the fallback held under `on_error: local` is kept.
            if let resilient = given as? ResilientStore { return resilient.fallback }
            return given ?? MemoryStore(limits: policy.storeLimits)
        case .redis:
            guard let spec = policy.storeRedis else {
                let position = SourcePosition(line: 1, column: 1, keyPath: "store")
                throw PolicyLoadError(diagnostics: [
                    .init(severity: .error, file: file, position: position, message: "store.redis is missing")
                ])
            }
            var password: Secret?
            if let secret = spec.password {
                password = try SecretResolver.resolve([secret.name: secret], file: file)[secret.name]?.first
            }
            let configuration = RedisStoreConfiguration(spec: spec, password: password)
            if let resilient = given as? ResilientStore, resilient.primary.configuration == configuration, resilient.mode == spec.onError {
                return resilient
            }
            let primary: RedisStore
            do {
                primary = try RedisStore(configuration: configuration)
            } catch {
                // NIOSSL's message names the file and what is wrong with it, never a password.
                throw PolicyLoadError(diagnostics: [
                    .init(severity: .error, file: file, position: spec.position, message: "store.redis.tls: \(error)")
                ])
            }
            // A Redis store whose connections are replaced keeps the fallback's local state.
            let fallback =
                (given as? MemoryStore) ?? (given as? ResilientStore)?.fallback ?? MemoryStore(limits: policy.storeLimits)
            return ResilientStore(primary: primary, fallback: fallback, mode: spec.onError)
        }
    }
}
