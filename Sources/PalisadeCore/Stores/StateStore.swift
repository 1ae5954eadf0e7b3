import NIOCore

/// A response kept for idempotent replay.
public struct StoredResponse: Sendable, Equatable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func == (a: StoredResponse, b: StoredResponse) -> Bool {
        a.status == b.status && a.body == b.body && a.headers.elementsEqual(b.headers, by: { $0 == $1 })
    }
}

/// What a committed key holds: a fingerprint of the request that claimed it (a body hash for
/// idempotency keys) and, optionally, the answer to replay.
public struct StoredRecord: Sendable, Equatable {
    public var fingerprint: [UInt8]
    public var response: StoredResponse?

    public init(fingerprint: [UInt8], response: StoredResponse? = nil) {
        self.fingerprint = fingerprint
        self.response = response
    }
}

public enum ReservationOutcome: Sendable, Equatable {
    /// The key was free and is now held for this request until commit or release.
    case reserved
    /// Another request holds the key and has not finished.
    case inFlight(fingerprint: [UInt8])
    /// A request with this key finished and was committed.
    case committed(StoredRecord)
    /// The key was free but the store would not hold it: its byte budget is spent, or this client
    /// holds as many entries as it may. Nothing was stored.
    case refused(StoreRefusal)
}

/// Why a store refused to hold a new key; each guard answers it with the matching code.
public enum StoreRefusal: Sendable, Equatable {
    /// `store.max_bytes` is reached even after expired entries went: 503, nobody's fault in particular.
    case full
    /// The client holds `store.max_entries_per_client` live entries: 429, it must slow down.
    case clientLimit

    public static let storeFull = RejectionCode("store_full", status: .serviceUnavailable)
    public static let clientLimitReached = RejectionCode("store_client_limit", status: .tooManyRequests)

    public var rejection: RejectionCode {
        switch self {
        case .full: return Self.storeFull
        case .clientLimit: return Self.clientLimitReached
        }
    }
}

/// What a store holds and has refused, for `/metrics`.
public struct StoreStatistics: Sendable, Equatable {
    public var bytes = 0
    public var maxBytes = 0
    public var entries = 0
    public var refusedFull = 0
    public var refusedClientLimit = 0
    /// Answers that could not be kept because the budget was spent; their keys were freed instead.
    public var commitsDropped = 0
    public var expiredEvicted = 0
    /// Ban records held (running, or remembered for the doubling of a repeat); nil where the store
    /// cannot count them cheaply (Redis: the admin listing scans for them instead).
    public var banRecords: Int?
    /// A networked store's health, errors and latency; nil for the embedded store.
    public var backend: StoreBackendStatistics?
}

public enum CounterOutcome: Sendable, Equatable {
    /// The count within the current window (this increment included) and the Unix second at which
    /// the window ends and the count starts over.
    case counted(Int64, windowEnds: Int64)
    /// A new window could not be kept (budget or per-client cap): nothing counted.
    case refused(StoreRefusal)
}

