import Foundation
import PalisadeCore
import PalisadeTesting
import Testing

/// `alerts.webhook`: a ban and a burst of bad signatures are announced to a receiver that
/// verifies each delivery with the `standardwebhooks` library; a receiver that fails is retried.
/// The ban is made through the admin API: an `abuse:` section would move the process-wide abuse
/// counters that the abuse suite asserts exact deltas of, while both run at once.
@Suite("Alert webhook", .serialized)
struct AlertWebhookTests {
    /// Standard Webhooks secrets are `whsec_` + base64 of the key.
    static let secret = "whsec_" + Data("alert-signing-key-0123456789abcd".utf8).base64EncodedString()

    static func policy(receiver: Int) -> String {
        """
        version: 1
        listen: 127.0.0.1:0
        upstream: { url: "{{UPSTREAM}}" }
        admin: { listen: 127.0.0.1:0, token: admin }
        secrets:
          hook: { value: hook-secret-0123456789 }
          alerts: { value: \(secret) }
          admin: { value: admin-token-0123456789 }
        alerts:
          webhook: http://127.0.0.1:\(receiver)/palisade/alerts
          secret: alerts
          signature_failures: { count: 3, window: 1m }
        routes:
          - name: hook
            match: { path: /hook, methods: [POST] }
            guards:
              - hmac: { preset: github, secret: hook }
        default: deny
        """
    }

    @Test("bad signatures: the third in the window sends one signature_failures alert; a ban sends a ban alert; both verify")
    func alertsVerify() async throws {
        let receiver = try PythonWebhookReceiver(secret: Self.secret, failFirst: 1)
        defer { receiver.stop() }
        try await ProxyHarness.with(yaml: Self.policy(receiver: receiver.port)) { harness in
            for _ in 0..<4 {
                let refused = try await RawClient.get(
                    "/hook", port: harness.proxyPort, headers: [("X-Hub-Signature-256", "sha256=" + String(repeating: "0", count: 64))],
                    method: "POST", body: "{}")
                #expect(refused.status == 401)
            }
            let banned = try await RawClient.get(
                "/admin/bans", port: try #require(harness.adminPort),
                headers: [("Authorization", "Bearer admin-token-0123456789"), ("Content-Type", "application/json")], method: "POST",
                body: #"{"client":"127.0.0.1","duration":"1h","reason":"incident_7"}"#)
            #expect(banned.status == 201)
            let arrived = await TestSupport.eventually(timeout: .seconds(10)) { receiver.deliveries.count >= 2 }
            #expect(arrived, "deliveries: \(receiver.deliveries)")
            let deliveries = receiver.deliveries
            #expect(deliveries.allSatisfy { $0["verified"] as? Bool == true }, "\(deliveries)")
            let bodies = deliveries.compactMap {
                ($0["body"] as? String).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            }
            let kinds = Set(bodies.compactMap { $0["alert"] as? String })
            #expect(kinds == ["signature_failures", "ban"], "\(bodies)")
            let ban = try #require(bodies.first { $0["alert"] as? String == "ban" })
            let event = try #require(ban["event"] as? [String: Any])
            #expect(event["client"] as? String == "127.0.0.0/24")
            #expect(event["event"] as? String == "ban")
            // The first delivery was answered 503 and sent again.
            #expect(deliveries.contains { ($0["attempt"] as? Int ?? 0) >= 2 })
            let metrics = try await RawClient.get("/metrics", port: try #require(harness.adminPort)).bodyText
            #expect(TestSupport.metricValue(metrics, #"palisade_alerts_total{result="sent"}"#) == 2)
            #expect(TestSupport.metricValue(metrics, #"palisade_alerts_total{result="failed"}"#) == 0)
            let text = await harness.accessLogText()
            #expect(!text.contains("alert-signing-key"))
        }
    }
}
