/// How an exchange ended, as completion hooks see it (`Guard.completed`).
public struct ExchangeOutcome: Sendable, Equatable {
    public enum Responder: Sendable, Equatable {
        /// The app's answer was forwarded (its status is `status`).
        case app
        /// Palisade answered itself: a refusal, a protocol error, a timeout, a 502/504.
        case palisade
        /// The client left before any answer.
        case nobody
    }

    /// The status the client got (499 when it left first).
    public let status: Int
    public let answeredBy: Responder
    /// The kind of the guard that refused, when one did (report-only guards never refuse).
    public let refusingGuard: String?
    /// Palisade's error code for the exchange (the refusal's code, `no_route`, `malformed_request`,
    /// `upstream_timeout`, `client_closed`, ...), nil when the app answered and nothing failed.
    public let error: String?
    /// The route the request matched; nil for unrouted requests and protocol errors.
    public let routeName: String?
    /// False when no request could be parsed (a protocol error, a head that never finished):
    /// only the client address is known.
    public let requestParsed: Bool

    public init(
        status: Int, answeredBy: Responder, refusingGuard: String?, error: String?, routeName: String?,
        requestParsed: Bool
    ) {
        self.status = status
        self.answeredBy = answeredBy
        self.refusingGuard = refusingGuard
        self.error = error
        self.routeName = routeName
        self.requestParsed = requestParsed
    }
}
