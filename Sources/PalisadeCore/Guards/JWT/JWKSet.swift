import Crypto
import Foundation
import _CryptoExtras

/// Public keys from a JWKS document, by `kid`, each bound to the algorithms it may verify.
/// Keys are parsed once, when the policy loads, and used by every event loop.
struct JWKSet: @unchecked Sendable {
    enum Key {
        case rsa(_RSA.Signing.PublicKey)
        case p256(P256.Signing.PublicKey)
        case p384(P384.Signing.PublicKey)
        case ed25519(Curve25519.Signing.PublicKey)
    }

    struct Entry {
        var key: Key
        /// The JWK's `alg`, when it names one: the key then verifies only that algorithm.
        var alg: String?
    }

    var keys: [String: Entry] = [:]
    /// A key configured on its own (a PEM file): it verifies whatever `kid` a token names, or none.
    var soleKey: Entry?
    /// Keys of a fetched set that were left out, with the reason (see `parse`).
    var skipped: [String] = []

    enum LoadError: Error { case message(String) }

    /// The key a token's header selects: by `kid` only, never a fallback to another key.
    func entry(kid: String?) -> Entry? {
        if let soleKey { return soleKey }
        guard let kid else { return nil }
        return keys[kid]
    }

    static func load(path: String) throws(LoadError) -> JWKSet {
        return try parse(readBounded(path), source: path)
    }

    /// A key file's bytes, refused unread when it is larger than any key set could be.
    private static func readBounded(_ path: String) throws(LoadError) -> [UInt8] {
        do throws(BoundedFile.Failure) {
            return try BoundedFile.contents(of: path)
        } catch {
            throw .message(error.message(path))
        }
    }

    /// One public key from a PEM file (SubjectPublicKeyInfo): RSA, P-256, P-384 or Ed25519.
    static func loadPEM(path: String) throws(LoadError) -> JWKSet {
        guard let text = String(validating: try readBounded(path), as: UTF8.self) else {
            throw .message("\(path) is not UTF-8")
        }
        let key: Key
        if let rsa = try? _RSA.Signing.PublicKey(pemRepresentation: text) {
            guard rsa.keySizeInBits >= 2048 else { throw .message("the RSA key in \(path) is shorter than 2048 bits") }
            guard let primitives = try? rsa.getKeyPrimitives() else { throw .message("cannot read the RSA key in \(path)") }
            if let weakness = rsaWeakness(modulus: primitives.modulus, exponent: primitives.publicExponent) {
                throw .message("the RSA key in \(path): \(weakness)")
            }
            key = .rsa(rsa)
        } else if let ec = try? P256.Signing.PublicKey(pemRepresentation: text) {
            key = .p256(ec)
        } else if let ec = try? P384.Signing.PublicKey(pemRepresentation: text) {
            key = .p384(ec)
        } else if let ed = ed25519(fromPEM: text) {
            key = .ed25519(ed)
        } else {
            throw .message("\(path) holds no RSA, P-256, P-384 or Ed25519 public key in PEM (BEGIN PUBLIC KEY)")
        }
        var set = JWKSet()
        set.soleKey = Entry(key: key, alg: nil)
        return set
    }

