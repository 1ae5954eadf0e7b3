import Foundation

/// Signs webhooks the way each sender does, with independent implementations: Python's `hmac`,
/// and the `standardwebhooks` and `stripe` packages from PyPI. Palisade's verification is tested
/// against these, never against its own signing code.
public enum PythonSigner {
    public struct Request: Codable, Sendable {
        public var preset: String
        public var secret: String
        public var body: String
        public var timestamp: Int
        public var id: String
        /// For Twilio: the full URL Twilio called.
        public var url: String

        public init(preset: String, secret: String, body: String, timestamp: Int, id: String = "msg_1", url: String = "") {
            self.preset = preset
            self.secret = secret
            self.body = body
            self.timestamp = timestamp
            self.id = id
            self.url = url
        }
    }

    static let script = #"""
        import base64, datetime, hashlib, hmac, json, sys
        r = json.load(sys.stdin)
        p, secret, body, ts, mid = r["preset"], r["secret"], r["body"], r["timestamp"], r["id"]
        def h(key, msg): return hmac.new(key.encode(), msg.encode(), hashlib.sha256)
        if p == "stripe":
            import stripe
            sig = stripe.WebhookSignature._compute_signature("%d.%s" % (ts, body), secret)
            out = {"Stripe-Signature": "t=%d,v1=%s" % (ts, sig)}
        elif p == "github":
            out = {"X-Hub-Signature-256": "sha256=" + h(secret, body).hexdigest()}
        elif p == "standard-webhooks":
            from standardwebhooks.webhooks import Webhook
            when = datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)
            out = {"webhook-id": mid, "webhook-timestamp": str(ts), "webhook-signature": Webhook(secret).sign(mid, when, body)}
        elif p == "shopify":
            out = {"X-Shopify-Hmac-Sha256": base64.b64encode(h(secret, body).digest()).decode()}
        elif p == "slack":
            out = {"X-Slack-Signature": "v0=" + h(secret, "v0:%d:%s" % (ts, body)).hexdigest(), "X-Slack-Request-Timestamp": str(ts)}
        elif p == "paddle":
            out = {"Paddle-Signature": "ts=%d;h1=%s" % (ts, h(secret, "%d:%s" % (ts, body)).hexdigest())}
        elif p == "twilio":
            from twilio.request_validator import RequestValidator
            from urllib.parse import parse_qs
            params = {k: v if len(v) > 1 else v[0] for k, v in parse_qs(body, keep_blank_values=True).items()} if "bodySHA256" not in r["url"] else {}
            out = {"X-Twilio-Signature": RequestValidator(secret).compute_signature(r["url"], params)}
        elif p == "generic-sha512-base64":
            d = hmac.new(secret.encode(), ("%d.%s" % (ts, body)).encode(), hashlib.sha512).digest()
            out = {"X-Signature": "sha512=" + base64.b64encode(d).decode(), "X-Timestamp": str(ts)}
        else:
            raise SystemExit("unknown preset " + p)
        print(json.dumps(out))
        """#

    /// The headers the sender would send for this body, as (name, value) pairs.
    public static func sign(_ request: Request) throws -> [(String, String)] {
        let text = try Python.run(script, input: try JSONEncoder().encode(request))
        guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String] else {
            throw SignerError(message: "unexpected output: \(text)")
        }
        return object.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    public struct SignerError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { "python signer failed: \(message)" }
    }
}
