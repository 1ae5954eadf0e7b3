import Foundation
import NIOPosix
import PalisadeCore
import PalisadeTesting
import Testing

/// The jwt guard with keys from a JWKS URL served by a real local HTTP server that the tests
/// rotate, take down and bring back; tokens minted by PyJWT. And a PEM public key.
@Suite("JWT keys from a URL and from PEM", .serialized)
struct JWKSURLTests {
    static func policy(url: String, extra: String = "") -> String {
        """
        version: 1
        listen: 127.0.0.1:0
        upstream: { url: "{{UPSTREAM}}" }
        admin: { listen: 127.0.0.1:0 }
        routes:
          - name: api
            match: { prefix: /api/ }
            guards:
              - jwt:
                  jwks: { url: "\(url)", min_refetch_interval: 1s\(extra) }
                  algorithms: [ES256, RS256]
                  audience: [payments-api]
                  forward: { sub: x-user-id }
          - name: open
            match: { prefix: /open }
        default: deny
        """
    }

    static func claims(sub: String = "user-7") -> [String: Any] {
        let now = Int(Date().timeIntervalSince1970)
        return ["aud": "payments-api", "sub": sub, "exp": now + 300, "iat": now]
    }

    /// A JWKS document whose kids are renamed (a second key set with kids of its own).
    static func renamingKids(_ json: String, suffix: String) throws -> String {
        var object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        object["keys"] = (object["keys"] as! [[String: Any]]).map { key in
            var key = key
            key["kid"] = (key["kid"] as! String) + suffix
            return key
        }
        return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    static func call(_ token: String, _ port: Int) async throws -> WireResponse {
        try await RawClient.get("/api/orders", port: port, headers: [("Authorization", "Bearer \(token)")])
    }

    static func readyz(_ harness: ProxyHarness) async throws -> WireResponse {
        try await RawClient.get("/readyz", port: harness.adminPort!)
    }

    /// Whether a fetch of the policy's key set has failed: readyz reports its error.
    static func fetchFailed(_ harness: ProxyHarness) async throws -> Bool {
        let jwks = (try await readyz(harness).json?["jwks"] as? [[String: Any]])?.first
        return (jwks?["last_error"] as? String)?.isEmpty == false
    }

    /// Polls until `condition` holds or `seconds` pass.
    static func eventually(_ seconds: Double, _ condition: () async throws -> Bool) async throws -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }

    @Test("keys are fetched in the background; readyz reports them; tokens verify and claims are forwarded")
    func fetchedKeys() async throws {
        let keys = try PythonJWT.keys()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let issuer = try await JWKSServer.start(document: keys.jwksJSON, group: group)
        try await ProxyHarness.with(yaml: Self.policy(url: issuer.url)) { harness in
            #expect(try await Self.eventually(5) { try await Self.readyz(harness).status == 200 })
            let ready = try await Self.readyz(harness).json
            let jwks = (ready?["jwks"] as? [[String: Any]])?.first
            #expect(jwks?["loaded"] as? Bool == true)
            #expect(jwks?["keys"] as? Int == 3)

            for (alg, kid) in [("ES256", "ec"), ("RS256", "rsa")] {
                let token = try PythonJWT.mint(alg: alg, pem: keys.pems[kid], kid: kid, claims: Self.claims())
                let response = try await Self.call(token, harness.proxyPort)
                #expect(response.status == 200, "\(alg): \(response.bodyText)")
                #expect(harness.upstream.requests.last?.head.headers.first(name: "x-user-id") == "user-7")
            }
            // The same token again is served from the per-loop cache, still checked and forwarded.
            let token = try PythonJWT.mint(alg: "ES256", pem: keys.pems["ec"], kid: "ec", claims: Self.claims(sub: "again"))
            for _ in 0..<3 {
                #expect(try await Self.call(token, harness.proxyPort).status == 200)
                #expect(harness.upstream.requests.last?.head.headers.first(name: "x-user-id") == "again")
            }
            // A token signed by a key the issuer never published is refused.
            let stranger = try PythonJWT.keys()
            let forged = try PythonJWT.mint(alg: "ES256", pem: stranger.pems["ec"], kid: "ec", claims: Self.claims())
            #expect(try await Self.call(forged, harness.proxyPort).status == 401)
            // One fetch at start; refusing a forged token with a known kid fetches nothing.
            #expect(issuer.fetches == 1)
            let metrics = try await RawClient.get("/metrics", port: harness.adminPort!).bodyText
            #expect(metrics.contains("palisade_jwks_keys{url=\"\(issuer.url)\"} 3"))
            #expect(metrics.contains("palisade_jwks_fetches_total{url=\"\(issuer.url)\",result=\"success\"} 1"))
            #expect(metrics.contains("palisade_jwks_age_seconds{url=\"\(issuer.url)\"}"))
        }
        await issuer.stop()
        try await group.shutdownGracefully()
    }