    /// Ed25519 SubjectPublicKeyInfo is a fixed 12-byte DER prefix (RFC 8410) and the 32-byte key.
    private static func ed25519(fromPEM text: String) -> Curve25519.Signing.PublicKey? {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let begin = lines.firstIndex(of: "-----BEGIN PUBLIC KEY-----"),
            let end = lines.firstIndex(of: "-----END PUBLIC KEY-----"), begin < end,
            let der = Data(base64Encoded: lines[(begin + 1)..<end].joined())
        else { return nil }
        let prefix: [UInt8] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]
        guard der.count == 44, Array(der.prefix(12)) == prefix else { return nil }
        return try? Curve25519.Signing.PublicKey(rawRepresentation: der.suffix(32))
    }

    /// A JWKS document (`{"keys": [...]}`) from a file or a URL; `source` names it in errors.
    /// A file's set is the operator's own, so any unusable key refuses it (and the policy). A set
    /// fetched from an issuer is not: with `skippingUnusableKeys` a key Palisade cannot use (a
    /// P-521 key, a weak RSA key) or a kid listed twice is left out and noted in `skipped`,
    /// rather than one odd key taking every other key down with it.
    static func parse(_ bytes: [UInt8], source path: String, skippingUnusableKeys: Bool = false) throws(LoadError) -> JWKSet {
        guard let root = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
            let list = root["keys"] as? [[String: Any]]
        else { throw .message("\(path) is not a JWKS document ({\"keys\": [...]})") }
        var set = JWKSet()
        var ambiguous: Set<String> = []
        for (index, jwk) in list.enumerated() {
            let parsed: (kid: String, entry: Entry)?
            do {
                parsed = try parseKey(jwk, index: index, source: path)
            } catch {
                guard skippingUnusableKeys else { throw error }
                if case .message(let reason) = error { set.skipped.append(reason) }
                continue
            }
            guard let (kid, entry) = parsed else { continue }
            // Two keys under one kid make "the key this token names" ambiguous.
            guard set.keys[kid] == nil, !ambiguous.contains(kid) else {
                guard skippingUnusableKeys else { throw .message("kid '\(kid)' is listed twice in \(path)") }
                set.keys[kid] = nil
                ambiguous.insert(kid)
                set.skipped.append("kid '\(kid)' is listed twice; no key is used for it")
                continue
            }
            set.keys[kid] = entry
        }
        return set
    }

    /// One JWK, or nil when it is not for verifying signatures (`use`, `key_ops`).
    private static func parseKey(
        _ jwk: [String: Any], index: Int, source path: String
    ) throws(LoadError) -> (kid: String, entry: Entry)? {
        guard let kid = jwk["kid"] as? String, !kid.isEmpty else { throw .message("key \(index) in \(path) has no kid") }
        if let use = jwk["use"] as? String, use != "sig" { return nil }
        // RFC 7517 4.3: a key whose key_ops do not include verify must not verify.
        if let ops = jwk["key_ops"] as? [String], !ops.contains("verify") { return nil }
        func field(_ name: String) throws(LoadError) -> [UInt8] {
            guard let text = jwk[name] as? String, let bytes = CompactJWS.base64url(Substring(text)) else {
                throw .message("key '\(kid)': '\(name)' is missing or not base64url")
            }
            return bytes
        }
        let key: Key
        switch (jwk["kty"] as? String, jwk["crv"] as? String) {
        case ("RSA", _):
            let (n, e) = (try field("n"), try field("e"))
            if let weakness = rsaWeakness(modulus: n, exponent: e) { throw .message("key '\(kid)': \(weakness)") }
            guard let rsa = try? _RSA.Signing.PublicKey(n: n, e: e) else {
                throw .message("key '\(kid)' is not a usable RSA key (2048 bits or more)")
            }
            // Unlike its PEM reader, swift-crypto's init(n:e:) takes 1024-bit keys.
            guard rsa.keySizeInBits >= 2048 else {
                throw .message("key '\(kid)' is a \(rsa.keySizeInBits)-bit RSA key; 2048 bits or more are needed")
            }
            key = .rsa(rsa)
        case ("EC", "P-256"):
            guard let ec = try? P256.Signing.PublicKey(rawRepresentation: try field("x") + field("y")) else {
                throw .message("key '\(kid)' is not a P-256 point")
            }
            key = .p256(ec)
        case ("EC", "P-384"):
            guard let ec = try? P384.Signing.PublicKey(rawRepresentation: try field("x") + field("y")) else {
                throw .message("key '\(kid)' is not a P-384 point")
            }
            key = .p384(ec)
        case ("OKP", "Ed25519"):
            guard let ed = try? Curve25519.Signing.PublicKey(rawRepresentation: try field("x")) else {
                throw .message("key '\(kid)' is not an Ed25519 key")
            }
            key = .ed25519(ed)
        default:
            throw .message("key '\(kid)': unsupported kty/crv")
        }
        return (kid, Entry(key: key, alg: jwk["alg"] as? String))
    }

    /// Why an RSA key is unfit to verify with, or nil. BoringSSL happens to refuse such exponents
    /// too, without saying why, but Darwin reads PEM keys with Security, and no backend looks for
    /// ROCA: so the rule is Palisade's own, with a reason an operator can act on.
    static func rsaWeakness(modulus: some Collection<UInt8>, exponent: some Collection<UInt8>) -> String? {
        let e = Array(exponent.drop(while: { $0 == 0 }))
        // With e = 1 a signature is the padded message itself, which anyone can write; an even e
        // shares the factor 2 with (p-1)(q-1), so no private key exists to have signed anything.
        guard let low = e.last, low & 1 == 1, e.count > 1 || low >= 3 else {
            return "the public exponent is not an odd number of 3 or more"
        }
        if ROCAFingerprint.matches(modulus: modulus) {
            return "the modulus has the ROCA fingerprint (CVE-2017-15361, an Infineon RSALib key): its private key "
                + "can be computed from the public key, so the key must be replaced"
        }
        return nil
    }

    /// Whether `signature` over `input` verifies with `key` under `alg`; a key never verifies an
    /// algorithm of another family (an RSA key is never an HMAC secret).
    static func verify(_ alg: String, key: Key, input: [UInt8], signature: [UInt8]) -> Bool {
        switch (alg, key) {
        case ("RS256", .rsa(let k)):
            return k.isValidSignature(
                _RSA.Signing.RSASignature(rawRepresentation: signature), for: SHA256.hash(data: input), padding: .insecurePKCS1v1_5)
        case ("RS384", .rsa(let k)):
            return k.isValidSignature(
                _RSA.Signing.RSASignature(rawRepresentation: signature), for: SHA384.hash(data: input), padding: .insecurePKCS1v1_5)
        case ("RS512", .rsa(let k)):
            return k.isValidSignature(
                _RSA.Signing.RSASignature(rawRepresentation: signature), for: SHA512.hash(data: input), padding: .insecurePKCS1v1_5)
        case ("PS256", .rsa(let k)):
            return k.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: SHA256.hash(data: input), padding: .PSS)
        case ("PS384", .rsa(let k)):
            return k.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: SHA384.hash(data: input), padding: .PSS)
        case ("PS512", .rsa(let k)):
            return k.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: SHA512.hash(data: input), padding: .PSS)
        case ("ES256", .p256(let k)):
            guard signature.count == 64, let sig = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return k.isValidSignature(sig, for: SHA256.hash(data: input))
        case ("ES384", .p384(let k)):
            guard signature.count == 96, let sig = try? P384.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return k.isValidSignature(sig, for: SHA384.hash(data: input))
        case ("EdDSA", .ed25519(let k)):
            return k.isValidSignature(signature, for: input)
        default:
            return false
        }
    }
}
