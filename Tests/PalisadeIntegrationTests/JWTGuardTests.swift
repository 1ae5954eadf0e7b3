import Foundation
import PalisadeCore
import PalisadeTesting
import Testing

/// The jwt guard through the real proxy, with tokens minted by PyJWT and keys made by Python's
/// cryptography, served as a JWKS file.
@Suite("JWT guard", .serialized)
struct JWTGuardTests {
    static let hsSecret = "hs-shared-secret-for-the-api-0123456789"

    static func withHarness(_ body: (ProxyHarness, PythonJWT.Keys) async throws -> Void) async throws {
        let keys = try PythonJWT.keys()
        let jwksPath = try TemporaryFiles.file(keys.jwksJSON, named: "jwks.json", prefix: "palisade-jwt")
        let yaml = """
            version: 1
            listen: 127.0.0.1:0
            upstream: { url: "{{UPSTREAM}}" }
            secrets:
              hs: { value: "\(hsSecret)" }
            routes:
              - name: api
                match: { prefix: /api/ }
                guards:
                  - jwt:
                      jwks: { file: \(jwksPath) }
                      algorithms: [RS256, ES256, EdDSA]
                      issuer: https://issuer.example/
                      audience: [payments-api]
                      leeway: 30s
                      require: { scope: "payments:write" }
                      forward: { sub: x-user-id, "realm.roles": x-user-roles }
              - name: internal
                match: { prefix: /internal/ }
                guards:
                  - jwt: { secret: hs, algorithms: [HS256] }
              - name: legacy
                match: { prefix: /legacy/ }
                guards:
                  - jwt: { secret: hs, algorithms: [HS256], allow_missing_exp: true }
            default: deny
            """
        try await ProxyHarness.with(yaml: yaml) { harness in try await body(harness, keys) }
    }

    static var now: Int { Int(Date().timeIntervalSince1970) }
    static func claims(_ overrides: [String: Any] = [:]) -> [String: Any] {
        var c: [String: Any] = [
            "iss": "https://issuer.example/", "aud": "payments-api", "sub": "user-42", "exp": now + 300,
            "iat": now, "scope": "payments:read payments:write", "realm": ["roles": ["admin", "ops"]],
        ]
        for (k, v) in overrides { c[k] = v }
        return c
    }

    static func call(_ token: String?, port: Int, path: String = "/api/pay", extra: [(String, String)] = []) async throws -> WireResponse {
        var headers = extra
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        return try await RawClient.get(path, port: port, headers: headers)
    }

    @Test("RS256, ES256 and EdDSA tokens verify; claims are forwarded and client-sent copies replaced")
    func validTokens() async throws {
        try await Self.withHarness { harness, keys in
            for (alg, kid) in [("RS256", "rsa"), ("ES256", "ec"), ("EdDSA", "ed")] {
                harness.upstream.reset()
                let token = try PythonJWT.mint(alg: alg, pem: keys.pems[kid], kid: kid, claims: Self.claims())
                let response = try await Self.call(token, port: harness.proxyPort, extra: [("X-User-Id", "root")])
                #expect(response.status == 200, "\(alg): \(response.bodyText)")
                let seen = try #require(harness.upstream.requests.first).head.headers
                #expect(seen["x-user-id"] == ["user-42"], "\(alg)")
                #expect(seen["x-user-roles"] == ["admin,ops"])
            }
            let hs = try PythonJWT.mint(alg: "HS256", secret: Self.hsSecret, claims: ["sub": "svc", "exp": Self.now + 300])
            #expect(try await Self.call(hs, port: harness.proxyPort, path: "/internal/x").status == 200)
        }
    }

    @Test("missing, expired, wrong-audience, wrong-issuer and under-scoped tokens are refused with RFC 6750 headers")
    func claimRefusals() async throws {
        try await Self.withHarness { harness, keys in
            let missing = try await Self.call(nil, port: harness.proxyPort)
            #expect(missing.status == 401)
            #expect(missing.json?["error"] as? String == "token_missing")
            #expect(missing.header("www-authenticate") == "Bearer")
            let cases: [([String: Any], Int, String)] = [
                (["exp": Self.now - 120], 401, "token_expired"),
                (["aud": "other-api"], 401, "token_invalid"),
                (["aud": 42], 401, "token_invalid"),
                (["iss": "https://evil.example/"], 401, "token_invalid"),
                (["nbf": Self.now + 3600], 401, "token_invalid"),
                (["scope": "payments:read"], 403, "claim_requirement_failed"),
            ]
            for (override, status, code) in cases {
                let token = try PythonJWT.mint(alg: "ES256", pem: keys.pems["ec"], kid: "ec", claims: Self.claims(override))
                let response = try await Self.call(token, port: harness.proxyPort)
                #expect(response.status == status, "\(override)")
                #expect(response.json?["error"] as? String == code, "\(override)")
                #expect(response.header("www-authenticate")?.hasPrefix("Bearer") == true)
            }
            // Within the 30 s leeway an expired token still passes.
            let recent = try PythonJWT.mint(alg: "ES256", pem: keys.pems["ec"], kid: "ec", claims: Self.claims(["exp": Self.now - 10]))
            #expect(try await Self.call(recent, port: harness.proxyPort).status == 200)
            #expect(harness.upstream.requests.count == 1)
        }
    }

