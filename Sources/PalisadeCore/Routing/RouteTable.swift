import NIOHTTP1

/// A compiled route: how to recognise its requests and which guards apply.
public final class CompiledRoute: Sendable {
    public let name: String
    public let index: Int
    let exactPath: String?
    let prefix: String?
    let methods: [HTTPMethod]
    let host: String?
    /// `routing.case_insensitive`: `exactPath` and `prefix` are then lower-case and compared
    /// with the request path folded to lower case.
    let caseInsensitive: Bool
    public let guards: [any Guard]
    public let mode: EnforcementMode
    /// Per guard: report-only when the guard or its route says so.
    public let guardReportOnly: [Bool]
    public let bodyNeed: BodyNeed
    /// Some guard of the route implements `completed`: only then is an outcome built.
    let observesCompletion: Bool
    /// `log.body` for this route (its own `log: { body }` or the policy's), or nil: no body logged.
    let bodyLogging: BodyLogging?
    /// The route's own `log: { access }`, or nil: as `log.access` says.
    let logAccess: Bool?

    /// `guards` are the policy's guards of the route, in file order, then any `extraGuards`
    /// (PlanExtensions), which always enforce.
    init(
        spec: RouteSpec, index: Int, guards: [any Guard], extraGuards: [any Guard] = [], caseInsensitive: Bool = false,
        bodyLogging: BodyLogging? = nil
    ) {
        self.bodyLogging = bodyLogging
        self.logAccess = spec.logAccess
        self.name = spec.name
        self.index = index
        self.caseInsensitive = caseInsensitive
        self.exactPath = caseInsensitive ? spec.match.path.map { $0.lowercased() } : spec.match.path
        self.prefix = caseInsensitive ? spec.match.prefix.map { $0.lowercased() } : spec.match.prefix
        self.methods = spec.match.methods.map { HTTPMethod(rawValue: $0) }
        self.host = spec.match.host
        self.guards = guards + extraGuards
        self.mode = spec.mode
        self.guardReportOnly =
            spec.guards.map { spec.mode == .report || $0.mode == .report }
            + extraGuards.map { _ in false }
        self.bodyNeed = self.guards.map(\.bodyNeed).max() ?? .none
        self.observesCompletion = self.guards.contains { $0.observesCompletion }
    }

    @inline(__always)
    func matches(method: HTTPMethod, path: Substring, host: Substring?) -> Bool {
        if let exactPath {
            let equal =
                caseInsensitive
                ? path.utf8.count == exactPath.utf8.count && Self.startsFolded(path, with: exactPath)
                : path.utf8.elementsEqual(exactPath.utf8)
            if !equal { return false }
        }
        if let prefix {
            let starts = caseInsensitive ? Self.startsFolded(path, with: prefix) : path.utf8.starts(with: prefix.utf8)
            if !starts { return false }
        }
        if !methods.isEmpty, !methods.contains(method) { return false }
        if let expected = self.host {
            guard let host, Self.hostEquals(host, expected) else { return false }
        }
        return true
    }

    /// Whether the route takes this path and host, whatever the method.
    func matchesTarget(path: Substring, host: Substring?) -> Bool {
        guard let any = methods.first else { return matches(method: .GET, path: path, host: host) }
        return matches(method: any, path: path, host: host)
    }

    /// Whether `path`, ASCII letters folded to lower case, starts with the lower-case `prefix`.
    /// Folds byte by byte, so a case-insensitive plan allocates nothing more per request.
    static func startsFolded(_ path: Substring, with prefix: String) -> Bool {
        guard path.utf8.count >= prefix.utf8.count else { return false }
        return zip(path.utf8, prefix.utf8).allSatisfy { a, b in (a >= 0x41 && a <= 0x5a ? a | 0x20 : a) == b }
    }

    /// Compares the request's Host (port stripped, case-insensitive) with a lower-case host name.
    static func hostEquals(_ hostHeader: Substring, _ expected: String) -> Bool {
        var name = hostHeader
        if name.hasPrefix("[") {
            if let close = name.firstIndex(of: "]") { name = name[name.index(after: name.startIndex)..<close] }
        } else if let colon = name.lastIndex(of: ":") {
            name = name[..<colon]
        }
        if name.hasSuffix(".") { name = name.dropLast() }
        return name.utf8.count == expected.utf8.count
            && zip(name.utf8, expected.utf8).allSatisfy { a, b in
                (a >= 0x41 && a <= 0x5a ? a | 0x20 : a) == b
            }
    }
}

/// First-match route lookup, compiled once per plan.
public struct RouteTable: Sendable {
    public let routes: [CompiledRoute]
    /// Whether any route looks at Host; when none does, the header is not searched per request.
    let usesHost: Bool

    init(routes: [CompiledRoute]) {
        self.routes = routes
        self.usesHost = routes.contains { $0.host != nil }
    }

    public func match(method: HTTPMethod, path: Substring, headers: HTTPHeaders) -> CompiledRoute? {
        let host: Substring? = usesHost ? headers.first(name: "host").map { Substring($0) } : nil
        for route in routes where route.matches(method: method, path: path, host: host) {
            return route
        }
        return nil
    }

    /// For a request no route took: the methods that routes on its path and host do take, in
    /// policy order, for a 405 with `Allow` (as nginx and Envoy answer) instead of a 404 that
    /// says the path does not exist. Nil when no route has the path. Only on the refusal path.
    public func allowedMethods(path: Substring, headers: HTTPHeaders) -> [String]? {
        let host: Substring? = usesHost ? headers.first(name: "host").map { Substring($0) } : nil
        var allowed: [String] = []
        for route in routes where route.matchesTarget(path: path, host: host) {
            for method in route.methods where !allowed.contains(method.rawValue) { allowed.append(method.rawValue) }
        }
        return allowed.isEmpty ? nil : allowed
    }
}
