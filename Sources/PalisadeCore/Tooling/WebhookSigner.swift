import Crypto
import Foundation

/// Signs a body the way a preset's sender does, for `palisade sign` (curl examples, users' own
/// tests). Palisade's own tests never verify against this: they sign with the senders' libraries.
public enum WebhookSigner {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The headers to send with `body`.
    public static func sign(
        preset: HMACGuardSpec.Preset, secret: [UInt8], body: [UInt8], timestamp: Int64, id: String
    ) throws -> [(String, String)] {
        let spec = HMACGuardSpec(
            preset: preset, secret: "cli", secretPosition: .init(line: 0, column: 0, keyPath: ""), tolerance: nil,
            futureTolerance: nil, generic: nil
        )
        let scheme = HMACScheme(spec: spec)
        let key: HMACKey
        do {
            key = HMACKey(key: try scheme.key(from: Secret(secret)))
        } catch {
            throw Failure(description: error.message)
        }
        let extracted = HMACScheme.Extracted(signatures: [], timestamp: timestamp, timestampText: String(timestamp), id: id)
        let (before, after) = scheme.signedAffixes(extracted)
        let mac = body.withUnsafeBytes { scheme.algorithm.mac(key: key.key, parts: before, $0, after) }
        let hex = mac.map { String(format: "%02x", $0) }.joined()
        let b64 = Data(mac).base64EncodedString()
        switch preset {
        case .stripe: return [("Stripe-Signature", "t=\(timestamp),v1=\(hex)")]
        case .github: return [("X-Hub-Signature-256", "sha256=\(hex)")]
        case .standardWebhooks:
            return [("webhook-id", id), ("webhook-timestamp", String(timestamp)), ("webhook-signature", "v1,\(b64)")]
        case .shopify: return [("X-Shopify-Hmac-Sha256", b64)]
        case .slack: return [("X-Slack-Signature", "v0=\(hex)"), ("X-Slack-Request-Timestamp", String(timestamp))]
        case .paddle: return [("Paddle-Signature", "ts=\(timestamp);h1=\(hex)")]
        case .twilio: throw Failure(description: "twilio signs the URL it calls; sign with Twilio's own helper library")
        case .generic: throw Failure(description: "generic schemes are defined by a policy; sign with a named preset")
        }
    }
}
