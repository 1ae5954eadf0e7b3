/// `ip: { allow: [...], deny: [...] }`: the client address must be inside `allow` (when given)
/// and outside `deny`.
public struct IPGuardSpec: Sendable {
    public var allow: [CIDRBlock] = []
    public var deny: [CIDRBlock] = []

    static let keys = ["allow", "deny", "mode"]

    static func decode(_ node: PolicyNode) -> IPGuardSpec? {
        guard let map = node.mapping(allowedKeys: keys) else { return nil }
        var spec = IPGuardSpec()
        spec.allow = map["allow"].map(CIDRListDecoder.decode) ?? []
        spec.deny = map["deny"].map(CIDRListDecoder.decode) ?? []
        if map["allow"] == nil && map["deny"] == nil {
            node.error("an ip guard needs 'allow', 'deny' or both")
        }
        return spec
    }
}

enum CIDRListDecoder {
    static func decode(_ node: PolicyNode) -> [CIDRBlock] {
        guard let items = node.stringList() else { return [] }
        return items.compactMap { text, itemNode in
            guard let block = CIDRBlock(parsing: text) else {
                itemNode.error(CIDRBlock.problem(text))
                return nil
            }
            return block
        }
    }
}
