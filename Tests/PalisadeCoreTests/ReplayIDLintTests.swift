import Foundation
import Testing

@testable import PalisadeCore

/// `palisade check` warns when a replay id on a signed route is a header the signature does not
/// cover: a captured delivery would pass again with each new id.
@Suite("Replay id lint")
struct ReplayIDLintTests {
    static func warnings(_ guards: String) -> [PolicyDiagnostic] {
        let yaml = """
            version: 1
            upstream:
              url: http://127.0.0.1:3000
            secrets:
              hook: { env: HOOK_SECRET }
            routes:
              - name: hooks
                match: { path: /hooks }
                guards:
            \(guards)
            """
        let result = PolicyDecoder.decode(yaml: yaml, file: "lint.yaml")
        #expect(result.errors.isEmpty, "\(result.errors)")
        return result.warnings
    }

    @Test("github with replay on X-GitHub-Delivery warns at the id, naming the header and the fix")
    func unsignedHeaderWarns() throws {
        let warnings = Self.warnings(
            """
                  - hmac: { preset: github, secret: hook }
                  - replay: { id: "header:X-GitHub-Delivery", ttl: 72h }
            """)
        let warning = try #require(warnings.first)
        #expect(warnings.count == 1)
        #expect(warning.severity == .warning)
        #expect(warning.position.keyPath == "routes[0].guards[1].replay.id")
        #expect(warning.position.line == 11)
        #expect(warning.message.contains("replay id header 'x-github-delivery' is not covered by the hmac signature"))
        #expect(warning.message.contains("id: signature"))
    }

    @Test("the other unsigned ids warn too: Shopify's event id, a signature header's text, an unsigned generic id_header")
    func otherUnsignedHeaders() {
        let cases = [
            """
                  - hmac: { preset: shopify, secret: hook }
                  - replay: { id: "header:x-shopify-event-id", ttl: 48h }
            """,
            """
                  - hmac: { preset: github, secret: hook }
                  - replay: { id: "header:x-hub-signature-256", ttl: 48h }
            """,
            """
                  - hmac: { preset: stripe, secret: hook }
                  - replay: { id: "header:stripe-signature", ttl: 48h }
            """,
            """
                  - hmac: { preset: generic, secret: hook, header: x-sig, id_header: x-id }
                  - replay: { id: "header:x-id", ttl: 1h }
            """,
            // Order does not matter: the route's requests are signed either way.
            """
                  - replay: { id: "header:x-github-delivery", ttl: 1h }
                  - hmac: { preset: github, secret: hook }
            """,
        ]
        for guards in cases {
            #expect(Self.warnings(guards).count == 1, "\(guards)")
        }
    }

    @Test("signed ids do not warn: signature, a field of the signed body, webhook-id, a signed generic id, no hmac at all")
    func signedIDsDoNotWarn() {
        let cases = [
            """
                  - hmac: { preset: github, secret: hook }
                  - replay: { id: signature, ttl: 72h }
            """,
            """
                  - hmac: { preset: stripe, secret: hook }
                  - replay: { id: "json:$.id", ttl: 72h }
            """,
            """
                  - hmac: { preset: standard-webhooks, secret: hook }
                  - replay: { id: "header:webhook-id", ttl: 24h }
            """,
            """
                  - hmac: { preset: standard-webhooks, secret: hook }
                  - replay: { id: "header:svix-id", ttl: 24h }
            """,
            """
                  - hmac: { preset: generic, secret: hook, header: x-sig, id_header: x-id, payload: "{id}.{body}" }
                  - replay: { id: "header:x-id", ttl: 1h }
            """,
            """
                  - replay: { id: "header:x-delivery", ttl: 1h }
            """,
        ]
        for guards in cases {
            #expect(Self.warnings(guards).isEmpty, "\(guards)")
        }
    }

    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test("every shipped policy (policies/, examples/) passes check without a warning")
    func shippedPoliciesHaveNoWarnings() throws {
        let directory = Self.repoRoot.appendingPathComponent("policies")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }
        #expect(names.count >= 9)
        let paths =
            names.map { directory.appendingPathComponent($0).path }
            + [Self.repoRoot.appendingPathComponent("examples/compose-policy.yaml").path]
        for path in paths {
            let result = PolicyDecoder.decode(contentsOf: path)
            #expect(result.errors.isEmpty, "\(path): \(result.errors)")
            #expect(result.warnings.isEmpty, "\(path): \(result.warnings.map(\.description))")
        }
    }
}
