import Crypto
import Foundation
import NIOHTTP1

/// One sender's signature scheme: where the signature, timestamp and id travel, which bytes are
/// signed around the body, how the key is written. The presets follow the senders' own SDKs
/// (see docs/policy.md and the design's webhook-schemes table).
struct HMACScheme: Sendable {
    let preset: HMACGuardSpec.Preset
    let generic: HMACGuardSpec.Generic?
    let publicURL: String

    init(spec: HMACGuardSpec) {
        preset = spec.preset
        generic = spec.generic
        publicURL = spec.publicURL ?? ""
    }

    struct Extracted {
        var signatures: [[UInt8]]
        var timestamp: Int64?
        var timestampText: String = ""
        var id: String = ""
    }

    var algorithm: HMACGuardSpec.Algorithm {
        if preset == .twilio { return .sha1 }
        return generic?.algorithm ?? .sha256
    }

    /// Where the signature travels, for a replay guard keyed on it.
    var signatureHeaders: [String] {
        switch preset {
        case .stripe: return ["stripe-signature"]
        case .github: return ["x-hub-signature-256"]
        case .standardWebhooks: return ["webhook-signature", "svix-signature"]
        case .shopify: return ["x-shopify-hmac-sha256"]
        case .slack: return ["x-slack-signature"]
        case .paddle: return ["paddle-signature"]
        case .twilio: return ["x-twilio-signature"]
        case .generic: return generic.map { [$0.header] } ?? []
        }
    }

    /// Every header the scheme reads: each must arrive in one field at most.
    var credentialHeaders: [String] {
        switch preset {
        case .standardWebhooks:
            return ["webhook-id", "webhook-timestamp", "webhook-signature", "svix-id", "svix-timestamp", "svix-signature"]
        case .slack: return ["x-slack-signature", "x-slack-request-timestamp"]
        case .generic:
            guard let generic else { return [] }
            return [generic.header] + [generic.timestampHeader, generic.idHeader].compactMap { $0 }
        default: return signatureHeaders
        }
    }

    /// Headers whose values the MAC covers, so a replay id read from one is bound to the
    /// signature. The signature headers themselves are not among them: their text can be
    /// respelled (hex case, order, spaces) without changing what verifies.
    var signedHeaders: [String] {
        switch preset {
        case .standardWebhooks: return ["webhook-id", "svix-id", "webhook-timestamp", "svix-timestamp"]
        case .slack: return ["x-slack-request-timestamp"]
        case .generic:
            guard let generic else { return [] }
            var signed: [String] = []
            if let id = generic.idHeader, generic.payload.contains("{id}") { signed.append(id) }
            if let ts = generic.timestampHeader, generic.payload.contains("{timestamp}") { signed.append(ts) }
            return signed
        case .stripe, .github, .shopify, .paddle, .twilio: return []
        }
    }

    var usesTimestamp: Bool {
        switch preset {
        case .stripe, .standardWebhooks, .slack, .paddle: return true
        case .github, .shopify, .twilio: return false
        case .generic: return generic?.timestampHeader != nil
        }
    }

    /// Seconds a timestamp may be off when the policy gives no tolerance.
    var defaultTolerance: Int64? {
        switch preset {
        case .stripe, .standardWebhooks, .slack, .generic: return 300
        case .paddle: return 5
        case .github, .shopify, .twilio: return nil
        }
    }

    func key(from secret: Secret) throws(GuardConfigurationError) -> SymmetricKey {
        switch preset {
        case .standardWebhooks:
            // whsec_<base64>: the key is the decoded bytes, never the text.
            var text = String(decoding: secret.bytes, as: UTF8.self)
            if text.hasPrefix("whsec_") { text.removeFirst("whsec_".count) }
            guard let bytes = SignatureCoding.base64(text), !bytes.isEmpty else {
                throw GuardConfigurationError(message: "a standard-webhooks secret is whsec_ followed by base64")
            }
            return SymmetricKey(data: bytes)
        case .generic:
            switch generic?.keyEncoding ?? .raw {
            case .raw: return SymmetricKey(data: secret.bytes)
            case .base64:
                guard let bytes = SignatureCoding.base64(String(decoding: secret.bytes, as: UTF8.self)) else {
                    throw GuardConfigurationError(message: "the secret is not base64 (key_encoding: base64)")
                }
                return SymmetricKey(data: bytes)
            case .hex:
                guard let bytes = SignatureCoding.hex(String(decoding: secret.bytes, as: UTF8.self)) else {
                    throw GuardConfigurationError(message: "the secret is not hex (key_encoding: hex)")
                }
                return SymmetricKey(data: bytes)
            }
        default:
            return SymmetricKey(data: secret.bytes)
        }
    }

