import NIOCore
import NIOHTTP1

/// What a guard needs from the request before it can decide. Fixed when the plan is compiled,
/// so the proxy knows whether to buffer the body before the first byte arrives.
public enum BodyNeed: Sendable, Comparable {
    case none
    case raw
}

/// A guard's verdict. `pending` is only for guards that ask the shared store; its future completes
/// on the connection's own event loop, and the connection holds its reads meanwhile.
public enum GuardDecision: Sendable {
    case allow
    /// Allowed, with a detail worth logging and counting (which secret of a rotation matched).
    case allowDetailed(String)
    case reject(RejectionCode)
    /// Answer with a kept response instead of asking the app (an idempotent replay).
    case respond(StoredResponse)
    case pending(EventLoopFuture<GuardDecision>)
}

/// The fixed error code a client sees in `{"error": CODE, "request_id": ID}`, with its status.
/// The code is also a metric label, so it is always a short constant, never request data.
public struct RejectionCode: Sendable, Hashable, CustomStringConvertible {
    public let code: String
    public let status: HTTPResponseStatus
    /// Extra response headers a client can act on (`Retry-After`, `WWW-Authenticate`).
    public let headers: [(String, String)]
    /// The header field a refusal is about, written as `"header"` in the JSON body. Always a
    /// name from the policy or a preset, lower case, never anything the client sent.
    public let headerName: String?

    public init(_ code: String, status: HTTPResponseStatus, headers: [(String, String)] = [], headerName: String? = nil) {
        self.code = code
        self.status = status
        self.headers = headers
        self.headerName = headerName
    }

    public static func == (lhs: RejectionCode, rhs: RejectionCode) -> Bool {
        lhs.code == rhs.code && lhs.status == rhs.status
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
    public var description: String { code }
}

extension RejectionCode: Error {}

extension RejectionCode {
    // Guards
    public static let ipDenied = RejectionCode("ip_denied", status: .forbidden)
    /// A credential, signature or delivery-id header sent more than once (or two values joined in
    /// one field): the guard would verify one and the app might read the other.
    public static func duplicateCredentialHeader(_ name: String) -> RejectionCode {
        RejectionCode("duplicate_credential_header", status: .badRequest, headerName: name)
    }
    // Routing
    public static let noRoute = RejectionCode("no_route", status: .notFound)
    /// A path that routes take, with a method none of them does; the answer's `Allow` lists theirs.
    public static func methodNotAllowed(allowing methods: [String]) -> RejectionCode {
        RejectionCode("method_not_allowed", status: .methodNotAllowed, headers: [("allow", methods.joined(separator: ", "))])
    }
    // Request framing and limits (ProtocolErrorHandler, RequestValidator)
    public static let malformedRequest = RejectionCode("malformed_request", status: .badRequest)
    public static let headersTooLarge = RejectionCode("headers_too_large", status: .requestHeaderFieldsTooLarge)
    public static let bodyTooLarge = RejectionCode("body_too_large", status: .payloadTooLarge)
    public static let expectationFailed = RejectionCode("expectation_failed", status: .expectationFailed)
    public static let headerReadTimeout = RejectionCode("header_read_timeout", status: .requestTimeout)
    // Upstream
    public static let upstreamUnavailable = RejectionCode("upstream_unavailable", status: .badGateway)
    public static let upstreamTimeout = RejectionCode("upstream_timeout", status: .gatewayTimeout)
    public static let upstreamProtocolError = RejectionCode("upstream_protocol_error", status: .badGateway)
}

/// The request as guards see it. One instance per connection, reset for each request, so that
/// deciding costs no allocation beyond what a guard itself needs.
public final class GuardRequest {
    public internal(set) var head: HTTPRequestHead
    /// The request path without the query string, in the normal form the route matched and the
    /// app is sent (PathNormalizer); `head.uri` is the target as the client sent it.
    public internal(set) var path: Substring
    public internal(set) var clientIP: IPAddressBytes
    public internal(set) var requestID: String
    /// Wall-clock time at which the request head arrived; the only clock guards may read.
    public internal(set) var now: WallClock.Instant
    /// The whole body, present only when a guard of the route declared `BodyNeed.raw`.
    public internal(set) var body: ByteBuffer?
    /// The MAC an `hmac` guard of the route computed and found among the request's signatures:
    /// one canonical value per signed message, however its header was spelled, for `replay`
    /// with `id: signature`. Nil until such a guard verified one.
    public internal(set) var verifiedSignature: [UInt8]?
    /// Store keys this request holds (reserved, not yet committed or released), so that
    /// `afterResponse` settles only what this request itself claimed.
    public var heldKeys: [String] = []
    /// Fields guards add to the request sent to the app (a key id, claims), and names whose
    /// client-sent copies must be dropped first so a client cannot pose as what a guard vouches for.
    public private(set) var upstreamAdditions: [(String, String)] = []
    public private(set) var upstreamRemovals: [String] = []

