import Crypto
import Foundation
import PalisadeTesting
import Testing
import _CryptoExtras

@testable import PalisadeCore

/// Wycheproof's JWK vectors: a key set and a token per case, decided as Palisade would. Public keys
/// go through the real JWKS parser, the token's kid, the JWK's alg binding and verification.
/// Palisade never takes an HMAC key from a JWKS, so an oct key is tried as the only thing it could
/// be in Palisade: a secret under the policy's `secrets:`, loaded by the real policy compiler.
@Suite("Wycheproof JWK")
struct WycheproofJWKTests {
    static func vectors(_ name: String) throws -> [String: Any] {
        let url = try #require(TestVectors.url(name, withExtension: "json"))
        return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    /// A token as the signature layer sees it. These payloads ("foo", or empty) are not claims
    /// sets, and claims are not what this file is about, so a payload need only be base64url.
    struct Token {
        var alg: String
        var kid: String?
        var signingInput: [UInt8]
        var signature: [UInt8]

        init?(_ text: String) {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 3, let headerBytes = CompactJWS.base64url(parts[0]),
                let header = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any],
                !CompactJWS.hasDuplicateKeys(headerBytes), CompactJWS.base64url(parts[1]) != nil,
                let signature = CompactJWS.base64url(parts[2]), !signature.isEmpty,
                let alg = header["alg"] as? String, JWTGuardSpec.supportedAlgorithms.contains(alg),
                !JWTGuard.forbiddenHeaderFields.contains(where: { header[$0] != nil })
            else { return nil }
            // As in JWTGuard: a kid that is not a string names no key.
            if let kid = header["kid"], !(kid is String) { return nil }
            self.alg = alg
            self.kid = header["kid"] as? String
            self.signingInput = Array((parts[0] + "." + parts[1]).utf8)
            self.signature = signature
        }
    }

    /// Palisade's verdict on `jws` under `material`, a JWK or a JWKS.
    static func accepts(_ jws: String, keys material: Any) throws -> Bool {
        guard let token = Token(jws), let object = material as? [String: Any] else { return false }
        let jwks: [[String: Any]]
        if let list = object["keys"] {
            guard let list = list as? [[String: Any]] else { return false }
            jwks = list
        } else {
            jwks = [object]
        }
        let symmetric = jwks.filter { $0["kty"] as? String == "oct" }
        if symmetric.isEmpty { return try PublicKeys.accepts(token, keys: jwks) }
        // HS secrets (secrets:) and public keys (jwks:, pem:) never share a source, and one jwt
        // guard never mixes HS with public-key algorithms: a mixed set has no form in Palisade.
        guard symmetric.count == jwks.count else { return false }
        return try HSSecrets.accepts(token, keys: symmetric)
    }

    /// The jwt guard's public-key path: JWKSet.parse, the key the token's kid names (no fallback),
    /// the alg that key's JWK binds it to, the signature.
    enum PublicKeys {
        static let privateMembers: Set<String> = ["d", "p", "q", "dp", "dq", "qi"]

        static func accepts(_ token: Token, keys jwks: [[String: Any]]) throws -> Bool {
            let publicOnly = jwks.map { $0.filter { !privateMembers.contains($0.key) } }
            let document = try JSONSerialization.data(withJSONObject: ["keys": publicOnly])
            guard let set = try? JWKSet.parse(Array(document), source: "wycheproof"),
                let entry = set.entry(kid: token.kid)
            else { return false }
            if let bound = entry.alg, bound != token.alg { return false }
            return JWKSet.verify(token.alg, key: entry.key, input: token.signingInput, signature: token.signature)
        }
    }

