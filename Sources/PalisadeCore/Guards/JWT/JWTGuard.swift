import Crypto
import Foundation
import NIOHTTP1

/// Verifies a bearer JWT on the event loop: only the policy's algorithms, the key named by `kid`
/// (never a default key, never keys the token carries), registered claims with leeway, required
/// claims, and chosen claims forwarded as headers whose client-sent copies are removed first.
/// A token whose signature verified is remembered per loop (`VerifiedTokens`), so a client that
/// sends the same token again costs a lookup, not a signature check.
public struct JWTGuard: Guard {
    public var kind: String { GuardKind.jwt.rawValue }

    /// Where the public keys come from: parsed with the policy, or fetched from a URL.
    enum Keys: Sendable {
        case fixed(JWKSet)
        case remote(RemoteJWKS)
        case none
    }

    let spec: JWTGuardSpec
    let keys: Keys
    let hmacKeys: [HMACKey]
    let leeway: Int64
    /// Identity of this guard's per-loop token cache (its loop slot); a reload builds new guards,
    /// hence new caches.
    let cacheOwner = CacheOwner()
    final class CacheOwner: Sendable {}
    public var loopSlotOwners: [AnyObject] { [cacheOwner] }

    public static let tokenMissing = RejectionCode(
        "token_missing", status: .unauthorized, headers: [("www-authenticate", "Bearer")]
    )
    public static let tokenInvalid = RejectionCode(
        "token_invalid", status: .unauthorized, headers: [("www-authenticate", #"Bearer error="invalid_token""#)]
    )
    public static let tokenExpired = RejectionCode(
        "token_expired", status: .unauthorized,
        headers: [("www-authenticate", #"Bearer error="invalid_token", error_description="the token has expired""#)]
    )
    /// RFC 8725 3.10: a token that never expires is a credential that cannot be taken back.
    public static let tokenExpMissing = RejectionCode(
        "token_exp_missing", status: .unauthorized,
        headers: [("www-authenticate", #"Bearer error="invalid_token", error_description="the token has no exp claim""#)]
    )
    /// The issuer's keys have not been fetched yet (or never could be): not the client's fault.
    public static let keysUnavailable = RejectionCode("jwt_keys_unavailable", status: .serviceUnavailable)
    public static let claimRequirementFailed = RejectionCode(
        "claim_requirement_failed", status: .forbidden, headers: [("www-authenticate", #"Bearer error="insufficient_scope""#)]
    )

    /// Header fields a token must not carry: they point at keys the token chooses itself.
    static let forbiddenHeaderFields = ["jku", "x5u", "jwk", "x5c", "crit"]

    init(spec: JWTGuardSpec, keys: Keys, secrets: [Secret]) {
        self.spec = spec
        self.keys = keys
        self.hmacKeys = secrets.map { HMACKey(key: SymmetricKey(data: $0.bytes)) }
        self.leeway = spec.leeway.nanoseconds / 1_000_000_000
    }

    /// Where the request's token stands: one token, none, or a second credential the app could
    /// read instead of the one verified.
    enum Presented {
        case token(Substring)
        case missing
        case duplicate(RejectionCode)
    }

    static let duplicateAuthorization = RejectionCode.duplicateCredentialHeader("authorization")
    static let duplicateCookie = RejectionCode.duplicateCredentialHeader("cookie")

    private func token(from request: GuardRequest) -> Presented {
        switch CredentialField.lookup("authorization", in: request.head.headers) {
        case .repeated:
            return .duplicate(Self.duplicateAuthorization)
        case .one(let authorization):
            // `Bearer` SP token, the scheme in any case (RFC 6750 2.1), read without copying.
            let value = Substring(authorization)
            if value.utf8.count > 7, ASCII.equalsLowercased(value.prefix(6), "bearer"),
                value.utf8[value.utf8.index(value.startIndex, offsetBy: 6)] == UInt8(ascii: " ")
            {
                let token = value.dropFirst(7).trimmingASCIISpaces()
                // A token68 has no comma: `Bearer a, Bearer b` is two fields joined into one.
                if token.utf8.contains(UInt8(ascii: ",")) { return .duplicate(Self.duplicateAuthorization) }
                return .token(token)
            }
        case .absent:
            break
        }
        if let cookieName = spec.cookie {
            var found: Substring?
            for cookieHeader in request.head.headers[canonicalForm: "cookie"] {
                for pair in cookieHeader.split(separator: ";") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    guard kv.count == 2, kv[0].trimmingASCIISpaces() == cookieName else { continue }
                    // Apps differ on which of two same-named cookies they read.
                    if found != nil { return .duplicate(Self.duplicateCookie) }
                    found = kv[1].trimmingASCIISpaces()
                }
            }
            if let found { return .token(found) }
        }
        return .missing
    }

    public func check(_ request: GuardRequest) -> GuardDecision {
        decide(request, mayRefetch: true)
    }

    private func decide(_ request: GuardRequest, mayRefetch: Bool) -> GuardDecision {
        for (_, header) in spec.forward { request.removeUpstreamHeader(header) }
        let token: Substring
        switch self.token(from: request) {
        case .token(let presented) where !presented.isEmpty: token = presented
        case .duplicate(let code): return .reject(code)
        default: return .reject(Self.tokenMissing)
        }
        let now = request.now.seconds
        let keySet: JWKSet?
        let keyVersion: Int
        switch keys {
        case .fixed(let set):
            (keySet, keyVersion) = (set, 0)
        case .remote(let source):
            let current = request.jwtCache.keys(of: source)
            guard current.keys != nil else { return .reject(Self.keysUnavailable) }
            (keySet, keyVersion) = (current.keys, current.version)
        case .none:
            (keySet, keyVersion) = (nil, 0)
        }
        let cache = request.loopSlot(owner: cacheOwner) { VerifiedTokens() }
        let facts: TokenFacts
        if let known = cache.lookup(token, keyVersion: keyVersion, now: now) {
            facts = known
        } else {
            guard let jws = CompactJWS(token), let alg = jws.header["alg"] as? String, spec.algorithms.contains(alg),
                !Self.forbiddenHeaderFields.contains(where: { jws.header[$0] != nil })
            else { return .reject(Self.tokenInvalid) }
            if !alg.hasPrefix("HS"), case .remote(let source) = keys, mayRefetch,
                keySet?.entry(kid: jws.header["kid"] as? String) == nil, jws.header["kid"] is String,
                let fetch = source.refetchForUnknownKid()
            {
                // A kid the set lacks may be a key the issuer has just rotated in: fetch (rate
                // limited) and decide once the answer is in, on this request's loop.
                return .pending(
                    fetch.hop(to: request.eventLoop).assumeIsolatedUnsafeUnchecked()
                        .map { _ in self.decide(request, mayRefetch: false) }.nonisolated()
                )
            }
            guard verifySignature(jws, alg: alg, keys: keySet) else { return .reject(Self.tokenInvalid) }
            facts = TokenFacts(claims: jws.payload, spec: spec)
            cache.insert(token, facts: facts, keyVersion: keyVersion, now: now)
        }
        // Time moves on between requests with the same token: these are checked every time.
        switch facts.exp {
        case .malformed: return .reject(Self.tokenInvalid)
        case .value(let exp) where now > exp + leeway: return .reject(Self.tokenExpired)
        default: break
        }
        switch facts.nbf {
        case .malformed: return .reject(Self.tokenInvalid)
        case .value(let nbf) where now + leeway < nbf: return .reject(Self.tokenInvalid)
        default: break
        }
        switch facts.iat {
        case .malformed: return .reject(Self.tokenInvalid)
        case .value(let iat) where iat > now + leeway: return .reject(Self.tokenInvalid)
        default: break
        }
        if let refusal = facts.refusal { return .reject(refusal) }
        for (header, value) in facts.forwards { request.addUpstreamHeader(header, value) }
        request.principal.subject = facts.subject
        if !facts.principalClaims.isEmpty {
            for (path, value) in facts.principalClaims { request.principal.claims[path] = value }
        }
        if spec.stripToken { request.removeUpstreamHeader("authorization") }
        return .allow
    }

    private func verifySignature(_ jws: CompactJWS, alg: String, keys keySet: JWKSet?) -> Bool {
        if alg.hasPrefix("HS") {
            for key in hmacKeys {
                let mac: [UInt8]
                switch alg {
                case "HS256": mac = Array(HMAC<SHA256>.authenticationCode(for: jws.signingInput, using: key.key))
                case "HS384": mac = Array(HMAC<SHA384>.authenticationCode(for: jws.signingInput, using: key.key))
                case "HS512": mac = Array(HMAC<SHA512>.authenticationCode(for: jws.signingInput, using: key.key))
                default: return false
                }
                if SignatureCoding.constantTimeEquals(mac, jws.signature) { return true }
            }
            return false
        }
        // The key named by kid, or nothing: an unknown kid never falls back to another key.
        if let kid = jws.header["kid"], !(kid is String) { return false }
        guard let entry = keySet?.entry(kid: jws.header["kid"] as? String) else { return false }
        if let bound = entry.alg, bound != alg { return false }
        return JWKSet.verify(alg, key: entry.key, input: jws.signingInput, signature: jws.signature)
    }

    static func seconds(_ value: Any) -> Int64? {
        guard let number = value as? NSNumber, !(value is Bool) else { return nil }
        return number.int64Value
    }

    /// A claim by name, or by dotted path into nested objects when no claim has the whole name.
    static func lookup(_ path: String, in claims: [String: Any]) -> Any? {
        if let direct = claims[path] { return direct }
        var current: Any = claims
        for key in path.split(separator: ".") {
            guard let object = current as? [String: Any], let next = object[String(key)] else { return nil }
            current = next
        }
        return current
    }

    static func claim(at path: String, in claims: [String: Any], contains wanted: String) -> Bool {
        switch lookup(path, in: claims) {
        case let text as String: return text == wanted || text.split(separator: " ").contains { $0 == wanted }
        case let list as [Any]: return list.contains { ($0 as? String) == wanted }
        case let number as NSNumber: return number.stringValue == wanted
        default: return false
        }
    }

    static func claimText(at path: String, in claims: [String: Any]) -> String? {
        switch lookup(path, in: claims) {
        case let text as String: return text
        case let number as NSNumber: return number.stringValue
        case let list as [Any]:
            let strings = list.compactMap { $0 as? String }
            return strings.count == list.count ? strings.joined(separator: ",") : nil
        default: return nil
        }
    }
}

/// What a verified token's claims decide, worked out once when its signature is checked: the
/// time claims (checked on every request), the verdict of the claim rules that do not change
/// with time (issuer, audience, `require`), and the headers `forward` sends.
struct TokenFacts {
    enum Time {
        case absent
        case value(Int64)
        /// Present but not a number: the token is invalid.
        case malformed
    }

    var exp: Time
    var nbf: Time
    var iat: Time
    var refusal: RejectionCode?
    var forwards: [(String, String)]
    /// The `sub` claim, for the request's principal.
    var subject: String?
    /// The forwarded claims by their path in the policy, for the request's principal.
    var principalClaims: [String: String]

    init(claims: [String: Any], spec: JWTGuardSpec) {
        func time(_ name: String) -> Time {
            guard let value = claims[name] else { return .absent }
            return JWTGuard.seconds(value).map(Time.value) ?? .malformed
        }
        exp = time("exp")
        nbf = time("nbf")
        iat = time("iat")
        refusal = Self.refusal(claims, spec: spec)
        forwards = []
        subject = claims["sub"] as? String
        principalClaims = [:]
        if refusal == nil {
            for (path, header) in spec.forward {
                if let value = JWTGuard.claimText(at: path, in: claims), HTTPToken.isFieldValue(value) {
                    forwards.append((header, value))
                    principalClaims[path] = value
                }
            }
        }
    }

    var expiry: Int64? {
        if case .value(let exp) = exp { return exp }
        return nil
    }

    private static func refusal(_ claims: [String: Any], spec: JWTGuardSpec) -> RejectionCode? {
        if claims["exp"] == nil && !spec.allowMissingExp { return JWTGuard.tokenExpMissing }
        if let issuer = spec.issuer, claims["iss"] as? String != issuer { return JWTGuard.tokenInvalid }
        if !spec.audience.isEmpty {
            let audiences: [String]
            switch claims["aud"] {
            case let single as String: audiences = [single]
            case let list as [Any]:
                guard let strings = list as? [String] else { return JWTGuard.tokenInvalid }
                audiences = strings
            default: return JWTGuard.tokenInvalid
            }
            guard audiences.contains(where: spec.audience.contains) else { return JWTGuard.tokenInvalid }
        }
        for (path, wanted) in spec.require where !JWTGuard.claim(at: path, in: claims, contains: wanted) {
            return JWTGuard.claimRequirementFailed
        }
        return nil
    }
}