    @Test("a rotated-in kid triggers one rate-limited refetch; a rotated-out key stops verifying, cached or not")
    func rotation() async throws {
        let keys = try PythonJWT.keys()
        let next = try PythonJWT.keys()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let issuer = try await JWKSServer.start(document: keys.jwksJSON, group: group)
        try await ProxyHarness.with(yaml: Self.policy(url: issuer.url)) { harness in
            #expect(try await Self.eventually(5) { try await Self.readyz(harness).status == 200 })
            let old = try PythonJWT.mint(alg: "ES256", pem: keys.pems["ec"], kid: "ec", claims: Self.claims())
            #expect(try await Self.call(old, harness.proxyPort).status == 200)

            // Tokens are minted first: minting is slow on a loaded machine and the steps below must
            // fall inside one min_refetch_interval.
            let fresh = try PythonJWT.mint(alg: "ES256", pem: next.pems["ec"], kid: "ec-2", claims: Self.claims())
            let unknowns = try (0..<5).map { i in
                try PythonJWT.mint(alg: "ES256", pem: next.pems["ec"], kid: "made-up-\(i)", claims: Self.claims())
            }
            // The issuer rotates: only the new keys are published.
            issuer.serve(try Self.renamingKids(next.jwksJSON, suffix: "-2"))
            try await Task.sleep(for: .milliseconds(1100))  // past min_refetch_interval
            let beforeRefetch = ContinuousClock.now
            let first = try await Self.call(fresh, harness.proxyPort)
            #expect(first.status == 200, "the new kid was not fetched: \(first.bodyText)")
            #expect(issuer.fetches == 2)

            // The old token was verified (and cached) under the old set: it is refused now.
            #expect(try await Self.call(old, harness.proxyPort).status == 401)
            // Unknown kids right after a fetch are refused without asking the issuer again.
            for unknown in unknowns {
                #expect(try await Self.call(unknown, harness.proxyPort).status == 401)
            }
            // At most one fetch per min_refetch_interval (1 s) since the refetch began. Here these
            // calls take milliseconds, so that is none; on a much slower machine (a sanitizer
            // build, say) they can outlast the interval, and one more fetch is then allowed.
            let intervalsSince = Int((ContinuousClock.now - beforeRefetch) / .seconds(1))
            #expect(issuer.fetches >= 2 && issuer.fetches <= 2 + intervalsSince)
        }
        await issuer.stop()
        try await group.shutdownGracefully()
    }

    @Test("the issuer going down keeps the last good keys in use; readyz shows the error")
    func issuerDown() async throws {
        let keys = try PythonJWT.keys()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let issuer = try await JWKSServer.start(document: keys.jwksJSON, group: group)
        try await ProxyHarness.with(yaml: Self.policy(url: issuer.url)) { harness in
            #expect(try await Self.eventually(5) { try await Self.readyz(harness).status == 200 })
            await issuer.stop()
            try await Task.sleep(for: .milliseconds(1100))
            // An unknown kid makes Palisade try the issuer, which is down; the token is refused...
            let unknown = try PythonJWT.mint(alg: "ES256", pem: keys.pems["ec"], kid: "new", claims: Self.claims())
            #expect(try await Self.call(unknown, harness.proxyPort).status == 401)
            // ...while tokens signed with the keys already fetched still verify.
            let token = try PythonJWT.mint(alg: "ES256", pem: keys.pems["ec"], kid: "ec", claims: Self.claims())
            #expect(try await Self.call(token, harness.proxyPort).status == 200)
            let ready = try await Self.readyz(harness)
            #expect(ready.status == 200)
            let jwks = (ready.json?["jwks"] as? [[String: Any]])?.first
            #expect(jwks?["loaded"] as? Bool == true)
            #expect((jwks?["last_error"] as? String)?.isEmpty == false)
        }
        try await group.shutdownGracefully()
    }

