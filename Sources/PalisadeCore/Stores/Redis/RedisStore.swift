import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// What a Redis store is built from; two equal configurations make interchangeable stores, so a
/// reload that leaves `store:` alone keeps the store (and its connections).
public struct RedisStoreConfiguration: Sendable, Equatable {
    var topology: RedisTopology
    var username: String?
    var password: Secret?
    var database: Int
    var tls: Bool
    var tlsCAFile: String?
    var tlsVerify: Bool
    var timeout: TimeAmount
    var poolSize: Int

    public static func == (a: Self, b: Self) -> Bool {
        a.topology == b.topology && a.username == b.username && a.password?.bytes == b.password?.bytes
            && a.database == b.database && a.tls == b.tls && a.tlsCAFile == b.tlsCAFile && a.tlsVerify == b.tlsVerify
            && a.timeout == b.timeout && a.poolSize == b.poolSize
    }

    /// From `store.redis`, with the password secret (if any) already resolved.
    init(spec: RedisStoreSpec, password: Secret?) {
        let url = spec.url
        topology =
            spec.cluster.isEmpty
            ? .single(url?.endpoint ?? RedisEndpoint(host: "127.0.0.1", port: 6379)) : .cluster(seeds: spec.cluster)
        username = url?.username
        self.password = password ?? url?.password
        database = url?.database ?? 0
        tls = url?.tls ?? false
        tlsCAFile = spec.tlsCAFile
        tlsVerify = spec.tlsVerify
        timeout = .nanoseconds(spec.timeout.nanoseconds)
        poolSize = spec.poolSize
    }

    public init(endpoint: RedisEndpoint, timeout: TimeAmount = .milliseconds(50), poolSize: Int = 2) {
        topology = .single(endpoint)
        database = 0
        tls = false
        tlsVerify = true
        self.timeout = timeout
        self.poolSize = poolSize
    }

    public init(cluster seeds: [RedisEndpoint], timeout: TimeAmount = .milliseconds(50), poolSize: Int = 2) {
        self.init(endpoint: seeds[0], timeout: timeout, poolSize: poolSize)
        topology = .cluster(seeds: seeds)
    }
}

/// The shared store in Redis (one server or a Cluster), for several replicas of Palisade.
///
/// Each event loop has its own connections (`RedisLoopClient`, found through a thread-specific
/// variable), made on first use on that loop, so an operation is written, answered and completed
/// on the caller's loop without a lock or a thread hop. Each operation is one round trip (a Lua
/// script by SHA, or one plain command) on one key in one Cluster slot, bounded by `timeout`:
/// past it the operation fails with `StoreUnavailable.timeout` and the connections it used are
/// recycled. What happens then is `ResilientStore`'s business (`store.redis.on_error`).
///
/// `store.max_bytes` and `store.max_entries_per_client` are not enforced here: a per-client count
/// would be a second key in another slot. Redis's memory is bounded by every key's TTL and by
/// the server's own `maxmemory`; a write Redis refuses for memory (OOM) answers `refused(.full)`.
public final class RedisStore: StateStore {
    public let configuration: RedisStoreConfiguration
    private let settings: RedisConnectionSettings
    private let clients = ThreadSpecificVariable<NIOLoopBoundBox<RedisLoopClient>>()
    /// Every loop's client and counts, for statistics and shutdown; appended once per loop.
    private let registry = NIOLockedValueBox<[(NIOLoopBound<RedisLoopClient>, RedisStoreCounters)]>([])

    public init(configuration: RedisStoreConfiguration) throws {
        self.configuration = configuration
        var tlsContext: NIOSSLContext?
        if configuration.tls {
            var tls = TLSConfiguration.makeClientConfiguration()
            if let caFile = configuration.tlsCAFile { tls.trustRoots = .file(caFile) }
            if !configuration.tlsVerify { tls.certificateVerification = .none }
            tlsContext = try NIOSSLContext(configuration: tls)
        }
        settings = RedisConnectionSettings(
            username: configuration.username, password: configuration.password, database: configuration.database,
            tls: tlsContext, connectTimeout: max(configuration.timeout * 4, .milliseconds(250))
        )
    }

    /// Closes every connection (tests; a process that exits needs no call).
    public func shutdown() async {
        let clients = registry.withLockedValue { $0.map(\.0) }
        for bound in clients {
            try? await bound.eventLoop.submit { bound.value.closeAll() }.get()
        }
    }

    /// True unless this store's last attempts on some loop found Redis down.
    public var isUp: Bool { registry.withLockedValue { $0.allSatisfy { $0.1.isUp.load(ordering: .relaxed) } } }

    /// What an operation answers instead of failing, given why it failed.
    typealias Recovery<Answer: Sendable> = @Sendable (StoreUnavailable) -> EventLoopFuture<Answer>

    func client(on loop: any EventLoop) -> RedisLoopClient {
        if let box = clients.currentValue, box.value.loop === loop { return box.value }
        let counters = RedisStoreCounters()
        let client = RedisLoopClient(
            loop: loop, topology: configuration.topology, settings: settings, poolSize: configuration.poolSize,
            timeout: configuration.timeout, counters: counters)
        clients.currentValue = NIOLoopBoundBox(client, eventLoop: loop)
        registry.withLockedValue { $0.append((NIOLoopBound(client, eventLoop: loop), counters)) }
        return client
    }

