/// `api_key:` a key presented in a header, checked against a keys file of SHA-256 hashes.
public struct APIKeyGuardSpec: Sendable {
    public var header = "x-api-key"
    public var keysFile: String
    public var keysFilePosition: SourcePosition
    /// The header that carries the matched key's id to the app (a client-sent copy is removed).
    public var forwardHeader = "x-api-key-id"

    static let keys = ["header", "keys_file", "forward_header", "mode"]

    static func decode(_ node: PolicyNode) -> APIKeyGuardSpec? {
        guard let map = node.mapping(allowedKeys: keys) else { return nil }
        guard let fileNode = map.required("keys_file"), let file = fileNode.string() else { return nil }
        guard file.hasPrefix("/") else {
            fileNode.error("keys_file is given by absolute path")
            return nil
        }
        var spec = APIKeyGuardSpec(keysFile: file, keysFilePosition: fileNode.position)
        for (key, target) in [("header", \APIKeyGuardSpec.header), ("forward_header", \APIKeyGuardSpec.forwardHeader)] {
            guard let headerNode = map[key], let name = headerNode.string() else { continue }
            if HTTPToken.isToken(name) {
                spec[keyPath: target] = name.lowercased()
            } else {
                headerNode.error("'\(name)' is not a header name")
            }
        }
        return spec
    }
}
