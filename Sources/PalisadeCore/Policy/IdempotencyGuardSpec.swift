/// `idempotency:` an `Idempotency-Key` on the named methods; the app's first answer is kept and
/// replayed for the same key; the same key with a different request is refused.
public struct IdempotencyGuardSpec: Sendable {
    public var methods: [String] = ["POST"]
    public var header = "idempotency-key"
    public var required = true
    public var ttl = PolicyDuration.seconds(86_400)
    public var maxResponseBytes = ByteCount(bytes: 64 * 1024)

    static let keys = ["methods", "header", "required", "ttl", "max_response_bytes", "mode"]

    static func decode(_ node: PolicyNode) -> IdempotencyGuardSpec? {
        guard let map = node.mapping(allowedKeys: keys) else { return nil }
        var spec = IdempotencyGuardSpec()
        if let methods = map["methods"]?.stringList() {
            spec.methods = []
            for (method, itemNode) in methods {
                if HTTPToken.isToken(method) {
                    spec.methods.append(method.uppercased())
                } else {
                    itemNode.error("'\(method)' is not an HTTP method")
                }
            }
        }
        if let headerNode = map["header"], let header = headerNode.string() {
            if HTTPToken.isToken(header) { spec.header = header.lowercased() } else { headerNode.error("'\(header)' is not a header name") }
        }
        if let value = map["required"]?.bool() { spec.required = value }
        if let value = map["ttl"]?.duration(atLeast: .seconds(1)) { spec.ttl = value }
        if let value = map["max_response_bytes"]?.byteCount(in: 0...(16 << 20)) { spec.maxResponseBytes = value }
        return spec
    }
}