    @Test("a token without exp is refused 401 token_exp_missing (RFC 8725), every time; allow_missing_exp admits it")
    func missingExp() async throws {
        try await Self.withHarness { harness, keys in
            var noExp = Self.claims()
            noExp["exp"] = nil
            let es = try PythonJWT.mint(alg: "ES256", pem: keys.pems["ec"], kid: "ec", claims: noExp)
            let hs = try PythonJWT.mint(alg: "HS256", secret: Self.hsSecret, claims: ["sub": "svc"])
            // Twice each: the second answer comes from the per-loop verified-token cache.
            for (token, path) in [(es, "/api/pay"), (es, "/api/pay"), (hs, "/internal/x"), (hs, "/internal/x")] {
                let response = try await Self.call(token, port: harness.proxyPort, path: path)
                #expect(response.status == 401, "\(path): \(response.bodyText)")
                #expect(response.json?["error"] as? String == "token_exp_missing")
                #expect(response.header("www-authenticate")?.contains(#"error="invalid_token""#) == true)
            }
            #expect(harness.upstream.requests.isEmpty)
            // The opt-out admits the same token, from the cache as well as the first time.
            for _ in 0..<2 {
                let response = try await Self.call(hs, port: harness.proxyPort, path: "/legacy/x")
                #expect(response.status == 200, "\(response.bodyText)")
            }
            #expect(harness.upstream.requests.count == 2)
            // With the opt-out, an exp that is present is still enforced.
            let expired = try PythonJWT.mint(alg: "HS256", secret: Self.hsSecret, claims: ["sub": "svc", "exp": Self.now - 120])
            #expect(try await Self.call(expired, port: harness.proxyPort, path: "/legacy/x").json?["error"] as? String == "token_expired")
        }
    }

    static func hmacB64url(_ key: String, _ message: String) throws -> String {
        try Python.run(
            "import base64,hashlib,hmac,sys; print(base64.urlsafe_b64encode(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).digest()).decode().rstrip('='))",
            arguments: [key, message]
        )
    }

    static func b64url(_ text: String) -> String {
        Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    @Test("attacks are refused: alg none, algorithm confusion, key-carrying headers, unknown kid, tampering, duplicates, oversize")
    func attacks() async throws {
        try await Self.withHarness { harness, keys in
            let payload = Self.b64url(String(decoding: try JSONSerialization.data(withJSONObject: Self.claims()), as: UTF8.self))
            var tokens: [(String, String)] = []
            for none in ["none", "None", "NONE", "nOnE"] {
                tokens.append(("alg \(none)", Self.b64url(#"{"alg":"\#(none)","typ":"JWT"}"#) + "." + payload + "."))
            }
            // RS256 key re-used as an HS256 secret (the public key is public). PyJWT refuses to
            // make such a token, so Python's hmac signs it.
            let confusedHead = Self.b64url(#"{"alg":"HS256","typ":"JWT","kid":"rsa"}"#)
            tokens.append(
                (
                    "RS256 as HS256",
                    confusedHead + "." + payload + "." + (try Self.hmacB64url(keys.rsaPublicPEM, confusedHead + "." + payload))
                ))
            for field in ["jku", "x5u", "jwk"] {
                tokens.append(
                    (
                        field,
                        try PythonJWT.mint(
                            alg: "ES256", pem: keys.pems["ec"], kid: "ec", claims: Self.claims(), headers: [field: "https://evil.example/k"]
                        )
                    ))
            }
            tokens.append(
                ("unknown kid", try PythonJWT.mint(alg: "ES256", pem: keys.pems["ec"], kid: "../../etc/passwd", claims: Self.claims())))
            tokens.append(
                ("kid of another key type", try PythonJWT.mint(alg: "ES256", pem: keys.pems["ec"], kid: "rsa", claims: Self.claims())))
            let good = try PythonJWT.mint(alg: "ES256", pem: keys.pems["ec"], kid: "ec", claims: Self.claims())
            let parts = good.split(separator: ".").map(String.init)
            tokens.append(
                (
                    "tampered payload",
                    parts[0] + "."
                        + Self.b64url(#"{"sub":"admin","aud":"payments-api","iss":"https://issuer.example/","scope":"payments:write"}"#)
                        + "." + parts[2]
                ))
            tokens.append(("empty signature", parts[0] + "." + parts[1] + "."))
            tokens.append(("zero ECDSA signature", parts[0] + "." + parts[1] + "." + Self.b64url(String(repeating: "\u{0}", count: 64))))
            tokens.append(("non-canonical base64", parts[0] + "." + parts[1] + "." + parts[2] + "A"))
            tokens.append(("padded base64", parts[0] + "=." + parts[1] + "." + parts[2]))
            let duplicate = #"{"sub":"user","sub":"admin","aud":"payments-api","iss":"https://issuer.example/","scope":"payments:write"}"#
            tokens.append(("duplicate claims", parts[0] + "." + Self.b64url(duplicate) + "." + parts[2]))
            tokens.append(("16 KiB+ token", parts[0] + "." + Self.b64url(String(repeating: "x", count: 13_000)) + "." + parts[2]))
            for (label, token) in tokens {
                let response = try await Self.call(token, port: harness.proxyPort)
                #expect(response.status == 401, "\(label) got \(response.status)")
                #expect(response.json?["error"] as? String == "token_invalid", "\(label)")
            }
            #expect(harness.upstream.requests.isEmpty)
        }
    }
}