/// Shared state behind one protocol, shaped for a networked store: every operation is one round
/// trip, atomic, with a TTL, and answers with a future on the caller's event loop. The embedded
/// `MemoryStore` answers at once; `RedisStore` answers when Redis does (within its timeout).
public protocol StateStore: AnyObject, Sendable {
    /// Holds `key` for `lease` seconds unless it is held or committed already. `client` (the
    /// address the guard sees) is charged for the entry against the per-client cap, unless nil
    /// (ids only a signature holder can make); `answerBytes`
    /// is room set aside for the answer a later commit may keep, so that commit cannot fail for
    /// want of room after the app has already acted.
    func reserve(
        _ key: String, fingerprint: [UInt8], client: IPAddressBytes?, answerBytes: Int, lease: Int64, now: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<ReservationOutcome>
    /// Marks `key` done for `ttl` seconds with `record`.
    func commit(
        _ key: String, record: StoredRecord, client: IPAddressBytes?, ttl: Int64, now: Int64, on loop: any EventLoop
    ) -> EventLoopFuture<Void>
    /// Frees a held key, so an honest retry after a failure goes through.
    func release(_ key: String, on loop: any EventLoop) -> EventLoopFuture<Void>

    // Limits, counters and bans. Each is one round trip to a networked store: in Redis one Lua
    // script (EVALSHA, EVAL again on NOSCRIPT) or one plain command, touching one key, so an
    // operation never spans two Cluster slots. Every key written carries a TTL, so Redis's
    // memory per client key is bounded by time as the memory store's is by its budget.

    /// One GCRA step for `cost` units against every limit in `limits` at once, all or nothing: a
    /// step that any limit refuses charges none of them (a request refused by `1000/h` must not use
    /// up the client's `10/s`). The state is one theoretical arrival time per limit, kept under `key`
    /// until the last of them passes; a limited step writes nothing. `client` is charged for a new
    /// key against the per-client cap, as for `reserve`. A cost above a limit's burst never passes.
    ///
    /// Redis: a hash per key, one field per limit (`"<interval>:<tolerance>"` -> TAT in
    /// microseconds, which a Lua number holds exactly), read with HMGET, checked, and on success
    /// written with HSET and PEXPIREAT at the latest TAT; `now` is the server's TIME, so replicas
    /// with skewed clocks share one timeline. Fields for limits no longer asked about are dropped.
    func rateLimit(
        _ key: String, limits: [GCRALimit], cost: Int, client: IPAddressBytes?, now: WallClock.Instant, on loop: any EventLoop
    ) -> EventLoopFuture<RateLimitOutcome>

    /// Adds `amount` to the count under `key` and answers the new count. The first increment opens
    /// a window of `window` seconds; when it ends the key expires and the next increment starts
    /// over at `amount` (a fixed window, as abuse counting wants: N strikes within the window).
    ///
    /// Redis: `local n = INCRBY key amount; if n == amount then EXPIRE key window end;
    /// return {n, TTL key}`, one script.
    func increment(
        _ key: String, by amount: Int64, window: Int64, client: IPAddressBytes?, now: Int64, on loop: any EventLoop
    ) -> EventLoopFuture<CounterOutcome>

    /// Bans `key` for the length `terms` give its offence count: the offences remembered for the key
    /// plus this one. A ban already running is never shortened. Not charged to a client: a client
    /// at its per-client cap is the one most likely to deserve a ban.
    ///
    /// Redis: a hash `{until, reason, offences}` per key; one script does HINCRBY offences, HGET
    /// until (kept if later), HSET until and reason, EXPIREAT at until + `terms.memory`. No index
    /// key beside it, so a ban stays one key in one Cluster slot.
    func ban(_ key: String, reason: String, terms: BanTerms, now: Int64, on loop: any EventLoop) -> EventLoopFuture<BanOutcome>

    /// The ban on `key` if it is running at `now`, else nil. Asked on every request, so one lookup.
    ///
    /// Redis: `HMGET key until reason offences`, a plain command; the caller compares until with now.
    func activeBan(_ key: String, now: Int64, on loop: any EventLoop) -> EventLoopFuture<BanRecord?>

    /// Ends `key`'s ban and forgets its offences (a lift is a pardon); true if a ban was running.
    ///
    /// Redis: one script: HGET until, then DEL; it answers whether until was still ahead of now.
    func liftBan(_ key: String, now: Int64, on loop: any EventLoop) -> EventLoopFuture<Bool>

    /// The running bans, soonest to end first, at most `limit` of them (for the admin API).
    ///
    /// Redis: SCAN with MATCH on the ban keys' prefix on each primary, then HMGET each key found:
    /// several round trips, which only the admin API pays, never a request.
    func activeBans(now: Int64, limit: Int, on loop: any EventLoop) -> EventLoopFuture<[ListedBan]>

    /// Puts the policy's limits in force; the store outlives reloads, its limits follow them.
    func apply(_ limits: StoreLimitsSpec)
    /// Usage and refusals so far.
    var statistics: StoreStatistics { get }
}
