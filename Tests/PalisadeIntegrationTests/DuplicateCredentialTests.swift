import Foundation
import PalisadeCore
import PalisadeTesting
import Testing

/// A credential, signature or delivery id sent twice, through the real proxy with raw bytes: the
/// guard would verify one copy while the app might read the other, so each is refused with 400
/// `duplicate_credential_header` naming the header (never its value) and never reaches the app.
/// Each test first sends the valid request alone, so a refusal is the duplicate's doing.
@Suite("Duplicate credential headers", .serialized)
struct DuplicateCredentialTests {
    static let hsSecret = "hs-shared-secret-for-the-api-0123456789"
    static let apiKey = "pk_live_4f0c2b8e9a71d3c5"
    static let githubSecret = "It's a Secret to Everybody"
    static let stripeSecret = "whsec_stripe_test_secret_0123456789"
    static let svixSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    static func withHarness(_ body: (ProxyHarness) async throws -> Void) async throws {
        let keysPath = try TemporaryFiles.file(
            "keys:\n  - id: ci-bot\n    sha256: \(try Python.sha256Hex(apiKey))\n", named: "keys.yaml", prefix: "palisade-dup"
        )
        let yaml = """
            version: 1
            listen: 127.0.0.1:0
            upstream: { url: "{{UPSTREAM}}" }
            secrets:
              hs: { value: "\(hsSecret)" }
              github: { value: "\(githubSecret)" }
              stripe: { value: "\(stripeSecret)" }
              svix: { value: "\(svixSecret)" }
            routes:
              - name: jwt
                match: { prefix: /jwt/ }
                guards:
                  - jwt: { secret: hs, algorithms: [HS256], cookie: session }
              - name: keys
                match: { prefix: /keys/ }
                guards:
                  - api_key: { keys_file: \(keysPath) }
              - name: github
                match: { path: /hooks/github }
                guards:
                  - hmac: { preset: github, secret: github }
              - name: stripe
                match: { path: /hooks/stripe }
                guards:
                  - hmac: { preset: stripe, secret: stripe }
              - name: standard
                match: { path: /hooks/standard }
                guards:
                  - hmac: { preset: standard-webhooks, secret: svix }
                  - replay: { id: "header:webhook-id", ttl: 1h }
              - name: delivery
                match: { path: /hooks/delivery }
                guards:
                  - replay: { id: "header:x-delivery-id", ttl: 1h }
            default: deny
            """
        try await ProxyHarness.with(yaml: yaml) { harness in try await body(harness) }
    }

