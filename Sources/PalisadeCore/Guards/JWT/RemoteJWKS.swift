import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// Keys from a JWKS URL. Fetched on a background event loop (never one that serves requests),
/// refreshed every `refresh` (±10% jitter, so a fleet of sidecars does not hit the issuer in
/// step), and fetched early, at most once per `min_refetch_interval`, when a token names a `kid`
/// the set lacks. When a fetch fails the last good set stays in use and the next attempt backs
/// off exponentially (1 s doubling, capped at `refresh`, with full jitter).
///
/// Requests read the set through `version`, an atomic counter: each loop keeps its own copy and
/// takes the lock only when the version moved, so the request path has no shared lock.
final class RemoteJWKS: Sendable {
    let spec: RemoteJWKSSpec
    private let loop: any EventLoop
    private let tls: NIOSSLContext?
    private let state = Mutex(State())
    private let logger: Logger
    /// Bumped each time a new set is installed.
    let version = Atomic<Int>(0)

    struct State {
        var keys: JWKSet?
        var keyCount = 0
        var fetchedAt: WallClock.Instant?
        var lastAttempt: NIODeadline?
        var lastError: String?
        var consecutiveFailures = 0
        var inFlight: EventLoopFuture<Void>?
        var scheduled: Scheduled<Void>?
        var stopped = false
        var fetches = 0
        var successes = 0
        var failures = 0
    }

    /// What /readyz and /metrics report.
    struct Status: Sendable {
        var url: String
        var loaded: Bool
        var keys: Int
        var ageSeconds: Int64?
        var lastError: String?
        var fetches: Int
        var successes: Int
        var failures: Int
    }

    /// Told of every failed fetch (the registry turns it into a security event).
    private let onFailure: @Sendable (String, String) -> Void

    init(spec: RemoteJWKSSpec, logger: Logger, onFailure: @escaping @Sendable (String, String) -> Void = { _, _ in }) throws {
        self.onFailure = onFailure
        self.spec = spec
        self.logger = logger
        self.loop = MultiThreadedEventLoopGroup.singleton.next()
        if spec.isTLS {
            var configuration = TLSConfiguration.makeClientConfiguration()
            if let caFile = spec.caFile {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            }
            self.tls = try NIOSSLContext(configuration: configuration)
        } else {
            self.tls = nil
        }
    }

    /// The current set and its version (nil until a fetch has succeeded).
    func snapshot() -> (version: Int, keys: JWKSet?) {
        state.withLock { ($0.keys == nil ? 0 : version.load(ordering: .acquiring), $0.keys) }
    }

    var status: Status {
        state.withLock { s in
            Status(
                url: spec.url, loaded: s.keys != nil, keys: s.keyCount,
                ageSeconds: s.fetchedAt.map { WallClock.now().seconds - $0.seconds }, lastError: s.lastError,
                fetches: s.fetches, successes: s.successes, failures: s.failures
            )
        }
    }

    /// Starts fetching (once); later calls return at once.
    func start() {
        let shouldStart = state.withLock { s -> Bool in
            guard s.lastAttempt == nil, s.inFlight == nil, !s.stopped else { return false }
            return true
        }
        if shouldStart { _ = fetch() }
    }

    func stop() {
        let scheduled = state.withLock { s -> Scheduled<Void>? in
            s.stopped = true
            defer { s.scheduled = nil }
            return s.scheduled
        }
        scheduled?.cancel()
    }

    /// A token named a `kid` the set lacks: fetch now unless a fetch happened within
    /// `min_refetch_interval`. Returns the fetch to wait for, or nil when none will be made.
    func refetchForUnknownKid() -> EventLoopFuture<Void>? {
        let now = NIODeadline.now()
        let interval = TimeAmount.nanoseconds(spec.minRefetchInterval.nanoseconds)
        let allowed = state.withLock { s -> Bool in
            if s.stopped { return false }
            if s.inFlight != nil { return true }
            guard let last = s.lastAttempt else { return true }
            return now - last >= interval
        }
        return allowed ? fetch() : nil
    }

    /// Joins the fetch in flight or starts one.
    private func fetch() -> EventLoopFuture<Void> {
        let loop = self.loop
        let promise = loop.makePromise(of: Void.self)
        let existing = state.withLock { s -> EventLoopFuture<Void>? in
            if let inFlight = s.inFlight { return inFlight }
            s.inFlight = promise.futureResult
            s.lastAttempt = .now()
            s.fetches += 1
            s.scheduled?.cancel()
            s.scheduled = nil
            return nil
        }
        if let existing {
            promise.succeed()
            return existing
        }
        JWKSFetch.get(spec, tls: tls, on: loop).whenComplete { result in
            self.finished(result)
            promise.succeed()
        }
        return promise.futureResult
    }

