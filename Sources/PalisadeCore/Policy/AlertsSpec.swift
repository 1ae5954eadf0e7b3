/// `alerts:` — where bans and bursts of signature failures are announced, off the request path.
public struct AlertsSpec: Sendable, Equatable {
    public var url: String
    public var isTLS: Bool
    public var host: String
    public var port: Int
    public var target: String
    /// The secret (under `secrets:`) the alerts are signed with, Standard Webhooks style.
    public var secret: String
    public var secretPosition: SourcePosition
    /// This many refusals by `hmac` guards within `window` make one alert (then none until the
    /// window ends).
    public var signatureFailures = 20
    public var signatureWindow = PolicyDuration.seconds(60)
    public var timeout = PolicyDuration.seconds(5)

    static func decode(_ node: PolicyNode) -> AlertsSpec? {
        guard let map = node.mapping(allowedKeys: ["webhook", "secret", "signature_failures", "timeout"]) else { return nil }
        guard let urlNode = map.required("webhook"), let url = urlNode.string() else { return nil }
        guard let parts = RemoteJWKSSpec.parse(url) else {
            urlNode.error("not an http(s):// URL with a host")
            return nil
        }
        guard let secretNode = map.required("secret"), let secret = secretNode.string() else { return nil }
        var spec = AlertsSpec(
            url: url, isTLS: parts.isTLS, host: parts.host, port: parts.port, target: parts.target, secret: secret,
            secretPosition: secretNode.position)
        if let burst = map["signature_failures"], let burstMap = burst.mapping(allowedKeys: ["count", "window"]) {
            if let count = burstMap["count"]?.int(in: 1...1_000_000) { spec.signatureFailures = count }
            if let window = burstMap["window"]?.duration(atLeast: .seconds(1)) { spec.signatureWindow = window }
        }
        if let timeout = map["timeout"]?.duration(atLeast: .milliseconds(100)) { spec.timeout = timeout }
        return spec
    }
}
