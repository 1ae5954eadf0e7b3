/// Where a `jwt` guard's public keys come from.
public enum JWTKeySourceSpec: Sendable, Hashable {
    /// `jwks: { file: /path }`: read with the policy (start and reload).
    case file(String)
    /// `jwks: { url: https://… }`: fetched in the background and refreshed.
    case url(RemoteJWKSSpec)
    /// `pem: /path`: one public key in a PEM file; it verifies whatever `kid` a token names.
    case pem(String)
}

/// `jwks: { url, refresh, min_refetch_interval, timeout, ca_file, allow_http }`.
public struct RemoteJWKSSpec: Sendable, Hashable {
    public var url: String
    public var isTLS: Bool
    public var host: String
    public var port: Int
    /// Path and query, as sent in the request line.
    public var target: String
    public var refresh = PolicyDuration.seconds(300)
    /// An unknown `kid` triggers a fetch at most this often (a rotated issuer is picked up at once;
    /// a flood of made-up kids cannot turn Palisade against the issuer).
    public var minRefetchInterval = PolicyDuration.seconds(30)
    public var timeout = PolicyDuration.seconds(5)
    public var caFile: String?

    /// Splits `http(s)://host[:port]/path?query`; nil when it is not such a URL.
    static func parse(_ url: String) -> (isTLS: Bool, host: String, port: Int, target: String)? {
        let lower = url.lowercased()
        let isTLS: Bool
        let rest: Substring
        if lower.hasPrefix("https://") {
            isTLS = true
            rest = url.dropFirst(8)
        } else if lower.hasPrefix("http://") {
            isTLS = false
            rest = url.dropFirst(7)
        } else {
            return nil
        }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        var target = String(rest[slash...])
        if target.isEmpty { target = "/" }
        guard !authority.isEmpty, !authority.contains("@"), !target.contains("#"),
            target.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f })
        else { return nil }
        var host = String(authority)
        var port = isTLS ? 443 : 80
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()), (1...65535).contains(p) else { return nil }
                port = p
            }
        } else if let colon = authority.lastIndex(of: ":") {
            guard let p = Int(authority[authority.index(after: colon)...]), (1...65535).contains(p) else { return nil }
            host = String(authority[..<colon])
            port = p
        }
        guard !host.isEmpty else { return nil }
        return (isTLS, host, port, target)
    }

    /// Plain HTTP is accepted for loopback addresses only, unless `allow_http` says otherwise:
    /// keys fetched in the clear from elsewhere could be swapped by anyone on the path.
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

/// `jwt:` a bearer token verified with keys from a JWKS file or URL, a PEM public key, or a named
/// secret for HS*; its registered claims checked with leeway, required claims enforced and
/// chosen claims forwarded.
public struct JWTGuardSpec: Sendable {
    public static let supportedAlgorithms = [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "HS256", "HS384", "HS512",
    ]

    public var algorithms: [String]
    public var keySource: JWTKeySourceSpec?
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
    /// Tokens without `exp` are refused (RFC 8725 3.10) unless this opts out, for an issuer whose
    /// tokens never carry one.
    public var allowMissingExp = false

    static let keys = [
        "algorithms", "jwks", "pem", "secret", "issuer", "audience", "leeway", "require", "forward", "cookie", "strip_token",
        "allow_missing_exp", "mode",
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
        if let jwksNode = map["jwks"] {
            spec.keySource = decodeJWKS(jwksNode)
        }
        if let pemNode = map["pem"], let path = pemNode.string() {
            if spec.keySource != nil {
                pemNode.error("give either jwks or pem, not both")
            } else if path.hasPrefix("/") {
                spec.keySource = .pem(path)
            } else {
                pemNode.error("pem is given by absolute path")
            }
        }
        if let secretNode = map["secret"], let name = secretNode.string() {
            spec.secret = name
            spec.secretPosition = secretNode.position
        }
        let asymmetric = algorithms.contains { !$0.hasPrefix("HS") }
        let symmetric = algorithms.contains { $0.hasPrefix("HS") }
        if asymmetric && spec.keySource == nil {
            node.error("RS/PS/ES/EdDSA algorithms need jwks: { file: PATH } or jwks: { url: URL } or pem: PATH")
        }
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
        if let allow = map["allow_missing_exp"]?.bool() { spec.allowMissingExp = allow }
        return spec
    }

    private static func decodeJWKS(_ node: PolicyNode) -> JWTKeySourceSpec? {
        let allowed = ["file", "url", "refresh", "min_refetch_interval", "timeout", "ca_file", "allow_http"]
        guard let jwks = node.mapping(allowedKeys: allowed) else { return nil }
        if let fileNode = jwks["file"], let file = fileNode.string() {
            if jwks["url"] != nil {
                fileNode.error("give either jwks.file or jwks.url, not both")
                return nil
            }
            for key in allowed where key != "file" && jwks[key] != nil {
                jwks[key]?.error("'\(key)' applies to jwks.url only")
            }
            guard file.hasPrefix("/") else {
                fileNode.error("jwks.file is given by absolute path")
                return nil
            }
            return .file(file)
        }
        guard let urlNode = jwks["url"], let url = urlNode.string() else {
            node.error("jwks needs file: PATH or url: URL")
            return nil
        }
        guard let parts = RemoteJWKSSpec.parse(url) else {
            urlNode.error("'\(url)' is not an http(s)://host[:port]/path URL")
            return nil
        }
        let allowHTTP = jwks["allow_http"]?.bool() ?? false
        if !parts.isTLS && !allowHTTP && !RemoteJWKSSpec.isLoopback(parts.host) {
            urlNode.error("keys fetched over plain http can be swapped on the way; use https (or allow_http: true)")
        }
        var remote = RemoteJWKSSpec(url: url, isTLS: parts.isTLS, host: parts.host, port: parts.port, target: parts.target)
        if let value = jwks["refresh"]?.duration(atLeast: .seconds(10)) { remote.refresh = value }
        if let value = jwks["min_refetch_interval"]?.duration(atLeast: .seconds(1)) { remote.minRefetchInterval = value }
        if let value = jwks["timeout"]?.duration(atLeast: .milliseconds(100)) { remote.timeout = value }
        if let caNode = jwks["ca_file"], let ca = caNode.string() {
            if !parts.isTLS {
                caNode.error("ca_file applies to https URLs")
            } else if !ca.hasPrefix("/") {
                caNode.error("ca_file is given by absolute path")
            } else {
                remote.caFile = ca
            }
        }
        return .url(remote)
    }
}
