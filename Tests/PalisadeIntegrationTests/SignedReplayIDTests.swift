import Foundation
import PalisadeCore
import PalisadeTesting
import Testing

/// The shipped webhook policies, run as written (only addresses and secret sources swapped for
/// the test's), against a captured delivery sent again with fresh unsigned ids: a replay id must
/// be covered by the signature, or whoever captured one delivery can replay it at will.
@Suite("Signed replay ids", .serialized)
struct SignedReplayIDTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    /// The value DemoPolicyTests gives the shipped policies' variables, so that running both at
    /// once cannot change a secret under the other.
    static let sharedSecret = "whsec_dGVzdC1zZWNyZXQtdGVzdC1zZWNyZXQ="

    /// A shipped policy with test addresses; file secrets point at a file holding `secret`.
    static func shipped(_ name: String, secret: String) throws -> String {
        var text = try String(contentsOf: repoRoot.appendingPathComponent("policies/\(name)"), encoding: .utf8)
        text = text.replacingOccurrences(of: "listen: 0.0.0.0:8080", with: "listen: 127.0.0.1:0")
            .replacingOccurrences(of: "listen: 0.0.0.0:9901", with: "listen: 127.0.0.1:0")
            .replacingOccurrences(of: "url: http://127.0.0.1:3000", with: "url: \"{{UPSTREAM}}\"")
        let secretPath = try TemporaryFiles.file(secret, named: "secret", prefix: "palisade-shipped")
        return text.replacingOccurrences(of: "/var/run/secrets/github-webhook/secret", with: secretPath)
    }

    static func post(_ path: String, headers: [(String, String)], body: String) -> [UInt8] {
        RawClient.request("POST", path, headers: [("Content-Type", "application/json")] + headers, body: body)
    }

    @Test("policies/github.yaml: one signed body sent 3 times with new X-GitHub-Delivery ids reaches the app once")
    func github() async throws {
        let secret = "It's a Secret to Everybody"
        let body = #"{"action":"opened","number":1}"#
        let signed = try PythonSigner.sign(.init(preset: "github", secret: secret, body: body, timestamp: 0))
        let signature = try #require(signed.first { $0.0 == "X-Hub-Signature-256" }?.1)
        try await ProxyHarness.with(yaml: try Self.shipped("github.yaml", secret: secret)) { harness in
            var statuses: [Int] = []
            for delivery in ["72d3162e-cc78-11e3-81ab-4c9367dc0958", "72d3162e-cc78-11e3-81ab-4c9367dc0959", UUID().uuidString] {
                let outcome = try await RawClient.send(
                    Self.post("/webhooks/github", headers: signed + [("X-GitHub-Delivery", delivery)], body: body), port: harness.proxyPort
                )
                statuses.append(outcome.first?.status ?? 0)
                if statuses.count > 1 { #expect(outcome.first?.json?["status"] as? String == "duplicate_acknowledged") }
            }
            #expect(statuses == [200, 200, 200])
            #expect(harness.upstream.requests.count == 1)
            // The same MAC spelled in upper-case hex verifies, and is still the same delivery.
            let upper = "sha256=" + signature.dropFirst("sha256=".count).uppercased()
            let respelled = try await RawClient.send(
                Self.post("/webhooks/github", headers: [("X-Hub-Signature-256", upper), ("X-GitHub-Delivery", "new")], body: body),
                port: harness.proxyPort
            )
            #expect(respelled.first?.json?["status"] as? String == "duplicate_acknowledged")
            // Another signed body is another delivery.
            let other = #"{"action":"closed","number":1}"#
            let otherSigned = try PythonSigner.sign(.init(preset: "github", secret: secret, body: other, timestamp: 0))
            let fresh = try await RawClient.send(Self.post("/webhooks/github", headers: otherSigned, body: other), port: harness.proxyPort)
            #expect(fresh.first?.status == 200)
            #expect(harness.upstream.requests.count == 2)
        }
    }

    @Test("policies/shopify.yaml: one signed body sent 3 times with new X-Shopify-Event-Id values reaches the app once")
    func shopify() async throws {
        for name in ["SHOPIFY_CLIENT_SECRET", "SHOPIFY_CLIENT_SECRET_OLD"] { setenv(name, Self.sharedSecret, 1) }
        let body = #"{"id":820982911946154508,"email":"jon@example.com"}"#
        let signed = try PythonSigner.sign(.init(preset: "shopify", secret: Self.sharedSecret, body: body, timestamp: 0))
        try await ProxyHarness.with(yaml: try Self.shipped("shopify.yaml", secret: "")) { harness in
            for event in ["evt-1", "evt-2", "evt-3"] {
                let outcome = try await RawClient.send(
                    Self.post("/webhooks/shopify/orders", headers: signed + [("X-Shopify-Event-Id", event)], body: body),
                    port: harness.proxyPort
                )
                #expect(outcome.first?.status == 200)
            }
            #expect(harness.upstream.requests.count == 1)
        }
    }

    @Test("ids are compared exactly: ids that differ only in case are two deliveries")
    func caseExact() async throws {
        let yaml = """
            version: 1
            listen: 127.0.0.1:0
            upstream: { url: "{{UPSTREAM}}" }
            routes:
              - name: hooks
                match: { prefix: / }
                guards:
                  - replay: { id: "json:$.id", ttl: 1h }
            default: deny
            """
        try await ProxyHarness.with(yaml: yaml) { harness in
            for id in ["evt_AbC", "evt_abc", "EVT_ABC"] {
                let outcome = try await RawClient.send(Self.post("/hooks", headers: [], body: #"{"id":"\#(id)"}"#), port: harness.proxyPort)
                #expect(outcome.first?.status == 200, "\(id)")
            }
            let again = try await RawClient.send(Self.post("/hooks", headers: [], body: #"{"id":"evt_AbC"}"#), port: harness.proxyPort)
            #expect(again.first?.status == 409)
            #expect(harness.upstream.requests.count == 3)
        }
    }
}
