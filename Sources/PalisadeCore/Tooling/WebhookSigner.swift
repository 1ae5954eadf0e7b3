import Crypto
import Foundation

/// Signs a body the way a preset's sender does, for `palisade sign` (curl examples, users' own
/// tests). Palisade's own tests never verify against this: they sign with the senders' libraries.
public enum WebhookSigner {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Every header the preset's sender sends with `body`: the signature and what it signs, and
    /// the delivery id and event name that the shipped policies and apps read (`X-GitHub-Delivery`,
    /// `X-Shopify-Event-Id`), so `sign … > h.txt; curl -H @h.txt` looks like a real delivery.
    /// `id` and `event` default to a fresh id and the sender's test event.
    public static func sign(
        preset: HMACGuardSpec.Preset, secret: [UInt8], body: [UInt8], timestamp: Int64, id: String? = nil,
        event: String? = nil
    ) throws -> [(String, String)] {
        let uuid = UUID().uuidString.lowercased()
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
        let messageID = id ?? (preset == .standardWebhooks ? "msg_\(UInt64.random(in: 1...UInt64.max))" : uuid)
        let extracted = HMACScheme.Extracted(signatures: [], timestamp: timestamp, timestampText: String(timestamp), id: messageID)
        let (before, after) = scheme.signedAffixes(extracted)
        let mac = body.withUnsafeBytes { scheme.algorithm.mac(key: key.key, parts: before, $0, after) }
        let hex = HexText.lowercase(mac)
        let b64 = Data(mac).base64EncodedString()
        switch preset {
        case .stripe: return [("Stripe-Signature", "t=\(timestamp),v1=\(hex)")]
        case .github:
            return [
                ("X-Hub-Signature-256", "sha256=\(hex)"), ("X-GitHub-Event", event ?? "ping"),
                ("X-GitHub-Delivery", messageID), ("Content-Type", "application/json"),
            ]
        case .standardWebhooks:
            return [("webhook-id", messageID), ("webhook-timestamp", String(timestamp)), ("webhook-signature", "v1,\(b64)")]
        case .shopify:
            return [
                ("X-Shopify-Hmac-Sha256", b64), ("X-Shopify-Topic", event ?? "orders/create"),
                ("X-Shopify-Event-Id", messageID), ("X-Shopify-Webhook-Id", uuid),
                ("Content-Type", "application/json"),
            ]
        case .slack: return [("X-Slack-Signature", "v0=\(hex)"), ("X-Slack-Request-Timestamp", String(timestamp))]
        case .paddle: return [("Paddle-Signature", "ts=\(timestamp);h1=\(hex)")]
        case .twilio: throw Failure(description: "twilio signs the URL it calls; sign with Twilio's own helper library")
        case .generic: throw Failure(description: "generic schemes are defined by a policy; sign with a named preset")
        }
    }
}
