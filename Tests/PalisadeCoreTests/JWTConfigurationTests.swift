import Foundation
import Testing

@testable import PalisadeCore

/// Key material a jwt guard refuses when the policy loads.
@Suite("JWT configuration")
struct JWTConfigurationTests {
    static func load(_ guardYAML: String, secret: String = "0123456789abcdef0123456789abcdef") -> Result<Void, PolicyLoadError> {
        let yaml = """
            version: 1
            upstream: { url: "http://127.0.0.1:3000" }
            secrets:
              hs: { value: "\(secret)" }
            routes:
              - name: api
                match: { prefix: / }
                guards:
                  - \(guardYAML)
            """
        do {
            _ = try PlanCompiler.load(yaml: yaml, file: "jwt.yaml", generation: 1)
            return .success(())
        } catch let error as PolicyLoadError {
            return .failure(error)
        } catch {
            return .failure(PolicyLoadError(diagnostics: []))
        }
    }

    @Test("an HS secret shorter than the hash output is refused (RFC 7518 3.2)")
    func shortSecret() {
        guard case .failure(let error) = Self.load("jwt: { secret: hs, algorithms: [HS256] }", secret: "short") else {
            Issue.record("a 5-byte HS256 secret was accepted")
            return
        }
        #expect(error.description.contains("at least 32 bytes"))
        guard case .success = Self.load("jwt: { secret: hs, algorithms: [HS256] }") else {
            Issue.record("a 32-byte HS256 secret was refused")
            return
        }
        guard case .failure = Self.load("jwt: { secret: hs, algorithms: [HS512] }") else {
            Issue.record("a 32-byte HS512 secret was accepted")
            return
        }
    }

    @Test("a JWKS with one kid twice is refused")
    func duplicateKid() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("jwks-\(UUID().uuidString).json").path
        let key = #"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"a"}"#
        try #"{"keys":[\#(key),\#(key)]}"#.write(toFile: path, atomically: true, encoding: .utf8)
        guard case .failure(let error) = Self.load("jwt: { jwks: { file: \(path) }, algorithms: [EdDSA] }") else {
            Issue.record("a JWKS with a duplicate kid was accepted")
            return
        }
        #expect(error.description.contains("listed twice"))
        try #"{"keys":[\#(key)]}"#.write(toFile: path, atomically: true, encoding: .utf8)
        guard case .success = Self.load("jwt: { jwks: { file: \(path) }, algorithms: [EdDSA] }") else {
            Issue.record("a JWKS with one Ed25519 key was refused")
            return
        }
    }

    @Test(
        "key-source mistakes are refused at load, each with its reason",
        arguments: [
            ("jwt: { jwks: { url: ftp://issuer.example/jwks }, algorithms: [ES256] }", "is not an http(s)://"),
            ("jwt: { jwks: { url: http://issuer.example/jwks }, algorithms: [ES256] }", "use https"),
            ("jwt: { jwks: { url: https://issuer.example/jwks, ca_file: ca.pem }, algorithms: [ES256] }", "absolute path"),
            ("jwt: { jwks: { url: http://127.0.0.1:9/jwks, ca_file: /ca.pem }, algorithms: [ES256] }", "applies to https"),
            ("jwt: { jwks: { url: https://issuer.example/jwks, refresh: 5s }, algorithms: [ES256] }", "at least"),
            ("jwt: { jwks: { url: https://issuer.example/jwks, retry: 5s }, algorithms: [ES256] }", "retry"),
            ("jwt: { jwks: { file: /etc/jwks.json, url: https://issuer.example/jwks }, algorithms: [ES256] }", "not both"),
            ("jwt: { jwks: { file: /etc/jwks.json, refresh: 5m }, algorithms: [ES256] }", "jwks.url only"),
            ("jwt: { jwks: { url: https://user@issuer.example/jwks }, algorithms: [ES256] }", "is not an http(s)://"),
            ("jwt: { pem: issuer.pem, algorithms: [RS256] }", "absolute path"),
            ("jwt: { jwks: { url: https://issuer.example/jwks }, pem: /k.pem, algorithms: [RS256] }", "not both"),
            ("jwt: { jwks: { url: https://issuer.example/jwks, ca_file: /nonexistent/ca.pem }, algorithms: [ES256] }", "cannot set up TLS"),
        ]
    )
    func keySourceMistakes(yaml: String, reason: String) {
        guard case .failure(let error) = Self.load(yaml) else {
            Issue.record("accepted: \(yaml)")
            return
        }
        #expect(error.description.contains(reason), "\(error.description)")
        // Every refusal names the file and a line:column.
        #expect(error.description.contains("jwt.yaml:"))
    }

    @Test("https and loopback-http JWKS URLs load without fetching anything; allow_http opts in to other hosts")
    func acceptedURLs() {
        for yaml in [
            "jwt: { jwks: { url: https://issuer.example/.well-known/jwks.json }, algorithms: [ES256] }",
            "jwt: { jwks: { url: \"https://[::1]:8443/jwks?tenant=a\", refresh: 10m, timeout: 2s }, algorithms: [RS256] }",
            "jwt: { jwks: { url: http://127.0.0.1:8080/jwks }, algorithms: [ES256] }",
            "jwt: { jwks: { url: http://keycloak.auth.svc:8080/certs, allow_http: true }, algorithms: [RS256] }",
        ] {
            guard case .success = Self.load(yaml) else {
                Issue.record("refused: \(yaml)")
                continue
            }
        }
    }

    @Test("URL parts: scheme, host, port (default and explicit, IPv6) and the target with its query")
    func urlParts() {
        let parts = RemoteJWKSSpec.parse("https://[::1]:8443/jwks?tenant=a")
        #expect(parts?.isTLS == true && parts?.host == "::1" && parts?.port == 8443 && parts?.target == "/jwks?tenant=a")
        let plain = RemoteJWKSSpec.parse("http://issuer.example")
        #expect(plain?.isTLS == false && plain?.host == "issuer.example" && plain?.port == 80 && plain?.target == "/")
        #expect(RemoteJWKSSpec.parse("https://issuer.example:0/x") == nil)
        #expect(RemoteJWKSSpec.parse("https://issuer.example/x#frag") == nil)
    }
}