    @Test("an issuer down at start: not ready, 503 for tokens; keys are picked up with backoff once it is back")
    func issuerDownAtStart() async throws {
        let keys = try PythonJWT.keys()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let issuer = try await JWKSServer.start(document: keys.jwksJSON, group: group, serving: false)
        try await ProxyHarness.with(yaml: Self.policy(url: issuer.url)) { harness in
            #expect(try await Self.eventually(5) { try await Self.fetchFailed(harness) }, "no fetch failed")
            let notReady = try await Self.readyz(harness)
            #expect(notReady.status == 503)
            #expect(notReady.json?["status"] as? String == "keys_not_loaded")
            let token = try PythonJWT.mint(alg: "ES256", pem: keys.pems["ec"], kid: "ec", claims: Self.claims())
            let refused = try await Self.call(token, harness.proxyPort)
            #expect(refused.status == 503)
            #expect(refused.json?["error"] as? String == "jwt_keys_unavailable")
            // Routes without the guard are served meanwhile.
            #expect(try await RawClient.get("/open", port: harness.proxyPort).status == 200)

            issuer.resume()
            // Retries back off from 1 s; within a few seconds the keys are in.
            #expect(try await Self.eventually(8) { try await Self.readyz(harness).status == 200 })
            #expect(try await Self.call(token, harness.proxyPort).status == 200)
        }
        await issuer.stop()
        try await group.shutdownGracefully()
    }

    @Test("a PEM public key verifies tokens whatever kid they name; other keys' tokens are refused")
    func pemKey() async throws {
        let keys = try PythonJWT.keys()
        let pemPath = try TemporaryFiles.file(keys.rsaPublicPEM, named: "issuer.pem", prefix: "palisade-pem")
        let yaml = """
            version: 1
            listen: 127.0.0.1:0
            upstream: { url: "{{UPSTREAM}}" }
            routes:
              - name: api
                match: { prefix: /api/ }
                guards:
                  - jwt: { pem: \(pemPath), algorithms: [RS256], audience: [payments-api] }
            default: deny
            """
        try await ProxyHarness.with(yaml: yaml) { harness in
            let withKid = try PythonJWT.mint(alg: "RS256", pem: keys.pems["rsa"], kid: "any", claims: Self.claims())
            #expect(try await Self.call(withKid, harness.proxyPort).status == 200)
            let noKid = try PythonJWT.mint(alg: "RS256", pem: keys.pems["rsa"], claims: Self.claims())
            #expect(try await Self.call(noKid, harness.proxyPort).status == 200)
            let other = try PythonJWT.keys()
            let forged = try PythonJWT.mint(alg: "RS256", pem: other.pems["rsa"], claims: Self.claims())
            #expect(try await Self.call(forged, harness.proxyPort).status == 401)
            // The PEM key is RSA: an ES256 token cannot be verified with it.
            let es = try PythonJWT.mint(alg: "ES256", pem: keys.pems["ec"], claims: Self.claims())
            #expect(try await Self.call(es, harness.proxyPort).status == 401)
        }
    }

    @Test("https: the key set comes over TLS from a server Python runs, trusted through ca_file; without it the certificate is refused")
    func overTLS() async throws {
        let keys = try PythonJWT.keys()
        let issuer = try PythonTLSServer(document: keys.jwksJSON)
        defer { issuer.stop() }
        let url = "https://localhost:\(issuer.port)/.well-known/jwks.json"
        let token = try PythonJWT.mint(alg: "ES256", pem: keys.pems["ec"], kid: "ec", claims: Self.claims())

        let trusted = Self.policy(url: url, extra: ", ca_file: \(issuer.caFile)")
        try await ProxyHarness.with(yaml: trusted) { (harness: ProxyHarness) async throws -> Void in
            #expect(try await Self.eventually(5) { try await Self.readyz(harness).status == 200 })
            #expect(try await Self.call(token, harness.proxyPort).status == 200)
        }
        // By IP address: the certificate's IP SAN is checked against the address connected to.
        let byAddress = Self.policy(
            url: "https://127.0.0.1:\(issuer.port)/.well-known/jwks.json", extra: ", ca_file: \(issuer.caFile)"
        )
        try await ProxyHarness.with(yaml: byAddress) { (harness: ProxyHarness) async throws -> Void in
            #expect(try await Self.eventually(5) { try await Self.readyz(harness).status == 200 })
            #expect(try await Self.call(token, harness.proxyPort).status == 200)
        }
        // The same server with only the system's trust roots: its private CA is not trusted.
        try await ProxyHarness.with(yaml: Self.policy(url: url)) { (harness: ProxyHarness) async throws -> Void in
            #expect(try await Self.eventually(5) { try await Self.fetchFailed(harness) }, "no fetch failed")
            let ready = try await Self.readyz(harness)
            #expect(ready.status == 503)
            let jwks = (ready.json?["jwks"] as? [[String: Any]])?.first
            #expect(jwks?["loaded"] as? Bool == false)
            #expect((jwks?["last_error"] as? String)?.isEmpty == false)
            #expect(try await Self.call(token, harness.proxyPort).status == 503)
        }
    }

