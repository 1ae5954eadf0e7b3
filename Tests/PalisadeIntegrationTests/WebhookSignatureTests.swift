import Foundation
import PalisadeCore
import PalisadeTesting
import Testing

/// The `hmac` guard through the real proxy, with signatures made by independent implementations
/// (Python's hmac, the standardwebhooks and stripe packages): valid deliveries reach the app with
/// the body byte-identical; wrong secrets, tampered bodies, stale or future timestamps, missing and
/// malformed headers are refused with the documented codes and never reach the app.
@Suite("Webhook signatures", .serialized)
struct WebhookSignatureTests {
    static let secrets: [String: String] = [
        "stripe": "whsec_stripe_test_secret_0123456789",
        "github": "It's a Secret to Everybody",
        "standard-webhooks": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "shopify": "shpss_shopify_client_secret",
        "slack": "8f742231b10e8888abcd99yyyzzz85a5",
        "paddle": "pdl_ntfset_01_secret_key",
        "generic-sha512-base64": "generic-secret-value",
    ]
    static let presets = ["stripe", "github", "standard-webhooks", "shopify", "slack", "paddle", "generic-sha512-base64"]
    static let timed: Set<String> = ["stripe", "standard-webhooks", "slack", "paddle", "generic-sha512-base64"]

    /// A policy with one route per preset; each secret is read from a file, as from a Kubernetes secret volume.
    static func policy(directory: URL, secretValues: [String: [String]] = [:]) throws -> String {
        var secretsYAML = ""
        for (name, value) in secrets {
            let key = name.replacingOccurrences(of: "-", with: "_")
            if let rotation = secretValues[name] {
                // Rotation: several values through env variables, newest first.
                let envNames = rotation.indices.map { "PALISADE_TEST_\(key.uppercased())_\($0)" }
                for (env, v) in zip(envNames, rotation) { setenv(env, v, 1) }
                secretsYAML += "  \(key): { env: [\(envNames.joined(separator: ", "))] }\n"
            } else {
                let path = directory.appendingPathComponent(key).path
                try (value + "\n").write(toFile: path, atomically: true, encoding: .utf8)
                secretsYAML += "  \(key): { file: \(path) }\n"
            }
        }
        return """
            version: 1
            listen: 127.0.0.1:0
            upstream:
              url: {{UPSTREAM}}
            admin:
              listen: 127.0.0.1:0
            secrets:
            \(secretsYAML)
            routes:
              - name: stripe
                match: { path: /hooks/stripe }
                guards:
                  - hmac: { preset: stripe, secret: stripe, tolerance: 5m }
              - name: github
                match: { path: /hooks/github }
                guards:
                  - hmac: { preset: github, secret: github }
              - name: standard
                match: { path: /hooks/standard-webhooks }
                guards:
                  - hmac: { preset: standard-webhooks, secret: standard_webhooks }
              - name: shopify
                match: { path: /hooks/shopify }
                guards:
                  - hmac: { preset: shopify, secret: shopify }
              - name: slack
                match: { path: /hooks/slack }
                guards:
                  - hmac: { preset: slack, secret: slack }
              - name: paddle
                match: { path: /hooks/paddle }
                guards:
                  - hmac: { preset: paddle, secret: paddle, tolerance: 30s }
              - name: generic
                match: { path: /hooks/generic-sha512-base64 }
                guards:
                  - hmac:
                      preset: generic
                      secret: generic_sha512_base64
                      header: x-signature
                      algorithm: sha512
                      encoding: base64
                      prefix: "sha512="
                      payload: "{timestamp}.{body}"
                      timestamp_header: x-timestamp
                      tolerance: 5m
            default: deny
            """
    }

    static func post(_ path: String, headers: [(String, String)], body: String, port: Int) -> [UInt8] {
        RawClient.request("POST", path, host: "127.0.0.1:\(port)", headers: [("Content-Type", "application/json")] + headers, body: body)
    }

