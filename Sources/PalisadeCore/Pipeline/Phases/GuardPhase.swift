import NIOCore
import NIOHTTP1

/// Guards: the plan's admit guards (before routing) or the route's guards (after it), in order.
/// Each decision is noted for the log and the metrics; a refusal is answered at once unless the
/// guard only reports; a guard that asks the store holds the exchange until its future answers,
/// on this loop.
extension ExchangeHandler {
    enum GuardStage {
        /// Policy-wide, before routing: `RuntimePlan.admitGuards`.
        case admit
        /// The matched route's guards.
        case route
    }

    /// Runs the stage's guards from `index`; a pending guard resumes here when it answers.
    func runGuards(_ stage: GuardStage, from index: Int) {
        let guards: [any Guard]
        switch stage {
        case .admit:
            guards = exchange.plan?.admitGuards ?? []
        case .route:
            guard let route = exchange.route else { return }
            guards = route.guards
        }
        var i = index
        while i < guards.count {
            switch stage {
            case .admit: exchange.admitGuardsRun = i + 1
            case .route: exchange.guardsRun = i + 1
            }
            guard apply(guards[i].check(request), guard: guards[i], index: i, stage: stage) else { return }
            i += 1
        }
        switch stage {
        case .admit: route()
        case .route: forwardToApp()
        }
    }

    private func note(_ stage: GuardStage, _ note: GuardNote) {
        switch stage {
        case .admit: exchange.admitNotes.append(note)
        case .route: exchange.guardNotes.append(note)
        }
    }

    private func reportOnly(_ stage: GuardStage, _ index: Int) -> Bool {
        switch stage {
        case .admit: return false
        case .route: return exchange.route?.guardReportOnly[index] ?? false
        }
    }

    /// Acts on one guard's decision; returns whether the next guard should run now.
    private func apply(_ decision: GuardDecision, guard guardItem: any Guard, index i: Int, stage: GuardStage) -> Bool {
        let kind = guardItem.kind
        switch decision {
        case .allow:
            note(stage, GuardNote(guardKind: kind, outcome: "ok", reportOnly: false))
            return true
        case .allowDetailed(let detail):
            note(stage, GuardNote(guardKind: kind, outcome: "ok", reportOnly: false, detail: detail))
            return true
        case .reject(let code):
            let reportOnly = reportOnly(stage, i)
            note(stage, GuardNote(guardKind: kind, outcome: code.code, reportOnly: reportOnly))
            if reportOnly { return true }
            exchange.refusingGuard = kind
            answer(code, forceClose: !(machine.requestComplete || machine.bodyless))
            return false
        case .respond(let stored):
            let reportOnly = reportOnly(stage, i)
            note(stage, GuardNote(guardKind: kind, outcome: "replayed", reportOnly: reportOnly))
            // A report-only guard never answers in the app's place: the request goes on.
            if reportOnly { return true }
            answerStored(stored)
            return false
        case .pending(let future):
            let previous = machine.guardPending()
            future.hop(to: request.eventLoop).assumeIsolatedUnsafeUnchecked().whenComplete { result in
                guard self.machine.guardAnswered(resumingIn: previous) else { return }
                switch result {
                case .success(let resolved):
                    if self.apply(resolved, guard: guardItem, index: i, stage: stage) { self.runGuards(stage, from: i + 1) }
                case .failure(let error):
                    // A shared store that did not answer is named as such, so the operator looks there.
                    let unavailable =
                        error is StoreUnavailable
                        ? StoreUnavailable.rejection : RejectionCode("guard_unavailable", status: .serviceUnavailable)
                    if self.reportOnly(stage, i) {
                        self.note(stage, GuardNote(guardKind: kind, outcome: unavailable.code, reportOnly: true))
                        self.runGuards(stage, from: i + 1)
                    } else {
                        self.exchange.refusingGuard = kind
                        self.answer(unavailable, forceClose: true)
                    }
                }
            }
            return false
        }
    }
}
