import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// `abuse:` the admit guard that refuses banned and denied clients before any other work, and
/// counts, from every exchange's completion, what a client did wrong: guard refusals, protocol
/// errors, unrouted requests (when asked) and the app's own statuses a route names
/// (`count_upstream: [401]` on a login route). `ban_after` strikes within `window` ban the
/// client for `ban_for`, doubling with each repeat up to `ban_max`. Bans live in the policy's
/// store, so with Redis a ban made by one replica holds on all of them from the next request.
final class AbuseGuard: Guard {
    let kind = "abuse"
    let spec: AbuseSpec
    private let store: any StateStore
    private let memory: MemoryStore?
    private let terms: BanTerms
    /// Route name -> the app's statuses that count as strikes there.
    private let countedStatuses: [String: Set<Int>]
    private let logger: Logger

    static let banned = "client_banned"
    static let denied = RejectionCode("client_denied", status: .forbidden)

    init(spec: AbuseSpec, routes: [RouteSpec], store: any StateStore, logger: Logger = Logger(label: "palisade.abuse")) {
        self.spec = spec
        self.store = store
        self.memory = store as? MemoryStore
        self.terms = BanTerms(
            first: spec.banFor.nanoseconds / 1_000_000_000, longest: spec.banMax.nanoseconds / 1_000_000_000,
            memory: spec.memory.nanoseconds / 1_000_000_000
        )
        var counted: [String: Set<Int>] = [:]
        for route in routes { if let statuses = route.abuse?.countUpstream, !statuses.isEmpty { counted[route.name] = statuses } }
        self.countedStatuses = counted
        self.logger = logger
    }

    var observesCompletion: Bool { true }

    /// The store key of a client's ban: the address in clear, so the admin API can list and lift
    /// bans by address. An address is bounded in length and not free text.
    static func banKey(_ clientText: String) -> String { "ban:" + clientText }
    static func strikeKey(_ clientText: String) -> String { "strikes:" + clientText }

    private func isAllowed(_ client: IPAddressBytes) -> Bool { spec.allow.contains { $0.contains(client) } }

    func check(_ request: GuardRequest) -> GuardDecision {
        let client = request.clientIP
        if spec.deny.contains(where: { $0.contains(client) }) {
            AbuseCounters.shared.deniedRefusals.add(1, ordering: .relaxed)
            return .reject(Self.denied)
        }
        if isAllowed(client) { return .allow }
        let now = request.now.seconds
        if let memory {
            guard memory.mayHoldBans else { return .allow }
            return decide(memory.activeBanNow(Self.banKey(request.clientIPText), now: now), now: now)
        }
        let key = Self.banKey(request.clientIPText)
        return .pending(store.activeBan(key, now: now, on: request.eventLoop).map { self.decide($0, now: now) })
    }

    private func decide(_ ban: BanRecord?, now: Int64) -> GuardDecision {
        guard let ban else { return .allow }
        AbuseCounters.shared.bannedRefusals.add(1, ordering: .relaxed)
        return .reject(Self.bannedRejection(ban, now: now))
    }

    static func bannedRejection(_ ban: BanRecord, now: Int64) -> RejectionCode {
        RejectionCode(banned, status: .forbidden, headers: [("retry-after", String(max(ban.secondsLeft(at: now), 1)))])
    }

    func completed(_ request: GuardRequest, outcome: ExchangeOutcome) {
        guard let reason = strikeReason(outcome) else { return }
        let client = request.clientIP
        guard !isAllowed(client) else { return }
        let clientText = request.clientIPText
        let now = request.now.seconds
        let window = spec.window.nanoseconds / 1_000_000_000
        let loop = request.eventLoop
        // The request object is reused for the connection's next request: keep what the log needs.
        let requestID = request.requestID
        let securityEvents = request.securityEvents
        AbuseCounters.shared.strikes.add(1, ordering: .relaxed)
        store.increment(Self.strikeKey(clientText), by: 1, window: window, client: nil, now: now, on: loop).whenSuccess { counted in
            // Every `ban_after`-th strike in a window bans: one replica's INCR sees each multiple
            // exactly once, so a ban is made once however many replicas count.
            guard case .counted(let strikes, _) = counted, strikes % Int64(self.spec.banAfter) == 0 else { return }
            self.store.ban(Self.banKey(clientText), reason: reason, terms: self.terms, now: now, on: loop).whenSuccess { result in
                guard case .banned(let record) = result else {
                    self.logger.error("ban not kept: the store is full", metadata: ["client_ip": "\(client)"])
                    return
                }
                AbuseCounters.shared.bans.add(1, ordering: .relaxed)
                var event = SecurityEvent(type: .ban, reason: reason, client: SecurityEvent.maskedClient(client), requestID: requestID)
                event.details = [
                    ("source", "abuse"), ("until", String(record.until)), ("offences", String(record.offences)),
                    ("strikes", String(strikes)),
                ]
                securityEvents?.record(event)
                self.logger.warning(
                    "client banned",
                    metadata: [
                        "event": "ban", "client_ip": "\(client)", "reason": "\(reason)", "strikes": "\(strikes)",
                        "offences": "\(record.offences)", "until": "\(record.until)", "seconds": "\(record.until - now)",
                        "request_id": "\(requestID)",
                    ]
                )
            }
        }
    }

    /// Why an exchange counts against its client, or nil when it does not. Refusals by this guard
    /// never count (a banned client's retries would otherwise extend its own ban forever).
    func strikeReason(_ outcome: ExchangeOutcome) -> String? {
        if let refusing = outcome.refusingGuard {
            return refusing == kind ? nil : (outcome.error ?? "refused")
        }
        switch outcome.answeredBy {
        case .app:
            guard let route = outcome.routeName, countedStatuses[route]?.contains(outcome.status) == true else { return nil }
            return "upstream_\(outcome.status)"
        case .palisade:
            // Protocol errors and header timeouts: Palisade refused the request itself. 5xx are
            // Palisade's or the app's trouble, not the client's.
            guard (400..<500).contains(outcome.status) else { return nil }
            if outcome.error == "no_route" { return spec.countUnrouted ? "no_route" : nil }
            return outcome.error ?? "protocol_error"
        case .nobody:
            return nil
        }
    }
}

/// Process-wide counts for `/metrics`: monotonic for the life of the process, across reloads.
final class AbuseCounters: Sendable {
    static let shared = AbuseCounters()
    /// Exchanges counted against their client.
    let strikes = Atomic<Int>(0)
    /// Bans made (first offences and repeats).
    let bans = Atomic<Int>(0)
    /// Requests refused because their client was banned / in `abuse.deny`.
    let bannedRefusals = Atomic<Int>(0)
    let deniedRefusals = Atomic<Int>(0)
}