    func extract(from headers: HTTPHeaders) -> Result<Extracted, RejectionCode> {
        switch preset {
        case .stripe:
            // Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>][,v0=...]; v0 (test mode) is ignored.
            guard let header = headers.first(name: "stripe-signature") else { return .failure(HMACGuard.signatureMissing) }
            return Self.timestampedHexList(header, name: "stripe-signature", separator: ",", timestampKey: "t", signatureKey: "v1")
        case .github:
            guard let header = headers.first(name: "x-hub-signature-256") else { return .failure(HMACGuard.signatureMissing) }
            if header.utf8.contains(UInt8(ascii: ",")) { return .failure(.duplicateCredentialHeader("x-hub-signature-256")) }
            guard header.hasPrefix("sha256="), let sig = SignatureCoding.hex(header.dropFirst("sha256=".count)) else {
                return .failure(HMACGuard.signatureInvalid)
            }
            return .success(Extracted(signatures: [sig]))
        case .standardWebhooks:
            // A sender may send both spellings; they must then agree, or the app (Svix's SDK reads
            // svix-* first, Palisade webhook-* first) could act on values that were not verified.
            for (standardName, svixName) in Self.svixSpellings {
                if let standard = headers.first(name: standardName), let svix = headers.first(name: svixName), standard != svix {
                    return .failure(.duplicateCredentialHeader(svixName))
                }
            }
            let id = headers.first(name: "webhook-id") ?? headers.first(name: "svix-id")
            let ts = headers.first(name: "webhook-timestamp") ?? headers.first(name: "svix-timestamp")
            let sigs = headers.first(name: "webhook-signature") ?? headers.first(name: "svix-signature")
            guard let id, let ts, let sigs else { return .failure(HMACGuard.signatureMissing) }
            guard let timestamp = Int64(ts), !id.isEmpty else { return .failure(HMACGuard.signatureInvalid) }
            var result = Extracted(signatures: [], timestamp: timestamp, timestampText: ts, id: id)
            for entry in sigs.split(separator: " ") {
                let parts = entry.split(separator: ",", maxSplits: 1)
                if parts.count == 2, parts[0] == "v1", let sig = SignatureCoding.base64(parts[1]) {
                    result.signatures.append(sig)
                }
            }
            guard !result.signatures.isEmpty else { return .failure(HMACGuard.signatureInvalid) }
            return .success(result)
        case .twilio:
            guard let header = headers.first(name: "x-twilio-signature") else { return .failure(HMACGuard.signatureMissing) }
            if header.utf8.contains(UInt8(ascii: ",")) { return .failure(.duplicateCredentialHeader("x-twilio-signature")) }
            guard let sig = SignatureCoding.base64(header.trimmingCharacters(in: .whitespaces)) else {
                return .failure(HMACGuard.signatureInvalid)
            }
            return .success(Extracted(signatures: [sig]))
        case .shopify:
            guard let header = headers.first(name: "x-shopify-hmac-sha256") else { return .failure(HMACGuard.signatureMissing) }
            if header.utf8.contains(UInt8(ascii: ",")) { return .failure(.duplicateCredentialHeader("x-shopify-hmac-sha256")) }
            guard let sig = SignatureCoding.base64(header.trimmingCharacters(in: .whitespaces)) else {
                return .failure(HMACGuard.signatureInvalid)
            }
            return .success(Extracted(signatures: [sig]))
        case .slack:
            guard let header = headers.first(name: "x-slack-signature"), let ts = headers.first(name: "x-slack-request-timestamp")
            else { return .failure(HMACGuard.signatureMissing) }
            if header.utf8.contains(UInt8(ascii: ",")) { return .failure(.duplicateCredentialHeader("x-slack-signature")) }
            guard header.hasPrefix("v0="), let sig = SignatureCoding.hex(header.dropFirst(3)), let timestamp = Int64(ts) else {
                return .failure(HMACGuard.signatureInvalid)
            }
            return .success(Extracted(signatures: [sig], timestamp: timestamp, timestampText: ts))
        case .paddle:
            // Paddle-Signature: ts=<unix>;h1=<hex>[;h1=<hex>]
            guard let header = headers.first(name: "paddle-signature") else { return .failure(HMACGuard.signatureMissing) }
            return Self.timestampedHexList(header, name: "paddle-signature", separator: ";", timestampKey: "ts", signatureKey: "h1")
        case .generic:
            guard let g = generic else { return .failure(HMACGuard.signatureInvalid) }
            guard let header = headers.first(name: g.header) else { return .failure(HMACGuard.signatureMissing) }
            var result = Extracted(signatures: [])
            for value in header.split(separator: " ") where value.hasPrefix(g.prefix) {
                let encoded = value.dropFirst(g.prefix.count)
                let decoded: [UInt8]?
                switch g.encoding {
                case .hex: decoded = SignatureCoding.hex(encoded)
                case .base64: decoded = SignatureCoding.base64(encoded)
                case .base64url: decoded = SignatureCoding.base64url(encoded)
                }
                if let decoded { result.signatures.append(decoded) }
            }
            if let tsHeader = g.timestampHeader {
                guard let ts = headers.first(name: tsHeader) else { return .failure(HMACGuard.signatureMissing) }
                guard let timestamp = Int64(ts) else { return .failure(HMACGuard.signatureInvalid) }
                result.timestamp = timestamp
                result.timestampText = ts
            }
            if let idHeader = g.idHeader {
                guard let id = headers.first(name: idHeader), !id.isEmpty else { return .failure(HMACGuard.signatureMissing) }
                result.id = id
            }
            guard !result.signatures.isEmpty else { return .failure(HMACGuard.signatureInvalid) }
            return .success(result)
        }
    }

