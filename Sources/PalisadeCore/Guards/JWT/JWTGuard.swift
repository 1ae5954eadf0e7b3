import Crypto
import Foundation
import NIOHTTP1

/// Verifies a bearer JWT on the event loop with keys parsed when the policy loaded: only the
/// policy's algorithms, the key named by `kid` (never a default key, never keys the token carries),
/// registered claims with leeway, required claims, and chosen claims forwarded as headers whose
/// client-sent copies are removed first.
public struct JWTGuard: Guard {
    public var kind: String { "jwt" }

    let spec: JWTGuardSpec
    let jwks: JWKSet?
    let hmacKeys: [HMACKey]
    let leeway: Int64

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
    public static let claimRequirementFailed = RejectionCode(
        "claim_requirement_failed", status: .forbidden, headers: [("www-authenticate", #"Bearer error="insufficient_scope""#)]
    )

    /// Header fields a token must not carry: they point at keys the token chooses itself.
    static let forbiddenHeaderFields = ["jku", "x5u", "jwk", "x5c", "crit"]

    init(spec: JWTGuardSpec, jwks: JWKSet?, secrets: [Secret]) {
        self.spec = spec
        self.jwks = jwks
        self.hmacKeys = secrets.map { HMACKey(key: SymmetricKey(data: $0.bytes)) }
        self.leeway = spec.leeway.nanoseconds / 1_000_000_000
    }

    private func token(from request: GuardRequest) -> Substring? {
        if let authorization = request.head.headers.first(name: "authorization") {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { return parts[1].trimmingASCIISpaces() }
        }
        if let cookieName = spec.cookie {
            for cookieHeader in request.head.headers[canonicalForm: "cookie"] {
                for pair in cookieHeader.split(separator: ";") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    if kv.count == 2, kv[0].trimmingASCIISpaces() == cookieName { return kv[1].trimmingASCIISpaces() }
                }
            }
        }
        return nil
    }

    public func check(_ request: GuardRequest) -> GuardDecision {
        for (_, header) in spec.forward { request.removeUpstreamHeader(header) }
        guard let token = token(from: request), !token.isEmpty else { return .reject(Self.tokenMissing) }
        guard let jws = CompactJWS(token), let alg = jws.header["alg"] as? String, spec.algorithms.contains(alg),
            !Self.forbiddenHeaderFields.contains(where: { jws.header[$0] != nil }), verifySignature(jws, alg: alg)
        else { return .reject(Self.tokenInvalid) }

        let now = request.now.seconds
        let claims = jws.payload
        if let exp = claims["exp"] {
            guard let value = Self.seconds(exp) else { return .reject(Self.tokenInvalid) }
            if now > value + leeway { return .reject(Self.tokenExpired) }
        }
        if let nbf = claims["nbf"] {
            guard let value = Self.seconds(nbf), now + leeway >= value else { return .reject(Self.tokenInvalid) }
        }
        if let iat = claims["iat"] {
            guard let value = Self.seconds(iat), value <= now + leeway else { return .reject(Self.tokenInvalid) }
        }
        if let issuer = spec.issuer, claims["iss"] as? String != issuer { return .reject(Self.tokenInvalid) }
        if !spec.audience.isEmpty {
            let audiences: [String]
            switch claims["aud"] {
            case let single as String: audiences = [single]
            case let list as [Any]:
                guard let strings = list as? [String] else { return .reject(Self.tokenInvalid) }
                audiences = strings
            default: return .reject(Self.tokenInvalid)
            }
            guard audiences.contains(where: spec.audience.contains) else { return .reject(Self.tokenInvalid) }
        }
        for (path, wanted) in spec.require where !Self.claim(at: path, in: claims, contains: wanted) {
            return .reject(Self.claimRequirementFailed)
        }
        for (path, header) in spec.forward {
            if let value = Self.claimText(at: path, in: claims), HTTPToken.isFieldValue(value) {
                request.addUpstreamHeader(header, value)
            }
        }
        if spec.stripToken { request.removeUpstreamHeader("authorization") }
        return .allow
    }

    private func verifySignature(_ jws: CompactJWS, alg: String) -> Bool {
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
        guard let kid = jws.header["kid"] as? String, let entry = jwks?.keys[kid] else { return false }
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
