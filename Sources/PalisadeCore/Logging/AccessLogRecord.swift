/// What a text value in an access line is. Every text field of `AccessLogLine` carries one, and
/// `AccessLogEncoder.write(_:into:)` is the one place each kind is written: the place where masking
/// of personal data (a later issue) acts per kind. A new text field picks its kind here.
enum AccessLogFieldKind: Sendable {
    /// `X-Request-ID`: generated, or the client's own when valid (so client-chosen).
    case requestID
    /// The client's IP, as resolved through `trusted_proxies`.
    case clientAddress
    case method
    /// The request path as the client sent it, without its query.
    case path
    /// The query string as the client sent it (without the `?`).
    case query
    /// A route name from the policy.
    case route
    /// A fixed error code (`no_route`, `connect_failed`, ...).
    case errorCode
    /// A guard's kind as written in the policy (`ip`, `hmac`, ...).
    case guardKind
    /// `ok`, `replayed` or a fixed refusal code.
    case guardOutcome
    /// A guard's detail: an identifier of who called (`key=ID`) or which secret of a rotation
    /// matched (`secret=stripe#2`). Never a secret value.
    case identifier
    /// A header name listed in `log.headers` (from the policy).
    case headerName
    /// The value a client sent in a header listed in `log.headers`.
    case headerValue
}

/// One text value of an access line with its kind.
struct LoggedText {
    let kind: AccessLogFieldKind
    let text: Substring

    init(_ kind: AccessLogFieldKind, _ text: String) {
        self.kind = kind
        self.text = text[...]
    }

    init(_ kind: AccessLogFieldKind, _ text: Substring) {
        self.kind = kind
        self.text = text
    }
}

/// One guard's part in a request's fate, as logged.
struct GuardNote {
    var guardKind: String
    var outcome: String
    var reportOnly: Bool
    /// Extra, non-secret detail: which secret of a rotation matched (`secret=stripe#2`), which
    /// API key was presented (`key=ID`). Logged (kind `identifier`); a metric label only when the
    /// guard lists it in `CountedGuardDetails`.
    var detail: String?

    /// The outcome of a guard that let the request through.
    static let allowed = "ok"
}

/// The fields of one access line, gathered by the exchange as the request goes. Text fields are
/// `LoggedText`, each with its kind; numbers and times cannot carry personal data and stay plain.
struct AccessLogLine {
    var startWall: WallClock.Instant
    var requestID: LoggedText
    var clientIP: LoggedText
    var method: LoggedText?
    var path: LoggedText?
    var query: LoggedText?
    var route: LoggedText?
    var status: Int
    var upstreamStatus: Int?
    var durationNanos: Int64
    var upstreamNanos: Int64?
    var bytesIn: Int
    var bytesOut: Int
    var error: LoggedText?
    /// Encoded with kinds `guardKind`, `guardOutcome` and `identifier`.
    var guards: [GuardNote]
    /// `log.headers` the request carried, encoded with kinds `headerName` and `headerValue`.
    var headers: [(String, String)]
    /// `log.body`: the captured starts of the bodies and the route's masking of them.
    var requestBody: CapturedBody?
    var responseBody: CapturedBody?
    var bodyLogging: BodyLogging?

    /// The one place a gathered value gets its kind.
    init(
        startWall: WallClock.Instant, requestID: String, clientIP: String, method: String?, path: Substring?,
        query: Substring?, route: String?, status: Int, upstreamStatus: Int?, durationNanos: Int64, upstreamNanos: Int64?,
        bytesIn: Int, bytesOut: Int, error: String?, guards: [GuardNote], headers: [(String, String)],
        requestBody: CapturedBody? = nil, responseBody: CapturedBody? = nil, bodyLogging: BodyLogging? = nil
    ) {
        self.requestBody = requestBody
        self.responseBody = responseBody
        self.bodyLogging = bodyLogging
        self.startWall = startWall
        self.requestID = LoggedText(.requestID, requestID)
        self.clientIP = LoggedText(.clientAddress, clientIP)
        self.method = method.map { LoggedText(.method, $0) }
        self.path = path.map { LoggedText(.path, $0) }
        self.query = query.flatMap { $0.isEmpty ? nil : LoggedText(.query, $0) }
        self.route = route.map { LoggedText(.route, $0) }
        self.status = status
        self.upstreamStatus = upstreamStatus
        self.durationNanos = durationNanos
        self.upstreamNanos = upstreamNanos
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
        self.error = error.map { LoggedText(.errorCode, $0) }
        self.guards = guards
        self.headers = headers
    }
}