    static func withHarness(rotation: [String: [String]] = [:], _ body: (ProxyHarness) async throws -> Void) async throws {
        let directory = try TemporaryFiles.directory("palisade-secrets")
        let harness = try await ProxyHarness.start(yaml: try policy(directory: directory, secretValues: rotation))
        do {
            try await body(harness)
        } catch {
            await harness.stop()
            throw error
        }
        await harness.stop()
        // Whatever happened, no secret may appear in what was logged.
        // Each loop handed over its last lines as it stopped.
        let logged = harness.accessLog.lines.joined(separator: "\n")
        for secret in secrets.values { #expect(!logged.contains(secret)) }
    }

    static var now: Int { Int(Date().timeIntervalSince1970) }
    static let body = #"{"id":"evt_1NG8Du2eZvKYlo2C","type":"invoice.paid","data":{"amount":4200,"note":"café ✓"}}"#

    @Test("a delivery signed by the sender's own scheme passes, with the body byte-identical at the app", arguments: presets)
    func validSignature(_ preset: String) async throws {
        try await Self.withHarness { harness in
            let headers = try PythonSigner.sign(.init(preset: preset, secret: Self.secrets[preset]!, body: Self.body, timestamp: Self.now))
            let outcome = try await RawClient.send(
                Self.post("/hooks/\(preset)", headers: headers, body: Self.body, port: harness.proxyPort), port: harness.proxyPort)
            #expect(outcome.first?.status == 200, "\(String(decoding: outcome.raw, as: UTF8.self))")
            let received = try #require(harness.upstream.requests.first)
            #expect(received.body == Array(Self.body.utf8))
            let lines = await harness.accessLines()
            let guards = lines.first?["guards"] as? [[String: Any]]
            #expect(guards?.first?["outcome"] as? String == "ok")
            #expect((guards?.first?["detail"] as? String)?.hasSuffix("#1") == true)
        }
    }

    @Test("a wrong secret, a tampered body, missing or malformed headers are refused and never forwarded", arguments: presets)
    func refusals(_ preset: String) async throws {
        try await Self.withHarness { harness in
            let path = "/hooks/\(preset)"
            let good = try PythonSigner.sign(.init(preset: preset, secret: Self.secrets[preset]!, body: Self.body, timestamp: Self.now))
            let wrongSecret =
                preset == "standard-webhooks"
                ? "whsec_" + Data("another-secret-of-24-bytes!!".utf8).base64EncodedString() : "not-the-secret"
            let forged = try PythonSigner.sign(.init(preset: preset, secret: wrongSecret, body: Self.body, timestamp: Self.now))
            let tamperedBody = Self.body.replacingOccurrences(of: "4200", with: "4201")
            let malformed = good.map { name, value in (name, name.lowercased().contains("timestamp") ? value : "v1=%%%" + value.prefix(3)) }
            let cases: [(String, [(String, String)], String, String)] = [
                ("wrong secret", forged, Self.body, "signature_invalid"),
                ("tampered body", good, tamperedBody, "signature_invalid"),
                ("no signature headers", [], Self.body, "signature_missing"),
                ("malformed signature", malformed, Self.body, "signature_invalid"),
            ]
            for (label, headers, body, code) in cases {
                let outcome = try await RawClient.send(
                    Self.post(path, headers: headers, body: body, port: harness.proxyPort), port: harness.proxyPort)
                #expect(outcome.first?.status == 401, "\(preset) \(label)")
                #expect(outcome.first?.json?["error"] as? String == code, "\(preset) \(label): \(outcome.first?.bodyText ?? "")")
            }
            #expect(harness.upstream.requests.isEmpty)
        }
    }

    @Test(
        "stale and future timestamps are refused", arguments: ["stripe", "standard-webhooks", "slack", "paddle", "generic-sha512-base64"])
    func timestamps(_ preset: String) async throws {
        try await Self.withHarness { harness in
            for offset in [-3600, 3600] {
                let headers = try PythonSigner.sign(
                    .init(preset: preset, secret: Self.secrets[preset]!, body: Self.body, timestamp: Self.now + offset))
                let outcome = try await RawClient.send(
                    Self.post("/hooks/\(preset)", headers: headers, body: Self.body, port: harness.proxyPort), port: harness.proxyPort)
                #expect(outcome.first?.status == 401)
                #expect(outcome.first?.json?["error"] as? String == "timestamp_outside_tolerance", "\(preset) offset \(offset)")
            }
            #expect(harness.upstream.requests.isEmpty)
        }
    }

    @Test("during rotation the old secret still verifies, and the log and metrics say which one matched")
    func rotation() async throws {
        try await Self.withHarness(rotation: ["github": ["new-github-secret", Self.secrets["github"]!]]) { harness in
            for (secret, expected) in [("new-github-secret", "#1"), (Self.secrets["github"]!, "#2")] {
                let headers = try PythonSigner.sign(.init(preset: "github", secret: secret, body: Self.body, timestamp: Self.now))
                let outcome = try await RawClient.send(
                    Self.post("/hooks/github", headers: headers, body: Self.body, port: harness.proxyPort), port: harness.proxyPort)
                #expect(outcome.first?.status == 200)
                let lines = await harness.accessLines()
                let guards = lines.last?["guards"] as? [[String: Any]]
                #expect((guards?.first?["detail"] as? String) == "secret=github\(expected)")
            }
            let metrics = try await harness.metrics()
            #expect(
                metrics.contains(#"palisade_guard_decisions_total{route="github",guard="hmac",outcome="ok",detail="secret=github#2"} 1"#))
        }
    }

    @Test("the Standard Webhooks reference vector verifies (headers exactly as the reference libraries sign)")
    func standardWebhooksVector() async throws {
        let url = try #require(TestVectors.url("standard-webhooks", withExtension: "json"))
        let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let vector = try #require((root["vectors"] as? [[String: Any]])?.first)
        let headers = try #require(vector["headers"] as? [String: String])
        let payload = try #require(vector["payload"] as? String)
        let secret = try #require(vector["secret"] as? String)
        let harness = try await ProxyHarness.start(
            yaml: """
                version: 1
                listen: 127.0.0.1:0
                upstream: { url: "{{UPSTREAM}}" }
                secrets:
                  sw: { value: "\(secret)" }
                routes:
                  - name: sw
                    match: { path: /sw }
                    guards:
                      - hmac: { preset: standard-webhooks, secret: sw, tolerance: 3650d }
                default: deny
                """)
        let outcome = try await RawClient.send(
            Self.post(
                "/sw", headers: headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, body: payload, port: harness.proxyPort),
            port: harness.proxyPort
        )
        #expect(outcome.first?.status == 200)
        #expect(harness.upstream.requests.first?.body == Array(payload.utf8))
        await harness.stop()
    }
}

/// Twilio signs the URL it called plus the sorted form fields (HMAC-SHA1), or, for JSON bodies,
/// the URL carrying bodySHA256; signatures made by Twilio's own helper library.
@Suite("Twilio signatures")
struct TwilioSignatureTests {
    static let token = "twilio-auth-token-12345"
    static let publicURL = "https://hooks.example.com"
    static let policy = """
        version: 1
        listen: 127.0.0.1:0
        upstream: { url: "{{UPSTREAM}}" }
        secrets:
          twilio: { value: "\(token)" }
        routes:
          - name: twilio
            match: { prefix: /twilio/ }
            guards:
              - hmac: { preset: twilio, secret: twilio, public_url: "\(publicURL)" }
        default: deny
        """

    static func post(_ target: String, contentType: String, headers: [(String, String)], body: String) -> [UInt8] {
        RawClient.request("POST", target, host: "hooks.example.com", headers: [("Content-Type", contentType)] + headers, body: body)
    }

    @Test("form deliveries verify; a changed field or a wrong token does not")
    func formBodies() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let target = "/twilio/voice?city=Z%C3%BCrich"
            let body = "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212"
            let signed = try PythonSigner.sign(
                .init(preset: "twilio", secret: Self.token, body: body, timestamp: 0, url: Self.publicURL + target))
            let ok = try await RawClient.send(
                Self.post(target, contentType: "application/x-www-form-urlencoded", headers: signed, body: body), port: harness.proxyPort)
            #expect(ok.first?.status == 200)
            #expect(harness.upstream.requests.first?.body == Array(body.utf8))
            let tampered = body.replacingOccurrences(of: "Digits=1234", with: "Digits=9999")
            let refused = try await RawClient.send(
                Self.post(target, contentType: "application/x-www-form-urlencoded", headers: signed, body: tampered),
                port: harness.proxyPort)
            #expect(refused.first?.status == 401)
            let forged = try PythonSigner.sign(
                .init(preset: "twilio", secret: "other-token", body: body, timestamp: 0, url: Self.publicURL + target))
            let wrong = try await RawClient.send(
                Self.post(target, contentType: "application/x-www-form-urlencoded", headers: forged, body: body), port: harness.proxyPort)
            #expect(wrong.first?.json?["error"] as? String == "signature_invalid")
            #expect(harness.upstream.requests.count == 1)
        }
    }

    @Test("JSON deliveries: the URL's bodySHA256 must match the body")
    func jsonBodies() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let body = #"{"MessageSid":"SM123","Body":"hello"}"#
            let hash = try Self.sha256Hex(body)
            let target = "/twilio/json?bodySHA256=\(hash)"
            let signed = try PythonSigner.sign(
                .init(preset: "twilio", secret: Self.token, body: body, timestamp: 0, url: Self.publicURL + target))
            let ok = try await RawClient.send(
                Self.post(target, contentType: "application/json", headers: signed, body: body), port: harness.proxyPort)
            #expect(ok.first?.status == 200)
            let swapped = try await RawClient.send(
                Self.post(target, contentType: "application/json", headers: signed, body: #"{"MessageSid":"SM666"}"#),
                port: harness.proxyPort)
            #expect(swapped.first?.status == 401)
            #expect(harness.upstream.requests.count == 1)
        }
    }

    static func sha256Hex(_ text: String) throws -> String { try Python.sha256Hex(text) }
}
