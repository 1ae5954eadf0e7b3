/// Where a named secret comes from: environment variables (several for rotation, newest first),
/// a file (Kubernetes secret volume), or, discouraged, the policy file itself.
public struct SecretSpec: Sendable {
    public enum Source: Sendable {
        case env([String])
        case file(String)
        case inline(String)
    }

    public var name: String
    public var source: Source
    public var position: SourcePosition

    static func decodeAll(_ node: PolicyNode) -> [String: SecretSpec] {
        guard case .mapping(let mapping) = node.node else {
            node.error("expected a mapping of secret name to { env: NAME } or { file: PATH }, found \(node.kindName)")
            return [:]
        }
        var result: [String: SecretSpec] = [:]
        for (keyNode, valueNode) in mapping {
            let name = keyNode.string ?? ""
            let child = node.child(valueNode, key: name)
            guard RouteDecoder.isValidRouteName(name) else {
                child.error("secret names are 1-64 characters of letters, digits, '-', '_' and '.'")
                continue
            }
            if let spec = decode(child, name: name) { result[name] = spec }
        }
        return result
    }

    /// One `{ env: NAME }`, `{ file: PATH }` or `{ value: TEXT }` mapping, named `name` in messages
    /// and in the resolved secrets (also used for `store.redis.password`).
    static func decode(_ child: PolicyNode, name: String) -> SecretSpec? {
        guard let map = child.mapping(allowedKeys: ["env", "file", "value"]) else { return nil }
        let given = map.keys
        guard given.count == 1 else {
            child.error("give exactly one of env, file or value")
            return nil
        }
        var source: Source?
        if let envNode = map["env"], let names = envNode.stringList() {
            let valid = names.filter { name, itemNode in
                let ok =
                    !name.isEmpty
                    && name.utf8.allSatisfy {
                        $0 == 0x5f || ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a)
                    }
                if !ok { itemNode.error("'\(name)' is not an environment variable name") }
                return ok
            }
            if !valid.isEmpty { source = .env(valid.map(\.0)) }
        } else if let fileNode = map["file"], let path = fileNode.string() {
            if path.hasPrefix("/") { source = .file(path) } else { fileNode.error("secret files are given by absolute path") }
        } else if let valueNode = map["value"], let value = valueNode.string() {
            if value.isEmpty { valueNode.error("an empty secret") } else { source = .inline(value) }
        }
        guard let source else { return nil }
        return SecretSpec(name: name, source: source, position: child.position)
    }
}
