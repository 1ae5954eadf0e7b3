import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// `/admin/bans` on the admin listener, behind `admin.token` (a bearer token):
///
///     GET    /admin/bans          running bans, soonest to end first
///     POST   /admin/bans          {"client": "203.0.113.7", "duration": "1h", "reason": "incident_42"}
///     DELETE /admin/bans/{client} lifts the ban and forgets the client's offences
///
/// The bans are the policy's store's, so with Redis every replica's admin API sees and changes
/// the same list. Every change is logged with who made it (the admin API) and what changed.
struct AdminBansAPI {
    struct Answer {
        var status: HTTPResponseStatus
        var body: String
        var headers: [(String, String)] = []
    }

    let plan: RuntimePlan
    let logger: Logger
    let securityEvents: SecurityEventLog
    let loop: any EventLoop

    static let maxListed = 1000
    static let maxBodyBytes = 4096

    /// Whether `authorization` carries one of the admin tokens; compared in constant time.
    static func authorized(_ authorization: String?, tokens: [Secret]) -> Bool {
        guard let authorization, authorization.count > 7, authorization.prefix(7).lowercased() == "bearer " else { return false }
        let presented = Array(authorization.dropFirst(7).utf8)
        var matched = false
        for token in tokens where SignatureCoding.constantTimeEquals(presented, token.bytes) { matched = true }
        return matched
    }

    func handle(method: HTTPMethod, path: String, authorization: String?, body: ByteBuffer?) -> EventLoopFuture<Answer> {
        guard !plan.adminTokens.isEmpty else {
            return answer(.notFound, error: "admin_api_disabled")
        }
        guard Self.authorized(authorization, tokens: plan.adminTokens) else {
            return loop.makeSucceededFuture(
                Answer(
                    status: .unauthorized, body: #"{"error":"admin_token_invalid"}"#,
                    headers: [("www-authenticate", #"Bearer realm="palisade-admin""#)]
                ))
        }
        let now = WallClock.now().seconds
        switch (method, path) {
        case (.GET, "/admin/bans"), (.HEAD, "/admin/bans"):
            return list(now: now)
        case (.POST, "/admin/bans"):
            return add(body, now: now)
        case (.DELETE, _) where path.hasPrefix("/admin/bans/"):
            return lift(String(path.dropFirst("/admin/bans/".count)), now: now)
        case (_, "/admin/bans"),
            (_, _) where path.hasPrefix("/admin/bans/"):
            return answer(.methodNotAllowed, error: "method_not_allowed")
        default:
            return answer(.notFound, error: "not_found")
        }
    }

    private func list(now: Int64) -> EventLoopFuture<Answer> {
        plan.store.activeBans(now: now, limit: Self.maxListed, on: loop).map { bans in
            let items = bans.compactMap { listed -> String? in
                guard listed.key.hasPrefix("ban:") else { return nil }
                let client = String(listed.key.dropFirst(4))
                let r = listed.record
                return #"{"client":\#(JSONText.quoted(client)),"until":\#(r.until),"seconds_left":\#(r.secondsLeft(at: now)),"#
                    + #""reason":\#(JSONText.quoted(r.reason)),"offences":\#(r.offences)}"#
            }
            return Answer(status: .ok, body: #"{"bans":[\#(items.joined(separator: ","))]}"#)
        }
    }

    private func add(_ body: ByteBuffer?, now: Int64) -> EventLoopFuture<Answer> {
        guard let body, let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else {
            return answer(.badRequest, error: "invalid_json")
        }
        guard let clientText = object["client"] as? String, let client = IPAddressBytes(parsing: clientText) else {
            return answer(.badRequest, error: "invalid_client")
        }
        guard let durationText = object["duration"] as? String, let duration = PolicyDuration(parsing: durationText),
            duration.nanoseconds >= 1_000_000_000
        else {
            return answer(.badRequest, error: "invalid_duration")
        }
        // The reason is shown in lists and logs: a short token, never free text.
        let reason = (object["reason"] as? String) ?? "admin"
        guard Self.isReason(reason) else { return answer(.badRequest, error: "invalid_reason") }
        let seconds = duration.nanoseconds / 1_000_000_000
        let terms = BanTerms(first: seconds, longest: seconds, memory: 0)
        return plan.store.ban(AbuseGuard.banKey(client.description), reason: reason, terms: terms, now: now, on: loop).map { outcome in
            switch outcome {
            case .banned(let record):
                logger.warning(
                    "client banned by the admin API",
                    metadata: [
                        "event": "ban", "source": "admin", "client_ip": "\(client)", "reason": "\(reason)", "until": "\(record.until)",
                    ]
                )
                var event = SecurityEvent(type: .ban, reason: reason, client: SecurityEvent.maskedClient(client))
                event.details = [("source", "admin"), ("until", String(record.until))]
                securityEvents.record(event)
                return Answer(
                    status: .created,
                    body:
                        #"{"client":\#(JSONText.quoted(client.description)),"until":\#(record.until),"reason":\#(JSONText.quoted(reason))}"#
                )
            case .refused(let refusal):
                return Answer(status: .serviceUnavailable, body: #"{"error":\#(JSONText.quoted(refusal.rejection.code))}"#)
            }
        }
    }

    private func lift(_ clientText: String, now: Int64) -> EventLoopFuture<Answer> {
        let decoded = clientText.removingPercentEncoding ?? clientText
        guard let client = IPAddressBytes(parsing: decoded) else { return answer(.badRequest, error: "invalid_client") }
        return plan.store.liftBan(AbuseGuard.banKey(client.description), now: now, on: loop).map { lifted in
            guard lifted else { return Answer(status: .notFound, body: #"{"error":"not_banned"}"#) }
            logger.warning("ban lifted by the admin API", metadata: ["event": "unban", "source": "admin", "client_ip": "\(client)"])
            var event = SecurityEvent(type: .unban, client: SecurityEvent.maskedClient(client))
            event.details = [("source", "admin")]
            securityEvents.record(event)
            return Answer(status: .ok, body: #"{"client":\#(JSONText.quoted(client.description)),"lifted":true}"#)
        }
    }

    static func isReason(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 64
            && text.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5f || $0 == 0x2d || $0 == 0x2e }
    }

    private func answer(_ status: HTTPResponseStatus, error: String) -> EventLoopFuture<Answer> {
        loop.makeSucceededFuture(Answer(status: status, body: #"{"error":"\#(error)"}"#))
    }
}
