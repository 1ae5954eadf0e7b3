import NIOCore

/// The clocks of one client connection and the timeout rules over them. Deciding is a pure
/// function of the clocks, the connection's phase and the limits, so the rules are testable
/// without sockets; `ExchangeHandler` carries out the verdict.
struct ConnectionClocks {
    /// When the last exchange finished (or the connection opened).
    var idleSince: NIODeadline
    /// When the first byte of a head that has not fully arrived was read.
    var headStartedAt: NIODeadline?
    /// The last read from either side.
    var lastActivity: NIODeadline

    init(now: NIODeadline) {
        idleSince = now
        lastActivity = now
    }

    enum Phase {
        /// Between requests, or reading a head.
        case idle
        /// The request is with the app.
        case forwarding
        /// Reading a body for a guard, waiting for a guard or for a connection to the app.
        case waiting
        /// Answered and closing, or tunnelling: no timeout of its own.
        case settled
    }

    enum Verdict: Equatable {
        case none
        /// A head began arriving and is not complete within `header_read_timeout`: 408, close.
        case headerReadTimeout
        /// Nothing at all for `idle_timeout`: close quietly.
        case closeIdle
        /// The app's answer is overdue: the upstream side fails the exchange with 504.
        case responseOverdue
        /// Neither side moved for `idle_timeout` while the request was with the app.
        case exchangeStalled
    }

    func verdict(
        now: NIODeadline, phase: Phase, responseDeadline: NIODeadline?, headerReadTimeout: TimeAmount,
        idleTimeout: TimeAmount
    ) -> Verdict {
        switch phase {
        case .idle:
            if let started = headStartedAt { return now - started > headerReadTimeout ? .headerReadTimeout : .none }
            return now - idleSince > idleTimeout ? .closeIdle : .none
        case .forwarding:
            if let responseDeadline, responseDeadline <= now { return .responseOverdue }
            return now - lastActivity > idleTimeout ? .exchangeStalled : .none
        case .waiting:
            return now - lastActivity > idleTimeout ? .closeIdle : .none
        case .settled:
            return .none
        }
    }
}
