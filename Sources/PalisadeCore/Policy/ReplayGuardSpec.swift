/// `replay:` a delivery id accepted once within `ttl`.
public struct ReplayGuardSpec: Sendable {
    public enum IDSource: Sendable, Equatable {
        case header(String)
        /// A path into the JSON body, as keys from the root: `$.data.object.id` -> ["data", "object", "id"].
        case json([String])
        /// The signature the route's hmac guard verified.
        case signature
    }

    public enum OnDuplicate: String, Sendable { case reject, acknowledge }

    public var id: IDSource
    public var ttl: PolicyDuration
    public var onDuplicate: OnDuplicate = .reject
    /// Where `id` is written, for the linter's warning about unsigned ids.
    public var idPosition: SourcePosition?

    static let keys = ["id", "ttl", "on_duplicate", "mode"]

    static func decode(_ node: PolicyNode) -> ReplayGuardSpec? {
        guard let map = node.mapping(allowedKeys: keys) else { return nil }
        var id: IDSource?
        let idNode = map.required("id")
        if let idNode, let text = idNode.string() {
            id = parseID(text)
            if id == nil {
                idNode.error("'\(text)' is not an id source; write header:NAME, json:$.path.to.id or signature")
            }
        }
        let ttl = map.required("ttl")?.duration(atLeast: .seconds(1))
        let onDuplicate = map["on_duplicate"]?.oneOf(["reject": OnDuplicate.reject, "acknowledge": .acknowledge])
        guard let id, let ttl else { return nil }
        return ReplayGuardSpec(id: id, ttl: ttl, onDuplicate: onDuplicate ?? .reject, idPosition: idNode?.position)
    }

    static func parseID(_ text: String) -> IDSource? {
        if text == "signature" { return .signature }
        if text.hasPrefix("header:") {
            let name = String(text.dropFirst("header:".count)).lowercased()
            return HTTPToken.isToken(name) ? .header(name) : nil
        }
        if text.hasPrefix("json:$.") {
            let path = text.dropFirst("json:$.".count).split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            return path.allSatisfy({ !$0.isEmpty }) ? .json(path) : nil
        }
        return nil
    }
}
