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
}

/// Shared state behind one protocol, shaped for a networked store: every operation is one round
/// trip, atomic, with a TTL, and answers with a future on the caller's event loop. The embedded
/// `MemoryStore` answers at once; a Redis store (a later issue) will answer later.
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
    /// Puts the policy's limits in force; the store outlives reloads, its limits follow them.
    func apply(_ limits: StoreLimitsSpec)
    /// Usage and refusals so far.
    var statistics: StoreStatistics { get }
}
