/// Why forwarding a request failed, classified by where it failed (Pingora's `ErrorSource`), so one
/// place maps each kind to a status and a metric label.
public enum ProxyFailure: Error, Sendable, Hashable, CaseIterable {
    /// The app refused or could not be reached.
    case connectFailed
    /// Connecting took longer than `connect_timeout`.
    case connectTimeout
    /// No response head within `response_timeout`.
    case responseTimeout
    /// The app closed or reset the connection before its answer was complete.
    case connectionLost
    /// The app sent bytes that are not valid HTTP/1.1.
    case protocolError

    /// Label for `palisade_upstream_errors_total{kind=...}`.
    public var metricLabel: String {
        switch self {
        case .connectFailed: return "connect_failed"
        case .connectTimeout: return "connect_timeout"
        case .responseTimeout: return "response_timeout"
        case .connectionLost: return "connection_lost"
        case .protocolError: return "protocol_error"
        }
    }

    /// What the client gets when no response byte has been sent yet.
    var rejection: RejectionCode {
        switch self {
        case .connectFailed, .connectTimeout, .connectionLost: return .upstreamUnavailable
        case .responseTimeout: return .upstreamTimeout
        case .protocolError: return .upstreamProtocolError
        }
    }
}
