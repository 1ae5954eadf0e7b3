import NIOCore

/// Deadlines: the loop's sweep (every 50 ms, LoopContext) asks each connection whether one of
/// its clocks ran out: a head that never finished (408), an idle connection (closed), an app
/// that is too slow (504, through the app connection), an exchange with no progress (closed).
extension ExchangeHandler {
    func checkDeadlines(now: NIODeadline) {
        let plan = exchange.plan ?? loop.plan
        let verdict = clocks.verdict(
            now: now, phase: machine.deadlinePhase, responseDeadline: upstream?.responseDeadline,
            headerReadTimeout: plan.limits.headerReadTimeout, idleTimeout: plan.limits.idleTimeout
        )
        switch verdict {
        case .none:
            break
        case .headerReadTimeout:
            guard context != nil else { return }
            let started = clocks.headStartedAt ?? clocks.lastActivity
            beginUnparsedExchange()
            exchange.start = started
            answer(.headerReadTimeout, forceClose: true)
        case .closeIdle:
            context?.close(promise: nil)
        case .responseOverdue:
            upstream?.checkDeadline(now: now)
        case .exchangeStalled:
            exchange.error = "idle_timeout"
            request.invalidateCapture()
            upstream?.close()
            upstream = nil
            machine.stalled()
            complete(status: machine.responseStarted ? exchange.status : 408)
            context?.close(promise: nil)
        }
    }
}
