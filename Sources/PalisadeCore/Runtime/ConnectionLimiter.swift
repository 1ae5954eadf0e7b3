import NIOCore
import Synchronization

/// Counts the client connections open across all event loops, for `limits.max_connections`.
///
/// One atomic add when a connection opens and one when it closes, never per request. Above the
/// limit the connection's own loop closes its longest-idle connection (`LoopContext`), so an
/// attacker holding idle connections cannot lock out new clients; when that loop has no idle
/// connection the new one is refused instead.
final class ConnectionLimiter: Sendable {
    private let open = Atomic<Int>(0)

    /// Thrown from the child channel initializer to refuse a connection above the limit.
    struct Refused: Error {}

    /// Counts a new connection until its channel closes; true when the count is now over `limit`.
    func admit(_ channel: any Channel, limit: Int) -> Bool {
        let count = open.add(1, ordering: .relaxed).newValue
        channel.closeFuture.whenComplete { [self] _ in
            open.subtract(1, ordering: .relaxed)
        }
        return count > limit
    }
}
