import NIOCore
import NIOHTTP1

/// What a guard needs from the request before it can decide. Fixed when the plan is compiled,
/// so the proxy knows whether to buffer the body before the first byte arrives.
public enum BodyNeed: Sendable, Comparable {
    case none
    case raw
}

/// A guard's verdict. `pending` is only for guards that ask the shared store; its future completes
/// on the connection's own event loop, and the connection holds its reads meanwhile.
public enum GuardDecision: Sendable {
    case allow
    /// Allowed, with a detail worth logging and counting (which secret of a rotation matched).
    case allowDetailed(String)
    case reject(RejectionCode)
    /// Answer with a kept response instead of asking the app (an idempotent replay).
    case respond(StoredResponse)
    case pending(EventLoopFuture<GuardDecision>)
}

/// One check Palisade applies. Guards are immutable values built once per plan; per-request state
/// lives in `GuardRequest`, per-loop state in a loop slot (`GuardRequest.loopSlot`), and anything
/// learned once the exchange is over comes through `afterResponse` and `completed`.
///
/// A route guard runs after routing, in the route's file order. An admit guard (listed in the
/// plan's `admitGuards`) runs before routing, for every parsed request, and must be cheap: bans,
/// deny lists and policy-wide limits.
public protocol Guard: Sendable {
    /// The guard's kind as written in the policy (`ip`, `hmac`, ...), used in logs and metric labels.
    var kind: String { get }
    var bodyNeed: BodyNeed { get }
    func check(_ request: GuardRequest) -> GuardDecision
    /// Runs once the app has answered (or the request failed), only for guards whose `check` ran:
    /// it settles what `check` reserved.
    func afterResponse(_ request: GuardRequest, status: HTTPResponseStatus)
    /// Whether `completed` wants to be called: fixed per guard, so an exchange with no observer
    /// builds no outcome.
    var observesCompletion: Bool { get }
    /// Runs once for every exchange in the guard's scope, whether or not its `check` ran: for a
    /// route guard every exchange routed to its route, for an admit guard every exchange on the
    /// listener, protocol errors, unrouted requests and header timeouts included. It sees the
    /// final status, who answered and which guard refused (abuse counting, limits that charge
    /// by outcome). Must not block; anything slow goes through the store's futures.
    func completed(_ request: GuardRequest, outcome: ExchangeOutcome)
    /// Objects that identify this guard's per-loop state (see `GuardRequest.loopSlot`): slots
    /// whose owner no guard of the installed plan lists are dropped when a plan is installed.
    var loopSlotOwners: [AnyObject] { get }
}

extension Guard {
    public var bodyNeed: BodyNeed { .none }
    public func afterResponse(_ request: GuardRequest, status: HTTPResponseStatus) {}
    public var observesCompletion: Bool { false }
    public func completed(_ request: GuardRequest, outcome: ExchangeOutcome) {}
    public var loopSlotOwners: [AnyObject] { [] }
}
