/// A shared store could not answer: it is down, too slow, or answered something unusable.
/// Guards pass it through unchanged, so the guard phase answers 503 `store_unavailable` (not
/// `guard_unavailable`): an operator then looks at the store, not at the guard.
///
/// Never carries a key, a password or a server's error text verbatim in its description: keys are
/// chosen by clients, and a server's error may echo a command's arguments.
public struct StoreUnavailable: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        /// No answer within `store.redis.timeout`.
        case timeout
        /// The connection could not be made or broke before the answer came.
        case connection
        /// The store was down at the last try and its back-off has not ended: failed at once.
        case down
        /// The server answered with an error or a reply of the wrong shape.
        case reply
    }

    public var reason: Reason

    public init(_ reason: Reason) { self.reason = reason }

    public var description: String { "store unavailable (\(reason.rawValue))" }

    public static let rejection = RejectionCode("store_unavailable", status: .serviceUnavailable)
}