    /// A request written field by field, exactly as given: repeated names and any spelling.
    static func raw(_ method: String, _ path: String, _ fields: [(String, String)], body: String = "") -> [UInt8] {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (name, value) in fields { text += "\(name): \(value)\r\n" }
        if method == "POST" { text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
        return Array((text + "\r\n" + body).utf8)
    }

    static func send(_ bytes: [UInt8], port: Int) async throws -> WireResponse {
        let outcome = try await RawClient.send(bytes, port: port)
        return try #require(outcome.first, "no response: \(String(decoding: outcome.raw, as: UTF8.self))")
    }

    /// Sends each request and checks it is refused as a duplicate of `header`, without the app.
    static func expectRefused(
        _ requests: [(String, [UInt8])], header: String, secretsNotEchoed: [String], harness: ProxyHarness
    ) async throws {
        let before = harness.upstream.requests.count
        for (label, bytes) in requests {
            let response = try await send(bytes, port: harness.proxyPort)
            #expect(response.status == 400, "\(label): \(response.status) \(response.bodyText)")
            #expect(response.json?["error"] as? String == "duplicate_credential_header", "\(label): \(response.bodyText)")
            #expect(response.json?["header"] as? String == header, "\(label): \(response.bodyText)")
            for secret in secretsNotEchoed { #expect(!response.bodyText.contains(secret), "\(label) echoes a value") }
        }
        #expect(harness.upstream.requests.count == before, "a duplicate reached the app")
    }

    @Test("a valid PyJWT token with a second Authorization, in any spelling or joined by a comma, is refused")
    func authorization() async throws {
        let token = try PythonJWT.mint(
            alg: "HS256", secret: Self.hsSecret, claims: ["sub": "user-42", "exp": Int(Date().timeIntervalSince1970) + 300]
        )
        try await Self.withHarness { harness in
            let alone = try await Self.send(Self.raw("GET", "/jwt/x", [("Authorization", "Bearer \(token)")]), port: harness.proxyPort)
            #expect(alone.status == 200, "\(alone.bodyText)")
            #expect(harness.upstream.requests.count == 1)
            try await Self.expectRefused(
                [
                    ("second bearer", Self.raw("GET", "/jwt/x", [("Authorization", "Bearer \(token)"), ("Authorization", "Bearer xxx")])),
                    (
                        "second bearer first",
                        Self.raw("GET", "/jwt/x", [("Authorization", "Bearer xxx"), ("Authorization", "Bearer \(token)")])
                    ),
                    (
                        "case variants",
                        Self.raw("GET", "/jwt/x", [("authorization", "Bearer \(token)"), ("AUTHORIZATION", "Bearer \(token)")])
                    ),
                    (
                        "basic beside bearer",
                        Self.raw("GET", "/jwt/x", [("Authorization", "Bearer \(token)"), ("Authorization", "Basic YWRtaW46YWRtaW4=")])
                    ),
                    ("comma-joined", Self.raw("GET", "/jwt/x", [("Authorization", "Bearer \(token), Bearer xxx")])),
                ],
                header: "authorization", secretsNotEchoed: [token, "xxx"], harness: harness
            )
            try await Self.expectRefused(
                [("two session cookies", Self.raw("GET", "/jwt/x", [("Cookie", "session=\(token); session=xxx")]))],
                header: "cookie", secretsNotEchoed: [token], harness: harness
            )
            let cookie = try await Self.send(
                Self.raw("GET", "/jwt/x", [("Cookie", "theme=dark; session=\(token)")]), port: harness.proxyPort)
            #expect(cookie.status == 200, "\(cookie.bodyText)")
        }
    }

    @Test("a valid API key with a second key header, in any spelling, is refused")
    func apiKey() async throws {
        try await Self.withHarness { harness in
            let alone = try await Self.send(Self.raw("GET", "/keys/x", [("X-API-Key", Self.apiKey)]), port: harness.proxyPort)
            #expect(alone.status == 200, "\(alone.bodyText)")
            #expect(harness.upstream.requests.count == 1)
            try await Self.expectRefused(
                [
                    ("second key", Self.raw("GET", "/keys/x", [("X-API-Key", Self.apiKey), ("X-API-Key", "pk_guess")])),
                    ("case variants", Self.raw("GET", "/keys/x", [("x-api-key", Self.apiKey), ("X-API-KEY", Self.apiKey)])),
                ],
                header: "x-api-key", secretsNotEchoed: [Self.apiKey, "pk_guess"], harness: harness
            )
        }
    }

    @Test("a valid GitHub, Stripe or Standard Webhooks signature with a second signature, timestamp or id header is refused")
    func signatures() async throws {
        let body = #"{"id":"evt_1","action":"opened"}"#
        let now = Int(Date().timeIntervalSince1970)
        let github = try PythonSigner.sign(.init(preset: "github", secret: Self.githubSecret, body: body, timestamp: now))
        let stripe = try PythonSigner.sign(.init(preset: "stripe", secret: Self.stripeSecret, body: body, timestamp: now))
        let standard = try PythonSigner.sign(
            .init(preset: "standard-webhooks", secret: Self.svixSecret, body: body, timestamp: now, id: "msg_a"))
        let githubSignature = try #require(github.first { $0.0 == "X-Hub-Signature-256" }?.1)
        let stripeSignature = try #require(stripe.first { $0.0 == "Stripe-Signature" }?.1)
        try await Self.withHarness { harness in
            for (path, headers) in [("/hooks/github", github), ("/hooks/stripe", stripe), ("/hooks/standard", standard)] {
                let alone = try await Self.send(Self.raw("POST", path, headers, body: body), port: harness.proxyPort)
                #expect(alone.status == 200, "\(path): \(alone.bodyText)")
            }
            #expect(harness.upstream.requests.count == 3)
            let zeros = "sha256=" + String(repeating: "0", count: 64)
            try await Self.expectRefused(
                [
                    ("second signature", Self.raw("POST", "/hooks/github", github + [("X-Hub-Signature-256", zeros)], body: body)),
                    ("second signature first", Self.raw("POST", "/hooks/github", [("x-hub-signature-256", zeros)] + github, body: body)),
                    (
                        "comma-joined",
                        Self.raw("POST", "/hooks/github", [("X-Hub-Signature-256", "\(githubSignature), \(zeros)")], body: body)
                    ),
                ],
                header: "x-hub-signature-256", secretsNotEchoed: [githubSignature], harness: harness
            )
            try await Self.expectRefused(
                [
                    ("second header", Self.raw("POST", "/hooks/stripe", stripe + [("STRIPE-SIGNATURE", "t=1,v1=00")], body: body)),
                    // Two headers an intermediary joined: the second `t` must not go unnoticed.
                    (
                        "comma-joined",
                        Self.raw("POST", "/hooks/stripe", [("Stripe-Signature", "\(stripeSignature), t=1,v1=00")], body: body)
                    ),
                ],
                header: "stripe-signature", secretsNotEchoed: [stripeSignature], harness: harness
            )
            try await Self.expectRefused(
                [("second id", Self.raw("POST", "/hooks/standard", standard + [("Webhook-Id", "msg_b")], body: body))],
                header: "webhook-id", secretsNotEchoed: [], harness: harness
            )
            // Svix's SDK reads svix-id before webhook-id: a different svix-id is a second id.
            try await Self.expectRefused(
                [("svix-id disagrees", Self.raw("POST", "/hooks/standard", standard + [("svix-id", "msg_b")], body: body))],
                header: "svix-id", secretsNotEchoed: [], harness: harness
            )
        }
    }

    @Test("a replay id header sent twice is refused; one id goes through once")
    func replayID() async throws {
        try await Self.withHarness { harness in
            let once = try await Self.send(
                Self.raw("POST", "/hooks/delivery", [("X-Delivery-Id", "d-1")], body: "{}"), port: harness.proxyPort)
            #expect(once.status == 200)
            try await Self.expectRefused(
                [
                    ("second id", Self.raw("POST", "/hooks/delivery", [("X-Delivery-Id", "d-2"), ("x-delivery-id", "d-3")], body: "{}")),
                    (
                        "same id twice",
                        Self.raw("POST", "/hooks/delivery", [("X-Delivery-Id", "d-4"), ("X-DELIVERY-ID", "d-4")], body: "{}")
                    ),
                ],
                header: "x-delivery-id", secretsNotEchoed: [], harness: harness
            )
            #expect(harness.upstream.requests.count == 1)
        }
    }
}
