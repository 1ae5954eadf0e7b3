import NIOCore
import Synchronization

/// What a security event is about. Its raw value is the `event` field of the line and the `type`
/// label of `palisade_security_events_total`.
public enum SecurityEventType: String, CaseIterable, Sendable {
    /// A guard (or an admit guard) refused a request.
    case refusal
    case ban
    case unban
    case policyReload = "policy_reload"
    /// A signature verified with a secret other than the first of its rotation: the old one is
    /// still in use by the sender.
    case secretRotation = "secret_rotation"
    case jwksFailure = "jwks_failure"
    /// The shared store could not answer (timeout, connection, down) and `on_error` answered.
    case storeFailure = "store_failure"

    var index: Int { Self.allCases.firstIndex(of: self)! }
}

/// One security event: written as a JSON line with `"type":"security"` on the same stream as the
/// access lines (one stream to ship, one order of events; a shipper splits on `type`). No field
/// holds a secret, a token or a client's full address: the client is its network (`/24`, `/48`),
/// the request id joins the event to its access line.
struct SecurityEvent {
    var type: SecurityEventType
    var route: String?
    var guardKind: String?
    var reason: String?
    /// The client's network, from `SecurityEvent.maskedClient`.
    var client: String?
    var requestID: String?
    /// Further fixed-vocabulary facts (`until`, `offences`, `digest`, `generation`, `secret`).
    var details: [(String, String)] = []

    /// IPv4 to its /24, IPv6 to its /48: enough to act on (and to match a ban's network), not a
    /// person's address.
    static func maskedClient(_ address: IPAddressBytes) -> String {
        if address.isIPv4Mapped {
            return IPAddressBytes(high: 0, low: address.low & ~0xff).description + "/24"
        }
        return IPAddressBytes(high: address.high & 0xffff_ffff_ffff_0000, low: 0).description + "/48"
    }

    func encode(at time: WallClock.Instant, clock: inout TimestampCache, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("{\"ts\":\"")
        clock.write(time, into: &buffer)
        buffer.writeStaticString("\",\"type\":\"security\",\"event\":")
        writeJSONString(type.rawValue, into: &buffer)
        for (name, value) in [("route", route), ("guard", guardKind), ("reason", reason), ("client", client), ("request_id", requestID)] {
            guard let value else { continue }
            buffer.writeStaticString(",")
            writeJSONString(name, into: &buffer)
            buffer.writeStaticString(":")
            writeJSONString(value, into: &buffer)
        }
        for (name, value) in details {
            buffer.writeStaticString(",")
            writeJSONString(name, into: &buffer)
            buffer.writeStaticString(":")
            writeJSONString(value, into: &buffer)
        }
        buffer.writeStaticString("}\n")
    }
}

/// A runtime's security events outside the request path (bans, reloads, key-set and store
/// failures, admin changes): each written at once to the access sink as one whole line, and
/// counted. Refusals, which a flood makes many, go through each loop's `AccessLogWriter` batch
/// instead and are counted here too.
public final class SecurityEventLog: Sendable {
    private let sink: any AccessLogSink
    /// The events written here (off the loops); each loop's writer counts its own.
    private let counts: Mutex<[Int]>
    private let clock = Mutex(TimestampCache())
    /// `alerts.webhook`, when the policy in force has one.
    let alerts = Mutex<AlertSender?>(nil)

    public init(sink: any AccessLogSink) {
        self.sink = sink
        counts = Mutex([Int](repeating: 0, count: SecurityEventType.allCases.count))
    }

    private func count(_ type: SecurityEventType) {
        counts.withLock { $0[type.index] &+= 1 }
    }

    /// A refusal written by a loop (which counts it): a signature failure is told to the alerts.
    func noteRefusal(_ event: SecurityEvent) {
        if event.guardKind == "hmac", let sender = alerts.withLock({ $0 }) { sender.noteSignatureFailure(event) }
    }

    /// Uses the alert settings of the plan in force: a changed `alerts:` (or its secret) makes a
    /// new sender; alerts already queued on the old one still go out.
    func configureAlerts(_ spec: AlertsSpec?, secret: Secret?) {
        let retired = alerts.withLock { current -> AlertSender? in
            if let current, current.spec == spec, let secret, current.hasSecret(secret) { return nil }
            let old = current
            current = spec.flatMap { spec in secret.flatMap { try? AlertSender(spec: spec, secret: $0) } }
            return old
        }
        retired?.shutdownLater()
    }

    var snapshot: [Int] { counts.withLock { $0 } }

    func record(_ event: SecurityEvent) {
        var buffer = ByteBufferAllocator().buffer(capacity: 256)
        let now = WallClock.now()
        clock.withLock { event.encode(at: now, clock: &$0, into: &buffer) }
        buffer.withUnsafeReadableBytes { sink.write($0) }
        count(event.type)
        if event.type == .ban, let sender = alerts.withLock({ $0 }) { sender.alert(event) }
    }
}
