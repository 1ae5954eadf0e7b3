/// `jwt:` a bearer token verified with keys from a JWKS file (or a named secret for HS*), its
/// registered claims checked with leeway, required claims enforced and chosen claims forwarded.
public struct JWTGuardSpec: Sendable {
    public static let supportedAlgorithms = [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "HS256", "HS384", "HS512",
    ]

    public var algorithms: [String]
    public var jwksFile: String?
    public var secret: String?
    public var secretPosition: SourcePosition?
    public var issuer: String?
    public var audience: [String] = []
    public var leeway = PolicyDuration.seconds(30)
    /// claim path -> value that must be equal to it, or contained in it (array, or space-separated scopes).
    public var require: [(String, String)] = []
    /// claim path -> header sent to the app.
    public var forward: [(String, String)] = []
    public var cookie: String?
    public var stripToken = false

    static let keys = [
        "algorithms", "jwks", "secret", "issuer", "audience", "leeway", "require", "forward", "cookie", "strip_token",
        "mode",
    ]

    static func decode(_ node: PolicyNode) -> JWTGuardSpec? {
        guard let map = node.mapping(allowedKeys: keys) else { return nil }
        var algorithms: [String] = []
        if let list = map.required("algorithms")?.stringList() {
            for (alg, itemNode) in list {
                if alg.lowercased() == "none" {
                    itemNode.error("'none' is never accepted")
                } else if supportedAlgorithms.contains(alg) {
                    algorithms.append(alg)
                } else {
                    itemNode.error("'\(alg)' is not one of: \(supportedAlgorithms.joined(separator: ", "))")
                }
            }
        }
        var spec = JWTGuardSpec(algorithms: algorithms)
        if let jwksNode = map["jwks"], let jwks = jwksNode.mapping(allowedKeys: ["file"]) {
            if let fileNode = jwks.required("file"), let file = fileNode.string() {
                if file.hasPrefix("/") { spec.jwksFile = file } else { fileNode.error("jwks.file is given by absolute path") }
            }
        }
        if let secretNode = map["secret"], let name = secretNode.string() {
            spec.secret = name
            spec.secretPosition = secretNode.position
        }
        let asymmetric = algorithms.contains { !$0.hasPrefix("HS") }
        let symmetric = algorithms.contains { $0.hasPrefix("HS") }
        if asymmetric && spec.jwksFile == nil { node.error("RS/PS/ES/EdDSA algorithms need jwks: { file: PATH }") }
        if symmetric && spec.secret == nil { node.error("HS algorithms need secret: NAME") }
        if asymmetric && symmetric {
            // Mixing lets a public key be tried as an HMAC secret: the classic algorithm confusion.
            node.error("do not mix HS and public-key algorithms in one jwt guard")
        }
        spec.issuer = map["issuer"]?.string()
        if let audience = map["audience"]?.stringList() { spec.audience = audience.map(\.0) }
        if let leeway = map["leeway"]?.duration(atLeast: .seconds(0)) { spec.leeway = leeway }
        for (key, keyPath) in [("require", \JWTGuardSpec.require), ("forward", \JWTGuardSpec.forward)] {
            guard let pairsNode = map[key] else { continue }
            guard case .mapping(let mapping) = pairsNode.node else {
                pairsNode.error("expected a mapping of claim to value")
                continue
            }
            for (k, v) in mapping {
                guard let claim = k.string, let value = v.string, !claim.isEmpty else { continue }
                if key == "forward" && !HTTPToken.isToken(value) {
                    pairsNode.child(v, key: claim).error("'\(value)' is not a header name")
                    continue
                }
                spec[keyPath: keyPath].append((claim, key == "forward" ? value.lowercased() : value))
            }
        }
        spec.cookie = map["cookie"]?.string()
        if let strip = map["strip_token"]?.bool() { spec.stripToken = strip }
        return spec
    }
}
