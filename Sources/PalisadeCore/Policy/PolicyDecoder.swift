import Crypto
import Foundation
import Yams

/// Turns policy YAML into a `PolicySpec`, reporting every problem with file, line, column and key path.
public enum PolicyDecoder {
    public static let topLevelKeys = [
        "version", "listen", "upstream", "admin", "client_ip", "limits", "drain_timeout", "log", "secrets", "store",
        "response_headers", "abuse", "routes", "routing", "default", "alerts",
    ]

    public struct Result: Sendable {
        public var policy: PolicySpec?
        public var diagnostics: [PolicyDiagnostic]
        public var errors: [PolicyDiagnostic] { diagnostics.filter { $0.severity == .error } }
        public var warnings: [PolicyDiagnostic] { diagnostics.filter { $0.severity == .warning } }
    }

    public static func decode(contentsOf path: String) -> Result {
        let bytes: [UInt8]
        do throws(BoundedFile.Failure) {
            bytes = try BoundedFile.contents(of: path)
        } catch {
            return refused(file: path, error.message("the file"))
        }
        return decode(bytes: bytes, file: path)
    }

    /// A policy's bytes from elsewhere than a file (`palisade check -` reads standard input).
    public static func decode(bytes: [UInt8], file: String) -> Result {
        guard let text = String(validating: bytes, as: UTF8.self) else { return refused(file: file, "the file is not UTF-8") }
        return decode(yaml: text, file: file)
    }

    /// A policy that could not be read at all: one error at its first position.
    public static func refused(file: String, _ message: String) -> Result {
        let position = SourcePosition(line: 1, column: 1, keyPath: "")
        return Result(policy: nil, diagnostics: [.init(severity: .error, file: file, position: position, message: message)])
    }

    public static func decode(yaml: String, file: String) -> Result {
        let collector = DiagnosticCollector(file: file)
        let root: Node
        switch YAMLComposer.compose(yaml, diagnostics: collector) {
        case .document(let composed):
            root = composed
        case .empty:
            collector.error("the file is empty", at: SourcePosition(line: 1, column: 1, keyPath: ""))
            return Result(policy: nil, diagnostics: collector.diagnostics)
        case .failed:
            return Result(policy: nil, diagnostics: collector.diagnostics)
        }
        var policy = decodeRoot(PolicyNode(node: root, keyPath: "", diagnostics: collector))
        policy?.digest = HexText.lowercase(SHA256.hash(data: Array(yaml.utf8)))
        if !collector.hasErrors { PolicyLinter.lint(policy, collector: collector) }
        return Result(policy: collector.hasErrors ? nil : policy, diagnostics: inLineOrder(collector.diagnostics))
    }

    /// Diagnostics as an editor lists them: by line, then column. Decoding visits keys in its own
    /// order (listen before routes, each guard's keys by name), which is not the file's.
    static func inLineOrder(_ diagnostics: [PolicyDiagnostic]) -> [PolicyDiagnostic] {
        diagnostics.enumerated().sorted { a, b in
            let (pa, pb) = (a.element.position, b.element.position)
            if pa.line != pb.line { return pa.line < pb.line }
            if pa.column != pb.column { return pa.column < pb.column }
            return a.offset < b.offset
        }.map(\.element)
    }

