import NIOHTTP1

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