    /// Oct keys as a Palisade policy would have to hold them: each a secret named by its kid, read
    /// from a file (the bytes are binary), and a jwt guard using the secret the token's kid names,
    /// with that JWK's alg as its algorithms. The real compiler decides whether that policy loads
    /// (a secret is non-empty and at least the hash length, the alg is a supported HS one, no name
    /// is declared twice); the compiled guard's keys and algorithms then decide the token, the MAC
    /// compared in constant time as JWTGuard does.
    enum HSSecrets {
        static func accepts(_ token: Token, keys jwks: [[String: Any]]) throws -> Bool {
            let directory = try TemporaryFiles.directory("wycheproof-jwk")
            defer { try? FileManager.default.removeItem(at: directory) }
            var declarations: [String] = []
            var algorithms: [String: String] = [:]
            for (index, jwk) in jwks.enumerated() {
                // The same rules as JWKSet.parse: a key not for signatures is not a candidate.
                if let use = jwk["use"] as? String, use != "sig" { continue }
                if let ops = jwk["key_ops"] as? [String], !ops.contains("verify") { continue }
                guard let kid = jwk["kid"] as? String, let k = jwk["k"] as? String,
                    let secret = CompactJWS.base64url(Substring(k))
                else { return false }
                let file = directory.appendingPathComponent("\(index)")
                try Data(secret).write(to: file)
                declarations.append("  \(quoted(kid)): { file: \(quoted(file.path)) }")
                algorithms[kid] = algorithms[kid] ?? (jwk["alg"] as? String ?? token.alg)
            }
            guard let kid = token.kid, let algorithm = algorithms[kid] else { return false }
            let yaml = """
                version: 1
                upstream: { url: "http://127.0.0.1:3000" }
                secrets:
                \(declarations.joined(separator: "\n"))
                routes:
                  - name: api
                    match: { prefix: / }
                    guards:
                      - jwt: { secret: \(quoted(kid)), algorithms: [\(quoted(algorithm))] }
                """
            guard let loaded = try? PlanCompiler.load(yaml: yaml, file: "wycheproof-jwk.yaml", generation: 1),
                let jwtGuard = loaded.0.routes.routes.first?.guards.first as? JWTGuard,
                jwtGuard.spec.algorithms.contains(token.alg)
            else { return false }
            for key in jwtGuard.hmacKeys {
                let mac: [UInt8]
                switch token.alg {
                case "HS256": mac = Array(HMAC<SHA256>.authenticationCode(for: token.signingInput, using: key.key))
                case "HS384": mac = Array(HMAC<SHA384>.authenticationCode(for: token.signingInput, using: key.key))
                case "HS512": mac = Array(HMAC<SHA512>.authenticationCode(for: token.signingInput, using: key.key))
                default: return false
                }
                if SignatureCoding.constantTimeEquals(mac, token.signature) { return true }
            }
            return false
        }