    private func finished(_ result: Result<[UInt8], any Error>) {
        var parsed: Result<JWKSet, JWKSet.LoadError>
        switch result {
        case .success(let bytes):
            do {
                let set = try JWKSet.parse(bytes, source: spec.url, skippingUnusableKeys: true)
                if set.keys.isEmpty {
                    let reasons = set.skipped.isEmpty ? "" : ": " + set.skipped.joined(separator: "; ")
                    parsed = .failure(.message("\(spec.url) lists no usable signing key\(reasons)"))
                } else {
                    parsed = .success(set)
                }
            } catch {
                parsed = .failure(error)
            }
        case .failure(let error):
            parsed = .failure(.message("\(error)"))
        }
        let (delay, message) = state.withLock { s -> (TimeAmount, String?) in
            s.inFlight = nil
            let refresh = spec.refresh.nanoseconds
            switch parsed {
            case .success(let set):
                s.keys = set
                s.keyCount = set.keys.count
                s.fetchedAt = WallClock.now()
                s.lastError = nil
                s.consecutiveFailures = 0
                s.successes += 1
                version.add(1, ordering: .releasing)
                // ±10% around the refresh interval.
                let jitter = Int64.random(in: -(refresh / 10)...(refresh / 10))
                return (.nanoseconds(refresh + jitter), nil)
            case .failure(.message(let message)):
                s.lastError = message
                s.failures += 1
                s.consecutiveFailures += 1
                // Exponential backoff with full jitter, capped at the refresh interval.
                let ceiling = min(Int64(1_000_000_000) << min(s.consecutiveFailures - 1, 20), refresh)
                return (.nanoseconds(Int64.random(in: (ceiling / 2)...ceiling)), message)
            }
        }
        if let message {
            onFailure(spec.url, message)
            logger.warning(
                "jwks fetch failed; the last good key set stays in use",
                metadata: ["url": "\(spec.url)", "error": "\(message)", "retry_in_ms": "\(delay.nanoseconds / 1_000_000)"]
            )
        } else {
            logger.info("jwks loaded", metadata: ["url": "\(spec.url)", "keys": "\(status.keys)"])
            if case .success(let set) = parsed, !set.skipped.isEmpty {
                logger.warning(
                    "jwks keys left out", metadata: ["url": "\(spec.url)", "reasons": "\(set.skipped.joined(separator: "; "))"]
                )
            }
        }
        let task = loop.scheduleTask(in: delay) { _ = self.fetch() }
        let stopped = state.withLock { s -> Bool in
            if !s.stopped { s.scheduled = task }
            return s.stopped
        }
        if stopped { task.cancel() }
    }
}

/// Remote key sets by URL and settings, carried from plan to plan like the state store, so a
/// reload neither refetches nor forgets keys; sets no plan uses any more are stopped.
public final class RemoteJWKSRegistry: Sendable {
    private let sources = Mutex<[RemoteJWKSSpec: RemoteJWKS]>([:])
    let logger: Logger
    /// The runtime's security events, once a runtime runs this registry's plans.
    let securityEvents = Mutex<SecurityEventLog?>(nil)

    public init(logger: Logger = Logger(label: "palisade.jwks")) {
        self.logger = logger
    }

    func source(for spec: RemoteJWKSSpec) throws -> RemoteJWKS {
        if let existing = sources.withLock({ $0[spec] }) { return existing }
        let made = try RemoteJWKS(spec: spec, logger: logger) { [weak self] url, message in
            guard let log = self?.securityEvents.withLock({ $0 }) else { return }
            var event = SecurityEvent(type: .jwksFailure, reason: "fetch_failed")
            event.details = [("url", url), ("error", message)]
            log.record(event)
        }
        return sources.withLock { all in
            if let raced = all[spec] { return raced }
            all[spec] = made
            return made
        }
    }

    /// Starts the sets a plan uses and stops the others.
    func activate(only used: Set<RemoteJWKSSpec>) {
        let (keep, drop) = sources.withLock { all -> ([RemoteJWKS], [RemoteJWKS]) in
            let dropped = all.filter { !used.contains($0.key) }.map(\.value)
            all = all.filter { used.contains($0.key) }
            return (Array(all.values), dropped)
        }
        for source in drop { source.stop() }
        for source in keep { source.start() }
    }

    var statuses: [RemoteJWKS.Status] {
        sources.withLock { Array($0.values) }.map(\.status).sorted { $0.url < $1.url }
    }

    func stopAll() {
        for source in sources.withLock({ Array($0.values) }) { source.stop() }
    }
}
