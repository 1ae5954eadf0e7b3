import NIOCore
import NIOHTTP1

/// The request as guards see it. One instance per connection, reset for each request, so that
/// deciding costs no allocation beyond what a guard itself needs.
public final class GuardRequest {
    public internal(set) var head: HTTPRequestHead
    /// The request path without the query string, in the normal form the route matched and the
    /// app is sent (PathNormalizer); `head.uri` is the target as the client sent it.
    public internal(set) var path: Substring
    /// The client address after `client_ip` resolution; also `principal.clientIP`.
    public var clientIP: IPAddressBytes { principal.clientIP }
    /// The client address as text, formatted once per connection while the address stays the same
    /// (store keys made from it on every request: a limit per address, the ban check).
    public var clientIPText: String {
        if textAddress != principal.clientIP {
            textAddress = principal.clientIP
            textOfAddress = principal.clientIP.description
        }
        return textOfAddress
    }
    private var textAddress: IPAddressBytes?
    private var textOfAddress = ""

    /// `prefix` followed by the client address as text: a store key a guard makes from the
    /// address on every request (a limit per address), built once per connection while the
    /// prefix and the address stay the same, so it costs no new string per request.
    public func addressKey(prefix: String) -> String {
        if keyAddress != principal.clientIP || keyPrefix != prefix {
            keyAddress = principal.clientIP
            keyPrefix = prefix
            keyOfAddress = prefix + clientIPText
        }
        return keyOfAddress
    }
    private var keyAddress: IPAddressBytes?
    private var keyPrefix = ""
    private var keyOfAddress = ""
    /// Who is calling, as far as the guards that ran have established it.
    public var principal: Principal
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

    /// Fields guards add to the answer the client gets, whoever writes it: the app's forwarded
    /// answer and Palisade's own (a `RateLimit` header on both; a refusal's own headers, such as
    /// `Retry-After`, travel on its `RejectionCode`).
    public private(set) var responseAdditions: [(String, String)] = []

    public func addUpstreamHeader(_ name: String, _ value: String) { upstreamAdditions.append((name, value)) }
    public func removeUpstreamHeader(_ name: String) { upstreamRemovals.append(name) }
    public func addResponseHeader(_ name: String, _ value: String) { responseAdditions.append((name, value)) }

    /// Clears what the previous request on this connection left: edits, held keys, captures,
    /// the principal. Capacities are kept: a route's guards do the same on every request.
    func reset(clientIP: IPAddressBytes) {
        principal.reset(clientIP: clientIP)
        body = nil
        verifiedSignature = nil
        if !heldKeys.isEmpty { heldKeys.removeAll(keepingCapacity: true) }
        if captureLimit > 0 || capturedResponse != nil { resetCapture() }
        if !upstreamAdditions.isEmpty { upstreamAdditions.removeAll(keepingCapacity: true) }
        if !upstreamRemovals.isEmpty { upstreamRemovals.removeAll(keepingCapacity: true) }
        if !responseAdditions.isEmpty { responseAdditions.removeAll(keepingCapacity: true) }
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
            headers.append(
                (
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
    /// Per-loop copies of remote key sets, shared by the `jwt` guards that use one source.
    let jwtCache: JWTLoopCache
    /// Where bans and other events off the request path are written (the runtime's log).
    let securityEvents: SecurityEventLog?
    private let slots: LoopSlots

    /// This loop's state for `owner` (an object the guard holds and lists in `loopSlotOwners`),
    /// made by `make` the first time. Confined to the loop: no lock, and a reload frees it.
    public func loopSlot<Value: AnyObject>(owner: AnyObject, make: () -> Value) -> Value {
        slots.value(for: owner, make: make)
    }

    init(
        eventLoop: any EventLoop, jwtCache: JWTLoopCache = JWTLoopCache(), slots: LoopSlots = LoopSlots(),
        securityEvents: SecurityEventLog? = nil
    ) {
        self.eventLoop = eventLoop
        self.securityEvents = securityEvents
        self.jwtCache = jwtCache
        self.slots = slots
        self.head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
        self.path = "/"
        self.principal = Principal(clientIP: IPAddressBytes(ipv4: 0))
        self.requestID = ""
        self.now = WallClock.Instant(nanosecondsSinceEpoch: 0)
    }
}