    private static func decodeRoot(_ root: PolicyNode) -> PolicySpec? {
        guard let map = root.mapping(allowedKeys: topLevelKeys) else { return nil }
        if let versionNode = map.required("version"), let version = versionNode.int(in: 1...Int.max), version != 1 {
            versionNode.error("this Palisade reads policy format version 1, found \(version)")
        }
        let upstream = map.required("upstream").flatMap(decodeUpstream)
        var spec = PolicySpec(upstream: upstream ?? UpstreamSpec(url: UpstreamURL(host: "127.0.0.1", port: 80)))
        if let node = map["listen"], let listen = decodeListen(node) { spec.listen = listen }
        if let node = map["admin"] { spec.admin = decodeAdmin(node) }
        if let node = map["client_ip"], let value = decodeClientIP(node) { spec.clientIP = value }
        if let node = map["limits"], let value = decodeLimits(node) { spec.limits = value }
        if let node = map["drain_timeout"], let value = node.duration() { spec.drainTimeout = value }
        if let node = map["log"], let value = decodeLog(node) { spec.log = value }
        if let node = map["response_headers"] { spec.responseHeaders = decodeHeaders(node) }
        if let node = map["abuse"] { spec.abuse = AbuseSpec.decode(node) }
        if let node = map["alerts"] { spec.alerts = AlertsSpec.decode(node) }
        if let node = map["secrets"] { spec.secrets = SecretSpec.decodeAll(node) }
        if let node = map["store"],
            let storeMap = node.mapping(allowedKeys: ["kind", "max_bytes", "max_entries_per_client", "redis"])
        {
            if let kind = storeMap["kind"]?.oneOf(["memory": StoreKind.memory, "redis": .redis]) { spec.storeKind = kind }
            if let redisNode = storeMap["redis"] { spec.storeRedis = RedisStoreSpec.decode(redisNode) }
            if spec.storeKind == .redis, spec.storeRedis == nil, storeMap["redis"] == nil {
                node.error("kind: redis needs a redis: section with url (and cluster for a Redis Cluster)")
            }
            if spec.storeKind == .memory, let redisNode = storeMap["redis"] {
                node.diagnostics.warning(
                    "store.redis is not used: kind is memory (write kind: redis to share the store)", at: redisNode.position)
            }
            if let value = storeMap["max_bytes"]?.byteCount(in: (64 << 10)...(1 << 40)) { spec.storeLimits.maxBytes = value }
            if let value = storeMap["max_entries_per_client"]?.int(in: 1...100_000_000) {
                spec.storeLimits.maxEntriesPerClient = value
            }
        }
        if let node = map["routes"] { spec.routes = RouteDecoder.decodeRoutes(node) }
        if let node = map["routing"], let routingMap = node.mapping(allowedKeys: ["case_insensitive"]),
            let value = routingMap["case_insensitive"]?.bool()
        {
            spec.routing.caseInsensitive = value
        }
        // Every guard that names a secret must name one that is declared; no credential header is logged.
        for route in spec.routes {
            for guardSpec in route.guards {
                if case .apiKey(let apiKey) = guardSpec.kind, spec.log.headers.contains(apiKey.header) {
                    root.diagnostics.error(
                        "'\(apiKey.header)' carries API keys (the api_key guard reads it) and is never logged",
                        at: guardSpec.position
                    )
                }
                if case .jwt(let jwt) = guardSpec.kind, let secret = jwt.secret, spec.secrets[secret] == nil {
                    root.diagnostics.error(
                        "secret '\(secret)' is not declared under secrets:", at: jwt.secretPosition ?? guardSpec.position
                    )
                }
                if case .idempotency(let idempotency) = guardSpec.kind,
                    EntrySize.largestReservation(maxBodyBytes: idempotency.maxResponseBytes.bytes) > spec.storeLimits.maxBytes.bytes
                {
                    // Every reservation sets this much aside: the store could never hold one.
                    root.diagnostics.error(
                        "max_response_bytes \(idempotency.maxResponseBytes) does not fit in store.max_bytes "
                            + "\(spec.storeLimits.maxBytes) with its overhead: every request would get 503 store_full",
                        at: guardSpec.position
                    )
                }
                if case .hmac(let hmac) = guardSpec.kind, spec.secrets[hmac.secret] == nil {
                    root.diagnostics.error(
                        "secret '\(hmac.secret)' is not declared under secrets:", at: hmac.secretPosition
                    )
                }
            }
        }
        if let alerts = spec.alerts, spec.secrets[alerts.secret] == nil {
            root.diagnostics.error("secret '\(alerts.secret)' is not declared under secrets:", at: alerts.secretPosition)
        }
        if let admin = spec.admin, let name = admin.tokenSecret, spec.secrets[name] == nil {
            root.diagnostics.error(
                "secret '\(name)' is not declared under secrets:", at: admin.tokenPosition ?? root.position
            )
        }
        for route in spec.routes where route.abuse != nil && spec.abuse == nil {
            root.diagnostics.error("the route counts app answers for abuse, but there is no top-level 'abuse:' section", at: route.position)
        }
        if let node = map["default"], let value = node.oneOf(["deny": DefaultAction.deny, "allow": .allow]) {
            spec.defaultAction = value
            spec.defaultPosition = node.position
        }
        if let node = map["client_ip"] { spec.clientIPPosition = node.position }
        return spec
    }

