/// `hmac:` a webhook signature over the raw body (and timestamp, id) with one of a named
/// secret's values. Presets follow each sender's published scheme; `generic` spells one out.
public struct HMACGuardSpec: Sendable {
    public enum Preset: String, Sendable, CaseIterable {
        case stripe, github
        case standardWebhooks = "standard-webhooks"
        case shopify, slack, paddle, twilio, generic
    }

    public enum Algorithm: String, Sendable { case sha1, sha256, sha512 }
    public enum Encoding: String, Sendable { case hex, base64, base64url }
    public enum KeyEncoding: String, Sendable { case raw, base64, hex }

    /// How a `generic` signature is built and carried.
    public struct Generic: Sendable {
        public var header: String
        public var algorithm: Algorithm = .sha256
        public var encoding: Encoding = .hex
        public var prefix: String = ""
        /// Signed bytes: `{body}`, `{timestamp}`, `{id}` and literal text.
        public var payload: String = "{body}"
        public var timestampHeader: String?
        public var idHeader: String?
        public var keyEncoding: KeyEncoding = .raw
    }

    public var preset: Preset
    public var secret: String
    public var secretPosition: SourcePosition
    /// How old a signed timestamp may be; nil uses the preset's default.
    public var tolerance: PolicyDuration?
    /// How far in the future a signed timestamp may be (clock skew); nil uses the preset's default.
    public var futureTolerance: PolicyDuration?
    public var generic: Generic?
    /// Twilio signs the URL it called (scheme, host, port, path, query): the public base URL,
    /// e.g. `https://api.example.com`, to which the request's target is appended.
    public var publicURL: String?

    static let keys = [
        "preset", "secret", "tolerance", "future_tolerance", "header", "algorithm", "encoding", "prefix", "payload",
        "timestamp_header", "id_header", "key_encoding", "public_url", "mode",
    ]
    static let genericKeys: Set<String> = [
        "header", "algorithm", "encoding", "prefix", "payload", "timestamp_header", "id_header", "key_encoding",
    ]

    static func decode(_ node: PolicyNode) -> HMACGuardSpec? {
        guard let map = node.mapping(allowedKeys: keys) else { return nil }
        let presetNode = map.required("preset")
        let preset = presetNode?.oneOf(
            [
                "stripe": Preset.stripe, "github": .github, "standard-webhooks": .standardWebhooks, "shopify": .shopify,
                "slack": .slack, "paddle": .paddle, "twilio": .twilio, "generic": .generic,
            ]
        )
        let secretNode = map.required("secret")
        let secret = secretNode?.string()
        let tolerance = map["tolerance"]?.duration(atLeast: .seconds(1))
        let future = map["future_tolerance"]?.duration(atLeast: .seconds(0))
        var generic: Generic?
        if preset == .generic {
            if let headerNode = map.required("header"), let header = headerNode.string() {
                if HTTPToken.isToken(header) {
                    var g = Generic(header: header.lowercased())
                    if let v = map["algorithm"]?.oneOf(["sha1": Algorithm.sha1, "sha256": .sha256, "sha512": .sha512]) { g.algorithm = v }
                    if let v = map["encoding"]?.oneOf(["hex": Encoding.hex, "base64": .base64, "base64url": .base64url]) { g.encoding = v }
                    if let v = map["prefix"]?.string() { g.prefix = v }
                    if let payloadNode = map["payload"], let v = payloadNode.string() {
                        if !v.contains("{body}") { payloadNode.error("the signed payload must include {body}") }
                        g.payload = v
                    }
                    for (key, target) in [("timestamp_header", \Generic.timestampHeader), ("id_header", \Generic.idHeader)] {
                        guard let headerNode = map[key], let name = headerNode.string() else { continue }
                        if HTTPToken.isToken(name) {
                            g[keyPath: target] = name.lowercased()
                        } else {
                            headerNode.error("'\(name)' is not a header name")
                        }
                    }
                    if g.timestampHeader != nil && !g.payload.contains("{timestamp}") {
                        node.error(
                            "timestamp_header is checked but not signed: add {timestamp} to payload, or the sender's clock could be forged")
                    }
                    if let v = map["key_encoding"]?.oneOf(["raw": KeyEncoding.raw, "base64": .base64, "hex": .hex]) { g.keyEncoding = v }
                    if g.payload.contains("{timestamp}") && g.timestampHeader == nil {
                        node.error("a payload with {timestamp} needs timestamp_header")
                    }
                    if g.payload.contains("{id}") && g.idHeader == nil { node.error("a payload with {id} needs id_header") }
                    generic = g
                } else {
                    headerNode.error("'\(header)' is not a header name")
                }
            }
        } else if preset != nil {
            for key in map.keys where genericKeys.contains(key) {
                map[key]?.error("'\(key)' applies only to preset: generic")
            }
        }
        var publicURL: String?
        if preset == .twilio {
            if let urlNode = map.required("public_url"), let text = urlNode.string() {
                if (text.hasPrefix("https://") || text.hasPrefix("http://")) && !text.dropFirst(8).contains("?") {
                    publicURL = text.hasSuffix("/") ? String(text.dropLast()) : text
                } else {
                    urlNode.error("public_url is the scheme and host Twilio calls, e.g. https://api.example.com")
                }
            }
        } else if let urlNode = map["public_url"] {
            urlNode.error("'public_url' applies only to preset: twilio")
        }
        guard let preset, let secret, let secretNode else { return nil }
        if preset == .twilio && publicURL == nil { return nil }
        if [.github, .shopify, .twilio].contains(preset) {
            // These senders sign no timestamp: a tolerance would look like protection and check nothing.
            for key in ["tolerance", "future_tolerance"] {
                map[key]?.error("preset \(preset.rawValue) signs no timestamp; '\(key)' has nothing to check (pair it with a replay guard)")
            }
        }
        if preset == .generic && generic == nil { return nil }
        return HMACGuardSpec(
            preset: preset, secret: secret, secretPosition: secretNode.position, tolerance: tolerance,
            futureTolerance: future, generic: generic, publicURL: publicURL
        )
    }
}
