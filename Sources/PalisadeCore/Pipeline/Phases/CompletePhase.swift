import NIOCore
import NIOHTTP1

/// Complete: every exchange comes here exactly once, whatever ended it (the app's answer, a
/// local answer, a protocol error, a timeout, the client leaving): the guards' after-response and
/// completion hooks, the route's counters, the access line (with the same request id as the
/// answer), then the connection moves on as the state machine says.
extension ExchangeHandler {
    func complete(status: Int, at time: NIODeadline? = nil) {
        let action = machine.complete()
        if action == .alreadyComplete { return }
        let now = time ?? NIODeadline.now()
        let duration = (now - exchange.start).nanoseconds
        runCompletionHooks(status: status)
        let stats = exchange.routeStats ?? loop.unroutedStats
        stats.record(status: status, durationNanos: duration)
        if let sent = exchange.upstreamStart, let answered = exchange.upstreamFirstByte {
            stats.counters.upstream.record(nanoseconds: (answered - sent).nanoseconds)
        }
        if !exchange.guardNotes.isEmpty { stats.record(guardNotes: exchange.guardNotes) }
        if let plan = exchange.plan, exchange.route?.logAccess ?? plan.accessLogEnabled {
            loggedHeaders.removeAll(keepingCapacity: true)
            if !exchange.unparsed {
                for name in plan.loggedHeaders {
                    if let value = request.head.headers.first(name: name) { loggedHeaders.append((name, value)) }
                }
            }
            loop.accessLog.append(
                exchange.accessLine(status: status, durationNanos: duration, headers: loggedHeaders), masking: plan.logMasking)
        }
        noteSecurityEvents()
        clocks.idleSince = now
        switch action {
        case .closeNow:
            context?.close(promise: nil)
        case .nextRequest(let resumeRead):
            if resumeRead, let context { read(context: context) }
            if inbound != nil && !isDrainingInbound {
                // The next pipelined request is parsed after this answer's writes are issued, not
                // in the middle of them.
                let bound = NIOLoopBound(self, eventLoop: request.eventLoop)
                request.eventLoop.execute { bound.value.drainInbound() }
            }
        case .alreadyComplete, .closing, .tunnel:
            break
        }
    }

    /// A refusal is a security event; an old secret of a rotation still verifying is one too, at
    /// most once a minute per secret.
    private func noteSecurityEvents() {
        guard !exchange.unparsed else { return }
        // The clock is read only when there is an event to date: most exchanges have none.
        if let refusing = exchange.refusingGuard {
            let reason = exchange.error ?? "refused"
            let event = SecurityEvent(
                type: .refusal, route: exchange.route?.name, guardKind: refusing,
                reason: reason, client: SecurityEvent.maskedClient(request.clientIP), requestID: exchange.requestID)
            loop.accessLog.append(event, at: WallClock.now())
        }
        for note in exchange.guardNotes {
            if let detail = note.detail, note.outcome == GuardNote.allowed {
                loop.accessLog.noteSecretInUse(detail, route: exchange.route?.name, guardKind: note.guardKind)
            }
        }
    }

    private func runCompletionHooks(status: Int) {
        let route = exchange.route
        if let route, exchange.guardsRun > 0 {
            let responseStatus = HTTPResponseStatus(statusCode: status)
            for guardItem in route.guards.prefix(exchange.guardsRun) {
                guardItem.afterResponse(request, status: responseStatus)
            }
        }
        let plan = exchange.plan
        if exchange.admitGuardsRun > 0, let plan {
            let responseStatus = HTTPResponseStatus(statusCode: status)
            for guardItem in plan.admitGuards.prefix(exchange.admitGuardsRun) {
                guardItem.afterResponse(request, status: responseStatus)
            }
        }
        let routeObserves = route?.observesCompletion ?? false
        let admitObserves = plan?.admitObservesCompletion ?? false
        guard routeObserves || admitObserves else { return }
        let outcome = ExchangeOutcome(
            status: status,
            answeredBy: exchange.error == "client_closed" ? .nobody : exchange.upstreamStatus != nil ? .app : .palisade,
            refusingGuard: exchange.refusingGuard,
            error: exchange.error,
            routeName: route?.name,
            requestParsed: !exchange.unparsed
        )
        if admitObserves, let plan {
            for guardItem in plan.admitGuards where guardItem.observesCompletion {
                guardItem.completed(request, outcome: outcome)
            }
        }
        if routeObserves, let route {
            for guardItem in route.guards where guardItem.observesCompletion {
                guardItem.completed(request, outcome: outcome)
            }
        }
    }
}
