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
}

/// Shared state behind one protocol, shaped for a networked store: every operation is one round
/// trip, atomic, with a TTL, and answers with a future on the caller's event loop. The embedded
/// `MemoryStore` answers at once; a Redis store (a later issue) will answer later.
public protocol StateStore: AnyObject, Sendable {
    /// Holds `key` for `lease` seconds unless it is held or committed already.
    func reserve(_ key: String, fingerprint: [UInt8], lease: Int64, now: Int64, on loop: any EventLoop)
        -> EventLoopFuture<ReservationOutcome>
    /// Marks `key` done for `ttl` seconds with `record`.
    func commit(_ key: String, record: StoredRecord, ttl: Int64, now: Int64, on loop: any EventLoop) -> EventLoopFuture<Void>
    /// Frees a held key, so an honest retry after a failure goes through.
    func release(_ key: String, on loop: any EventLoop) -> EventLoopFuture<Void>
}