    static func decodeListen(_ node: PolicyNode) -> HostPort? {
        guard let text = node.string() else { return nil }
        guard let value = HostPort(parsing: text) else {
            node.error("'\(text)' is not host:port (e.g. 0.0.0.0:8080 or [::]:8080)")
            return nil
        }
        return value
    }

    private static func decodeUpstream(_ node: PolicyNode) -> UpstreamSpec? {
        guard
            let map = node.mapping(allowedKeys: ["url", "connect_timeout", "response_timeout", "max_idle_connections"])
        else { return nil }
        // Every key is decoded even when the URL is wrong, so all errors are reported at once.
        var url: UpstreamURL?
        if let urlNode = map.required("url"), let text = urlNode.string() {
            url = UpstreamURL(parsing: text)
            if url == nil { urlNode.error("'\(text)' is not an http://host:port URL without a path") }
        }
        let connectTimeout = map["connect_timeout"]?.duration()
        let responseTimeout = map["response_timeout"]?.duration()
        let maxIdle = map["max_idle_connections"]?.int(in: 0...100_000)
        guard let url else { return nil }
        var spec = UpstreamSpec(url: url)
        if let connectTimeout { spec.connectTimeout = connectTimeout }
        if let responseTimeout { spec.responseTimeout = responseTimeout }
        if let maxIdle { spec.maxIdleConnections = maxIdle }
        return spec
    }

    private static func decodeAdmin(_ node: PolicyNode) -> AdminSpec? {
        guard let map = node.mapping(allowedKeys: ["listen", "token"]) else { return nil }
        guard let listen = map.required("listen").flatMap(decodeListen) else { return nil }
        var spec = AdminSpec(listen: listen)
        if let tokenNode = map["token"], let name = tokenNode.string() {
            spec.tokenSecret = name
            spec.tokenPosition = tokenNode.position
        }
        return spec
    }

    private static func decodeClientIP(_ node: PolicyNode) -> ClientIPSpec? {
        guard let map = node.mapping(allowedKeys: ["from", "trusted_proxies"]) else { return nil }
        var spec = ClientIPSpec()
        if let value = map["from"]?.oneOf(["peer": ClientIPSpec.Source.peer, "x-forwarded-for": .xForwardedFor]) {
            spec.from = value
        }
        if let node = map["trusted_proxies"] { spec.trustedProxies = CIDRListDecoder.decode(node) }
        return spec
    }

    private static func decodeLimits(_ node: PolicyNode) -> LimitsSpec? {
        guard
            let map = node.mapping(allowedKeys: [
                "max_header_bytes", "max_body_bytes", "idle_timeout", "header_read_timeout", "max_connections",
            ])
        else { return nil }
        var spec = LimitsSpec()
        if let value = map["max_header_bytes"]?.byteCount(in: 1024...(1 << 20)) { spec.maxHeaderBytes = value }
        if let value = map["max_body_bytes"]?.byteCount(in: 0...(1 << 30)) { spec.maxBodyBytes = value }
        if let value = map["idle_timeout"]?.duration() { spec.idleTimeout = value }
        if let value = map["header_read_timeout"]?.duration() { spec.headerReadTimeout = value }
        if let value = map["max_connections"]?.int(in: 1...1_000_000) { spec.maxConnections = value }
        return spec
    }

    /// Headers whose values carry credentials or signatures; never copied into an access line.
    static let neverLoggedHeaders: Set<String> = [
        "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key",
        "stripe-signature", "x-hub-signature", "x-hub-signature-256", "webhook-signature", "svix-signature",
        "x-shopify-hmac-sha256", "x-slack-signature", "paddle-signature", "x-twilio-signature",
    ]