    public func addUpstreamHeader(_ name: String, _ value: String) { upstreamAdditions.append((name, value)) }
    public func removeUpstreamHeader(_ name: String) { upstreamRemovals.append(name) }

    func resetUpstreamEdits() {
        // Capacity kept: a guard that adds headers does so on every request of its route.
        if !upstreamAdditions.isEmpty { upstreamAdditions.removeAll(keepingCapacity: true) }
        if !upstreamRemovals.isEmpty { upstreamRemovals.removeAll(keepingCapacity: true) }
    }

    /// When above zero, the app's answer is kept (status, end-to-end headers, body up to this
    /// many bytes) for guards that store it; set by such a guard's `check`.
    public var captureLimit = 0
    /// The kept answer, or nil when it outgrew `captureLimit` or none was asked for.
    public internal(set) var capturedResponse: StoredResponse?
    private var captureOverflowed = false

    /// The answer broke off: whatever was kept must not be replayed as if complete.
    func invalidateCapture() {
        capturedResponse = nil
        captureOverflowed = true
    }

    func resetCapture() {
        captureLimit = 0
        capturedResponse = nil
        captureOverflowed = false
    }

    func capture(head: UpstreamResponseHead) {
        var headers: [(String, String)] = []
        try? HeaderLines.forEach(in: head.headerBlock) { name, value in
            if HeaderLines.isHopByHop(name) { return }
            if HeaderLines.equals(name, "content-length") || HeaderLines.equals(name, "x-request-id") { return }
            if head.connectionListed.contains(where: { HeaderLines.equals(name, ignoringCase: $0) }) { return }
            headers.append((
                String(decoding: name, as: UTF8.self).lowercased(),
                String(decoding: HeaderLines.trimmed(value), as: UTF8.self)
            ))
        }
        capturedResponse = StoredResponse(status: head.status, headers: headers, body: [])
    }

    func capture(body: ByteBuffer) {
        guard !captureOverflowed, var response = capturedResponse else { return }
        capturedResponse = nil  // the copy above is then the only owner: append without copying
        if response.body.count + body.readableBytes > captureLimit {
            captureOverflowed = true
            capturedResponse = nil
            return
        }
        body.withUnsafeReadableBytes { response.body.append(contentsOf: $0) }
        capturedResponse = response
    }
    public let eventLoop: any EventLoop
    /// Per-loop state of `jwt` guards (key-set copies, verified tokens).
    let jwtCache: JWTLoopCache

    init(eventLoop: any EventLoop, jwtCache: JWTLoopCache = JWTLoopCache()) {
        self.eventLoop = eventLoop
        self.jwtCache = jwtCache
        self.head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
        self.path = "/"
        self.clientIP = IPAddressBytes(ipv4: 0)
        self.requestID = ""
        self.now = WallClock.Instant(nanosecondsSinceEpoch: 0)
    }
}

/// One check a route applies. Guards are immutable values built once per plan; per-request state
/// lives in `GuardRequest`, and anything learned during the response goes through `afterResponse`.
public protocol Guard: Sendable {
    /// The guard's kind as written in the policy (`ip`, `hmac`, ...), used in logs and metric labels.
    var kind: String { get }
    var bodyNeed: BodyNeed { get }
    func check(_ request: GuardRequest) -> GuardDecision
    /// Runs once the app has answered (or the request failed), for guards that reserve state.
    func afterResponse(_ request: GuardRequest, status: HTTPResponseStatus)
}

extension Guard {
    public var bodyNeed: BodyNeed { .none }
    public func afterResponse(_ request: GuardRequest, status: HTTPResponseStatus) {}
}