    @Test("a fetched set with unusable keys (a P-521 key, a kid listed twice) still serves its good keys")
    func unusableKeysSkipped() async throws {
        let keys = try PythonJWT.keys()
        var object = try JSONSerialization.jsonObject(with: Data(keys.jwksJSON.utf8)) as! [String: Any]
        var list = object["keys"] as! [[String: Any]]
        list.append(["kty": "EC", "crv": "P-521", "kid": "p521", "x": "AQ", "y": "AQ"])
        list.append(list.first { $0["kid"] as? String == "rsa" }!)  // "rsa" twice: ambiguous, left out
        object["keys"] = list
        let document = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let issuer = try await JWKSServer.start(document: document, group: group)
        try await ProxyHarness.with(yaml: Self.policy(url: issuer.url)) { harness in
            #expect(try await Self.eventually(5) { try await Self.readyz(harness).status == 200 })
            let jwks = (try await Self.readyz(harness).json?["jwks"] as? [[String: Any]])?.first
            #expect(jwks?["keys"] as? Int == 2)  // ec and ed
            let ec = try PythonJWT.mint(alg: "ES256", pem: keys.pems["ec"], kid: "ec", claims: Self.claims())
            #expect(try await Self.call(ec, harness.proxyPort).status == 200)
            let rsa = try PythonJWT.mint(alg: "RS256", pem: keys.pems["rsa"], kid: "rsa", claims: Self.claims())
            #expect(try await Self.call(rsa, harness.proxyPort).status == 401)
        }
        await issuer.stop()
        try await group.shutdownGracefully()
    }

    @Test(
        "a fetch that fails is reported and leaves no keys: an error status, a hung issuer, a document over 1 MiB, not JSON",
        arguments: ["status", "stall", "huge", "garbage"]
    )
    func failedFetches(mode: String) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let issuer = try await JWKSServer.start(document: "{}", group: group)
        let expected: String
        switch mode {
        case "status":
            issuer.behave(.status(500))
            expected = "answered 500"
        case "stall":
            issuer.behave(.stall)
            expected = "no complete answer within"
        case "huge":
            issuer.serve(#"{"keys":[],"pad":""# + String(repeating: "x", count: 1 << 20) + #""}"#)
            expected = "larger than 1 MiB"
        default:
            issuer.serve("<html>not json</html>")
            expected = "is not a JWKS document"
        }
        let yaml = Self.policy(url: issuer.url, extra: ", timeout: 300ms")
        try await ProxyHarness.with(yaml: yaml) { (harness: ProxyHarness) async throws -> Void in
            let reported = try await Self.eventually(3) {
                let jwks = (try await Self.readyz(harness).json?["jwks"] as? [[String: Any]])?.first
                return (jwks?["last_error"] as? String)?.contains(expected) == true
            }
            #expect(reported, "last_error never said '\(expected)'")
            let ready = try await Self.readyz(harness)
            #expect(ready.status == 503)
            let metrics = try await RawClient.get("/metrics", port: harness.adminPort!).bodyText
            #expect(metrics.contains("palisade_jwks_fetches_total{url=\"\(issuer.url)\",result=\"failure\"}"))
            #expect(metrics.contains("palisade_jwks_keys{url=\"\(issuer.url)\"} 0"))
        }
        await issuer.stop()
        try await group.shutdownGracefully()
    }
}