    private static func decodeLog(_ node: PolicyNode) -> LogSpec? {
        guard let map = node.mapping(allowedKeys: ["access", "headers", "mask", "secret_names", "level", "buffer", "body"]) else {
            return nil
        }
        var spec = LogSpec()
        if let level = map["level"]?.oneOf([
            "trace": "trace", "debug": "debug", "info": "info", "notice": "notice", "warning": "warning", "error": "error",
            "critical": "critical",
        ]) {
            spec.level = level
        }
        if let value = map["buffer"]?.byteCount(in: (64 << 10)...(1 << 30)) { spec.buffer = value }
        if let node = map["body"] {
            switch decodeLogBody(node) {
            case .on(let body): spec.body = body
            case .off, .inherit, nil: spec.body = nil
            }
        }
        if let node = map["mask"], let names = node.stringList() {
            var classes = Set<MaskClass>()
            for (name, itemNode) in names {
                if let maskClass = MaskClass(rawValue: name) {
                    classes.insert(maskClass)
                } else {
                    itemNode.error("unknown mask class '\(name)' (known: \(MaskClass.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
            }
            spec.mask = classes
        }
        if let node = map["secret_names"], let names = node.stringList() {
            var list: [String] = []
            for (name, itemNode) in names {
                if name.isEmpty { itemNode.error("a secret name cannot be empty") } else { list.append(name) }
            }
            spec.secretNames = list
        }
        if let value = map["access"]?.oneOf(["stdout": LogSpec.AccessTarget.stdout, "off": .off]) {
            spec.access = value
        }
        if let node = map["headers"], let names = node.stringList() {
            for (name, itemNode) in names {
                let lower = name.lowercased()
                if !HTTPToken.isToken(lower) {
                    itemNode.error("'\(name)' is not a valid header name")
                } else if neverLoggedHeaders.contains(lower) {
                    itemNode.error("'\(lower)' carries credentials and is never logged")
                } else {
                    spec.headers.append(lower)
                }
            }
        }
        return spec
    }

    /// `body: false`, `body: true` (defaults) or `body: { max_bytes, content_types, fields }`.
    static func decodeLogBody(_ node: PolicyNode) -> RouteBodyLogging? {
        if case .scalar = node.node {
            guard let on = node.bool() else { return nil }
            return on ? .on(LogBodySpec()) : .off
        }
        guard let map = node.mapping(allowedKeys: ["max_bytes", "content_types", "fields"]) else { return nil }
        var spec = LogBodySpec()
        if let value = map["max_bytes"]?.byteCount(in: 64...(1 << 20)) { spec.maxBytes = value }
        if let node = map["content_types"], let types = node.stringList() {
            spec.contentTypes = types.map { $0.0.lowercased() }
            for (type, itemNode) in types where !type.contains("/") { itemNode.error("'\(type)' is not a media type (type/subtype)") }
        }
        if let node = map["fields"], let fields = node.stringList() {
            spec.fields = fields.map(\.0)
            for (field, itemNode) in fields where field.isEmpty || field == "$" { itemNode.error("a field needs a name or a path") }
        }
        return .on(spec)
    }

    /// Response headers whose framing Palisade owns; setting them from the policy would corrupt responses.
    static let reservedResponseHeaders: Set<String> = [
        "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "trailer", "te", "x-request-id",
    ]

    private static func decodeHeaders(_ node: PolicyNode) -> [HeaderSpec] {
        guard case .mapping(let mapping) = node.node else {
            node.error("expected a mapping of header name to value, found \(node.kindName)")
            return []
        }
        var result: [HeaderSpec] = []
        for (keyNode, valueNode) in mapping {
            let name = keyNode.string ?? ""
            let child = node.child(valueNode, key: name)
            let lower = name.lowercased()
            guard HTTPToken.isToken(lower) else {
                child.error("'\(name)' is not a valid header name")
                continue
            }
            guard !reservedResponseHeaders.contains(lower) else {
                child.error("'\(lower)' is managed by the proxy and cannot be set here")
                continue
            }
            guard let value = child.string() else { continue }
            guard HTTPToken.isFieldValue(value) else {
                child.error("the value contains characters not allowed in a header (control characters or line breaks)")
                continue
            }
            result.append(HeaderSpec(name: lower, value: value))
        }
        return result
    }
}