        /// A YAML double-quoted scalar; JSON string syntax is a subset of it.
        static func quoted(_ text: String) -> String {
            let data = try? JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])
            return String(decoding: (data ?? Data()).dropFirst().dropLast(), as: UTF8.self)
        }
    }

    @Test("all 26 key-set cases: valid tokens verify, invalid key sets and tokens are refused")
    func vectors() throws {
        let root = try Self.vectors("json_web_key_test")
        var checked = 0
        var failures: [String] = []
        for group in root["testGroups"] as? [[String: Any]] ?? [] {
            let material = try #require(group["public"] ?? group["private"], "group \(group["comment"] ?? "?") has no keys")
            for test in group["tests"] as? [[String: Any]] ?? [] {
                let jws = try #require(test["jws"] as? String)
                let valid = test["result"] as? String == "valid"
                checked += 1
                if try Self.accepts(jws, keys: material) != valid {
                    failures.append(
                        "tc\(test["tcId"] ?? "?") \(group["comment"] ?? "") \(test["comment"] ?? ""): expected \(valid ? "valid" : "invalid")"
                    )
                }
            }
        }
        #expect(checked == 26)
        #expect(
            failures.sorted() == Self.deliberateDifferences.keys.sorted(),
            "\(failures.count) of \(checked):\n\(failures.joined(separator: "\n"))"
        )
    }

    /// Where Palisade's verdict differs from the file's label, on purpose: none.
    static let deliberateDifferences: [String: String] = [:]

    /// tc4's second key has stray bits in its last base64url character, which alone gets the set
    /// refused; the kid it repeats must get it refused as well.
    @Test("tc4: one kid twice is refused even when both keys are well formed")
    func duplicateKid() throws {
        let groups = try Self.vectors("json_web_key_test")["testGroups"] as? [[String: Any]] ?? []
        let group = try #require(groups.first { $0["comment"] as? String == "jws_duplicate_kid" })
        let jws = try #require((group["tests"] as? [[String: Any]])?.first?["jws"] as? String)
        let keys = try #require((group["private"] as? [String: Any])?["keys"] as? [[String: Any]])
        try #require(keys.count == 2 && keys[0]["kid"] as? String == keys[1]["kid"] as? String)
        var second = keys[1]
        // The same 32 bytes, canonically encoded.
        second["k"] = "-xxuDNsVZ2iJtos-akfXTSCt4UO2cruLCsbWlBinggc"
        #expect(try Self.accepts(jws, keys: ["keys": [keys[0]]]))
        // Both orders, so neither "first wins" nor "last wins" could pass for a refusal.
        #expect(try Self.accepts(jws, keys: ["keys": [keys[0], second]]) == false)
        #expect(try Self.accepts(jws, keys: ["keys": [second, keys[0]]]) == false)
    }

    /// The modulus of the first key in a vector file's group, by the group's comment.
    static func vectorModulus(file: String, group comment: String) throws -> [UInt8] {
        let groups = try vectors(file)["testGroups"] as? [[String: Any]] ?? []
        let group = try #require(groups.first { $0["comment"] as? String == comment })
        let material = try #require((group["public"] ?? group["private"]) as? [String: Any])
        let jwk = try #require(((material["keys"] as? [[String: Any]])?.first) ?? material)
        let n = try #require(jwk["n"] as? String)
        return try #require(CompactJWS.base64url(Substring(n)))
    }

    /// A one-key JWKS with this modulus and exponent.
    static func rsaDocument(_ n: [UInt8], _ e: [UInt8]) -> [UInt8] {
        func encode(_ bytes: [UInt8]) -> String {
            Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        return Array(#"{"keys":[{"kty":"RSA","kid":"k","n":"\#(encode(n))","e":"\#(encode(e))"}]}"#.utf8)
    }

    static func parseError(_ document: [UInt8]) -> String? {
        do {
            _ = try JWKSet.parse(document, source: "test")
            return nil
        } catch {
            switch error {
            case .message(let message): return message
            }
        }
    }

    @Test("ROCA fingerprint: the vector's Infineon modulus is flagged and refused, ordinary keys are not")
    func roca() throws {
        let infineon = try Self.vectorModulus(file: "json_web_key_test", group: "jws_rsa_roca_key")
        #expect(ROCAFingerprint.matches(modulus: infineon))
        let message = Self.parseError(Self.rsaDocument(infineon, [1, 0, 1]))
        #expect(message?.contains("ROCA") == true, "\(message ?? "accepted")")
        let pem = FileManager.default.temporaryDirectory.appendingPathComponent("roca-\(UUID().uuidString).pem").path
        try _RSA.Signing.PublicKey(n: infineon, e: [1, 0, 1]).pemRepresentation.write(toFile: pem, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: pem) }
        #expect {
            _ = try JWKSet.loadPEM(path: pem)
        } throws: { error in
            guard case JWKSet.LoadError.message(let text) = error else { return false }
            return text.contains("ROCA")
        }

        let published = try Self.vectorModulus(file: "json_web_signature_test", group: "rs256")
        #expect(published.count == 256)
        #expect(!ROCAFingerprint.matches(modulus: published))
        #expect(Self.parseError(Self.rsaDocument(published, [1, 0, 1])) == nil)
        // A random modulus matches with probability about 2^-28 (ROCAFingerprint): no flaky test.
        let fresh = try _RSA.Signing.PrivateKey(keySize: .bits2048).publicKey.getKeyPrimitives().modulus
        #expect(!ROCAFingerprint.matches(modulus: fresh))
    }

    @Test("RSA public exponents that are even or below 3 are refused, 3 and 65537 are not")
    func exponents() throws {
        let n = try Self.vectorModulus(file: "json_web_signature_test", group: "rs256")
        for e: [UInt8] in [[0], [1], [0, 1], [2], [1, 0, 0], [1, 0, 2]] {
            let message = Self.parseError(Self.rsaDocument(n, e))
            #expect(message?.contains("exponent") == true, "e = \(e): \(message ?? "accepted")")
        }
        for e: [UInt8] in [[3], [1, 0, 1]] {
            #expect(Self.parseError(Self.rsaDocument(n, e)) == nil, "e = \(e)")
        }
    }
}