    static let svixSpellings = [
        ("webhook-id", "svix-id"), ("webhook-timestamp", "svix-timestamp"), ("webhook-signature", "svix-signature"),
    ]

    /// `k=v` pairs such as Stripe's `t=…,v1=…,v1=…` and Paddle's `ts=…;h1=…`: one timestamp and any
    /// number of hex signatures; other keys (Stripe's test-mode `v0`) are ignored. A second
    /// timestamp means two headers were joined into one (`t=1,v1=…, t=2,v1=…`): refused.
    private static func timestampedHexList(
        _ header: String, name: String, separator: Character, timestampKey: String, signatureKey: String
    ) -> Result<Extracted, RejectionCode> {
        var result = Extracted(signatures: [])
        var sawTimestamp = false
        for pair in header.split(separator: separator) {
            let kv = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingASCIISpaces() }
            guard kv.count == 2 else { continue }
            if kv[0] == timestampKey {
                if sawTimestamp { return .failure(.duplicateCredentialHeader(name)) }
                sawTimestamp = true
                result.timestampText = String(kv[1])
                result.timestamp = Int64(kv[1])
            } else if kv[0] == signatureKey, let sig = SignatureCoding.hex(kv[1]) {
                result.signatures.append(sig)
            }
        }
        guard result.timestamp != nil, !result.signatures.isEmpty else { return .failure(HMACGuard.signatureInvalid) }
        return .success(result)
    }

    /// The signed bytes are `before + raw body + after`.
    func signedAffixes(_ e: Extracted) -> (before: [UInt8], after: [UInt8]) {
        switch preset {
        case .stripe: return (Array("\(e.timestampText).".utf8), [])
        case .standardWebhooks: return (Array("\(e.id).\(e.timestampText).".utf8), [])
        case .slack: return (Array("v0:\(e.timestampText):".utf8), [])
        case .paddle: return (Array("\(e.timestampText):".utf8), [])
        case .github, .shopify, .twilio: return ([], [])
        case .generic:
            let template = generic?.payload ?? "{body}"
            let parts = template.components(separatedBy: "{body}")
            func fill(_ s: String) -> [UInt8] {
                Array(s.replacingOccurrences(of: "{timestamp}", with: e.timestampText).replacingOccurrences(of: "{id}", with: e.id).utf8)
            }
            return (fill(parts.first ?? ""), fill(parts.dropFirst().joined(separator: "{body}")))
        }
    }
}
