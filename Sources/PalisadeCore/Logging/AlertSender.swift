import Crypto
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// Announces bans and bursts of signature failures to `alerts.webhook`, on a thread of its own:
/// a request never waits for it. Each alert is a JSON POST signed as Standard Webhooks signs
/// (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>` over
/// `id.timestamp.body`), so any Standard Webhooks library verifies it. Delivery is tried up to
/// `attempts` times with doubling back-off; at most `maxQueued` alerts wait at once, and past
/// that alerts are dropped. Sent, failed and dropped are counted (`palisade_alerts_total`).
final class AlertSender: Sendable {
    let spec: AlertsSpec
    private let key: [UInt8]
    private let secretBytes: [UInt8]
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let tls: NIOSSLContext?
    private let state = Mutex(State())

    static let maxQueued = 256
    static let attempts = 4
    static let firstBackoff = TimeAmount.milliseconds(500)

    private struct State {
        var waiting = 0
        var sent = 0
        var failed = 0
        var dropped = 0
        var failuresInWindow = 0
        var windowStart: Int64 = 0
        var alertedThisWindow = false
    }

    struct Counts: Sendable, Equatable {
        var sent = 0
        var failed = 0
        var dropped = 0
    }

    /// A `whsec_`-prefixed secret is base64 (as Standard Webhooks hands them out); any other is
    /// used as its bytes.
    init(spec: AlertsSpec, secret: Secret) throws {
        self.spec = spec
        secretBytes = secret.bytes
        let text = String(decoding: secret.bytes, as: UTF8.self)
        if text.hasPrefix("whsec_"), let decoded = Data(base64Encoded: String(text.dropFirst(6))) {
            key = Array(decoded)
        } else {
            key = secret.bytes
        }
        tls = spec.isTLS ? try NIOSSLContext(configuration: .makeClientConfiguration()) : nil
    }

    var counts: Counts { state.withLock { Counts(sent: $0.sent, failed: $0.failed, dropped: $0.dropped) } }

    func shutdown() {
        group.shutdownGracefully { _ in }
    }

    /// Retired by a reload: alerts still being delivered get their tries first.
    func shutdownLater() {
        let group = self.group
        group.next().scheduleTask(in: .seconds(30)) { group.shutdownGracefully { _ in } }
    }

    func hasSecret(_ secret: Secret) -> Bool { secretBytes == secret.bytes }

    /// A ban (made by `abuse` or the admin API).
    func alert(_ event: SecurityEvent) {
        enqueue(kind: event.type.rawValue, event: event)
    }

    /// A refusal by an `hmac` guard: the `signature_failures.count`-th within one window sends
    /// one alert for that window.
    func noteSignatureFailure(_ event: SecurityEvent) {
        let now = WallClock.now().seconds
        let window = max(spec.signatureWindow.nanoseconds / 1_000_000_000, 1)
        let fire = state.withLock { s -> Bool in
            if now - s.windowStart >= window {
                s.windowStart = now
                s.failuresInWindow = 0
                s.alertedThisWindow = false
            }
            s.failuresInWindow += 1
            guard s.failuresInWindow >= spec.signatureFailures, !s.alertedThisWindow else { return false }
            s.alertedThisWindow = true
            return true
        }
        guard fire else { return }
        var burst = SecurityEvent(type: .refusal, route: event.route, guardKind: event.guardKind, reason: event.reason)
        burst.details = [("count", String(spec.signatureFailures)), ("window_seconds", String(window))]
        enqueue(kind: "signature_failures", event: burst)
    }

    private func enqueue(kind: String, event: SecurityEvent) {
        let admitted = state.withLock { s -> Bool in
            guard s.waiting < Self.maxQueued else {
                s.dropped += 1
                return false
            }
            s.waiting += 1
            return true
        }
        guard admitted else { return }
        let body = Self.body(kind: kind, event: event)
        let loop = group.next()
        loop.execute { self.deliver(body, attempt: 1, on: loop) }
    }

    static func body(kind: String, event: SecurityEvent) -> [UInt8] {
        var buffer = ByteBufferAllocator().buffer(capacity: 256)
        buffer.writeStaticString("{\"type\":\"palisade.alert\",\"alert\":")
        writeJSONString(kind, into: &buffer)
        buffer.writeStaticString(",\"event\":")
        var clock = TimestampCache()
        event.encode(at: WallClock.now(), clock: &clock, into: &buffer)
        // `encode` ends its line with a newline; the alert is one JSON object.
        buffer.moveWriterIndex(to: buffer.writerIndex - 1)
        buffer.writeStaticString("}")
        return Array(buffer.readableBytesView)
    }

    private func deliver(_ body: [UInt8], attempt: Int, on loop: any EventLoop) {
        let request = signedRequest(body)
        OneShotHTTPClient.send(
            request, host: spec.host, port: spec.port, tls: tls, timeout: .nanoseconds(spec.timeout.nanoseconds),
            timeoutText: "\(spec.timeout)", maxBytes: 64 << 10, accepts: { (200..<300).contains($0) }, on: loop
        ).whenComplete { result in
            switch result {
            case .success:
                self.state.withLock {
                    $0.waiting -= 1
                    $0.sent += 1
                }
            case .failure:
                guard attempt < Self.attempts else {
                    self.state.withLock {
                        $0.waiting -= 1
                        $0.failed += 1
                    }
                    return
                }
                let delay = Self.firstBackoff * Int64(1 << (attempt - 1))
                loop.scheduleTask(in: delay) { self.deliver(body, attempt: attempt + 1, on: loop) }
            }
        }
    }

    /// A fresh id and timestamp per attempt: a receiver's replay window sees a new delivery.
    private func signedRequest(_ body: [UInt8]) -> ByteBuffer {
        let id = "msg_" + HexText.lowercase((0..<12).map { _ in UInt8.random(in: 0...255) })
        let timestamp = String(WallClock.now().seconds)
        var signed = Array("\(id).\(timestamp).".utf8)
        signed += body
        let mac = HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: key))
        let signature = "v1," + Data(mac).base64EncodedString()
        let defaultPort = spec.isTLS ? 443 : 80
        let hostField = spec.host.contains(":") ? "[\(spec.host)]" : spec.host
        let authority = spec.port == defaultPort ? hostField : "\(hostField):\(spec.port)"
        var request = ByteBufferAllocator().buffer(capacity: 512 + body.count)
        request.writeString(
            "POST \(spec.target) HTTP/1.1\r\nhost: \(authority)\r\ncontent-type: application/json\r\n"
                + "content-length: \(body.count)\r\nuser-agent: palisade/\(PalisadeVersion.current)\r\n"
                + "webhook-id: \(id)\r\nwebhook-timestamp: \(timestamp)\r\nwebhook-signature: \(signature)\r\n"
                + "connection: close\r\n\r\n")
        request.writeBytes(body)
        return request
    }
}