    /// Runs `script` on `key` (EVALSHA; SCRIPT LOAD and again on NOSCRIPT) on `loop`, under the
    /// store's timeout, counting its latency or its failure. `arguments` adds the script's own
    /// arguments after `EVALSHA <sha> 1 <key>`.
    func evaluate<Answer: Sendable>(
        _ script: RedisScript, key: RedisKey, on loop: any EventLoop, arguments: (inout RedisCommandBuilder) -> Void,
        decode: @escaping RedisOperation<Answer>.Decode
    ) -> EventLoopFuture<Answer> {
        run(script: script, key: key, on: loop, decode: decode) { builder in
            builder.script(script, key: key)
            arguments(&builder)
        }
    }

    /// Runs one plain command about `key`, built whole by `arguments`.
    func command<Answer: Sendable>(
        key: RedisKey, on loop: any EventLoop, arguments: (inout RedisCommandBuilder) -> Void,
        decode: @escaping RedisOperation<Answer>.Decode
    ) -> EventLoopFuture<Answer> {
        run(script: nil, key: key, on: loop, decode: decode) { builder in
            builder.reset()
            arguments(&builder)
        }
    }

    /// On the loop, with that loop's builder; from elsewhere (the admin API) the command is built
    /// here and the operation hops to the loop.
    private func run<Answer: Sendable>(
        script: RedisScript?, key: RedisKey, on loop: any EventLoop, decode: @escaping RedisOperation<Answer>.Decode,
        build: (inout RedisCommandBuilder) -> Void
    ) -> EventLoopFuture<Answer> {
        let timeout = configuration.timeout
        guard loop.inEventLoop else {
            var builder = RedisCommandBuilder()
            build(&builder)
            let command = builder.encode(allocator: ByteBufferAllocator())
            return loop.flatSubmit {
                let client = self.client(on: loop)
                return client.run(command, slot: client.slot(of: key), script: script, timeout: timeout, decode: decode)
            }
        }
        let client = client(on: loop)
        build(&client.builder)
        let command = client.builder.encode(allocator: ByteBufferAllocator())
        return client.run(command, slot: client.slot(of: key), script: script, timeout: timeout, decode: decode)
    }

    /// A reply the operation cannot use: an error (OOM aside, which callers map to a refusal) or
    /// an unexpected shape.
    static func unusable(_ reply: RedisValue) -> StoreUnavailable { StoreUnavailable(.reply) }

    static func isOutOfMemory(_ reply: RedisValue) -> Bool {
        if case .error(let text) = reply { return text.hasPrefix("OOM") }
        return false
    }

    // MARK: Replay ids and idempotency keys

    public func reserve(
        _ key: String, fingerprint: [UInt8], client: IPAddressBytes?, answerBytes: Int, lease: Int64, now: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<ReservationOutcome> {
        let redisKey = RedisKey(.record, key)
        return evaluate(
            RedisScripts.reserve, key: redisKey, on: loop,
            arguments: {
                $0.append(StoredRecordCoding.held(fingerprint))
                $0.append(max(lease, 1))
            },
            decode: { reply -> ReservationOutcome in
                if Self.isOutOfMemory(reply) { return .refused(.full) }
                if case .integer(1) = reply { return .reserved }
                guard let bytes = reply.bytes, let decoded = StoredRecordCoding.decode(bytes) else { throw Self.unusable(reply) }
                switch decoded {
                case .held(let held): return .inFlight(fingerprint: held)
                case .committed(let record): return .committed(record)
                }
            })
    }

    public func commit(
        _ key: String, record: StoredRecord, client: IPAddressBytes?, ttl: Int64, now: Int64, on loop: any EventLoop
    ) -> EventLoopFuture<Void> {
        let redisKey = RedisKey(.record, key)
        let value = StoredRecordCoding.committed(record)
        return command(
            key: redisKey, on: loop,
            arguments: {
                $0.append("SET")
                $0.append(redisKey.bytes)
                $0.append(value)
                $0.append("EX")
                $0.append(max(ttl, 1))
            },
            decode: { reply in
                if case .error = reply { throw Self.unusable(reply) }
            })
    }

    public func release(_ key: String, on loop: any EventLoop) -> EventLoopFuture<Void> {
        evaluate(
            RedisScripts.release, key: RedisKey(.record, key), on: loop, arguments: { _ in },
            decode: { reply in
                if case .error = reply { throw Self.unusable(reply) }
            })
    }

    /// Limits follow Redis's own `maxmemory` and the keys' TTLs, not `store.max_bytes`.
    public func apply(_ limits: StoreLimitsSpec) {}

    public var statistics: StoreStatistics {
        var backend = StoreBackendStatistics()
        for (_, counters) in registry.withLockedValue({ $0 }) { backend.merge(counters.snapshot) }
        var statistics = StoreStatistics()
        statistics.backend = backend
        return statistics
    }
}
