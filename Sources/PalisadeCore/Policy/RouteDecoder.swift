/// Decodes `routes:` and each route's `match:` and `guards:`.
enum RouteDecoder {
    static let routeKeys = ["name", "match", "guards", "mode", "abuse", "log"]
    static let matchKeys = ["path", "prefix", "methods", "host"]
    static let guardKinds = GuardKind.names
    static let modes: KeyValuePairs<String, EnforcementMode> = ["enforce": .enforce, "report": .report]

    static func decodeRoutes(_ node: PolicyNode) -> [RouteSpec] {
        guard let items = node.list() else { return [] }
        var seen: [String: SourcePosition] = [:]
        var routes: [RouteSpec] = []
        for item in items {
            guard let route = decodeRoute(item) else { continue }
            if let first = seen[route.name] {
                item.error("route name '\(route.name)' is already used at line \(first.line)")
            }
            seen[route.name] = route.position
            routes.append(route)
        }
        return routes
    }

    private static func decodeRoute(_ node: PolicyNode) -> RouteSpec? {
        guard let map = node.mapping(allowedKeys: routeKeys) else { return nil }
        let nameNode = map.required("name")
        let name = nameNode?.string()
        if let name, let nameNode, !isValidRouteName(name) {
            nameNode.error("route names are 1-64 characters of letters, digits, '-', '_' and '.' (they become metric labels)")
        } else if let name, let nameNode, name.hasPrefix("_") {
            nameNode.error("route names starting with '_' are reserved for Palisade's own metrics")
        }
        let match = map.required("match").flatMap(decodeMatch)
        let guards = map["guards"].map(decodeGuards) ?? []
        let mode = map["mode"]?.oneOf(modes) ?? .enforce
        guard let name, let match else { return nil }
        var route = RouteSpec(name: name, match: match, guards: guards, mode: mode, position: node.position)
        if let abuseNode = map["abuse"] { route.abuse = RouteAbuseSpec.decode(abuseNode) }
        if let logNode = map["log"], let logMap = logNode.mapping(allowedKeys: ["access", "body"]) {
            if let bodyNode = logMap["body"] { route.logBody = PolicyDecoder.decodeLogBody(bodyNode) ?? .inherit }
            if let accessNode = logMap["access"] { route.logAccess = accessNode.bool() }
        }
        return route
    }

    static func isValidRouteName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64
            && name.utf8.allSatisfy { b in
                (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b == 0x2d
                    || b == 0x5f || b == 0x2e
            }
    }

    private static func decodeMatch(_ node: PolicyNode) -> MatchSpec? {
        guard let map = node.mapping(allowedKeys: matchKeys) else { return nil }
        var spec = MatchSpec()
        if let pathNode = map["path"], let path = pathNode.string() {
            if validatePath(path, node: pathNode) { spec.path = path }
        }
        if let prefixNode = map["prefix"], let prefix = prefixNode.string() {
            if validatePath(prefix, node: prefixNode) { spec.prefix = prefix }
        }
        if map["path"] != nil && map["prefix"] != nil {
            node.error("give either 'path' (exact) or 'prefix', not both")
        }
        if let methodsNode = map["methods"], let methods = methodsNode.stringList() {
            for (method, itemNode) in methods {
                let upper = method.uppercased()
                guard HTTPToken.isToken(upper) else {
                    itemNode.error("'\(method)' is not an HTTP method")
                    continue
                }
                spec.methods.append(upper)
            }
        }
        if let hostNode = map["host"], let host = hostNode.string() {
            var lower = host.lowercased()
            // `admin.example.com.` is the same name (fully qualified); requests are compared without the dot too.
            if lower.hasSuffix(".") { lower.removeLast() }
            if lower.isEmpty || lower.contains("/") || lower.contains(" ") || lower.contains(":") {
                hostNode.error("'\(host)' is not a host name (write it without scheme or port)")
            } else {
                spec.host = lower
            }
        }
        return spec
    }

    private static func validatePath(_ path: String, node: PolicyNode) -> Bool {
        guard path.hasPrefix("/") else {
            node.error("'\(path)' must start with '/'")
            return false
        }
        guard !path.contains("?"), !path.contains("#"), path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            node.error("'\(path)' must be a path without query, fragment, spaces or non-ASCII characters")
            return false
        }
        return true
    }

    private static func decodeGuards(_ node: PolicyNode) -> [GuardSpec] {
        guard let items = node.list() else { return [] }
        let guards = items.compactMap(decodeGuard)
        var sawHMAC = false
        for guardSpec in guards {
            if case .hmac = guardSpec.kind { sawHMAC = true }
            if case .replay(let replay) = guardSpec.kind, replay.id == .signature, !sawHMAC {
                node.diagnostics.error(
                    "replay id 'signature' needs an hmac guard before it on the same route", at: guardSpec.position
                )
            }
        }
        return guards
    }

    private static func decodeGuard(_ node: PolicyNode) -> GuardSpec? {
        guard case .mapping(let mapping) = node.node, mapping.count == 1, let (keyNode, valueNode) = mapping.first,
            let kind = keyNode.string
        else {
            node.error("each guard is a mapping with one key naming its kind: \(guardKinds.joined(separator: ", "))")
            return nil
        }
        let child = node.child(valueNode, key: kind)
        let mode = modeOf(child)
        guard let guardKind = GuardKind(rawValue: kind) else {
            child.error("unknown guard '\(kind)'; known guards: \(guardKinds.joined(separator: ", "))")
            return nil
        }
        return guardKind.decode(child).map { GuardSpec(kind: $0, mode: mode, position: child.position) }
    }

    /// Every guard accepts `mode:`; read it here so each guard's own decoder need not.
    private static func modeOf(_ node: PolicyNode) -> EnforcementMode? {
        guard case .mapping(let mapping) = node.node else { return nil }
        for (key, value) in mapping where key.string == "mode" {
            return node.child(value, key: "mode").oneOf(modes)
        }
        return nil
    }
}
