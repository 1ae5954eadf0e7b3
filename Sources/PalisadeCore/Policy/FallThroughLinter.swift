/// Warnings for requests a guarded route does not take although the app may serve them from the
/// same handler: another method on its paths, or its path with the trailing slash added or
/// removed (many frameworks treat `/internal` and `/internal/` alike). When such a request goes
/// to a later route, or to `default: allow`, without one of the guarded route's guard kinds, the
/// guard can be walked around.
///
/// "Without one of its guard kinds" compares guard kinds, not their settings: a later route with
/// its own `ip` guard counts as guarded, whatever its allow list says.
enum FallThroughLinter {
    /// The paths one route takes.
    enum Paths: Equatable {
        case any
        case exact(String)
        case prefix(String)

        init(_ match: MatchSpec, caseInsensitive: Bool) {
            let fold: (String) -> String = { caseInsensitive ? $0.lowercased() : $0 }
            if let path = match.path {
                self = .exact(fold(path))
            } else if let prefix = match.prefix, prefix != "/" {
                self = .prefix(fold(prefix))
            } else {
                self = .any
            }
        }

        func contains(_ path: String) -> Bool {
            switch self {
            case .any: return true
            case .exact(let p): return path == p
            case .prefix(let p): return path.hasPrefix(p)
            }
        }

        func overlaps(_ other: Paths) -> Bool {
            switch (self, other) {
            case (.any, _), (_, .any): return true
            case (.exact(let p), _): return other.contains(p)
            case (_, .exact(let q)): return contains(q)
            case (.prefix(let p), .prefix(let q)): return p.hasPrefix(q) || q.hasPrefix(p)
            }
        }

        /// Whether every path of `other` is one of these.
        func covers(_ other: Paths) -> Bool {
            switch (self, other) {
            case (.any, _): return true
            case (_, .any): return false
            case (_, .exact(let q)): return contains(q)
            case (.exact, .prefix): return false
            case (.prefix(let p), .prefix(let q)): return q.hasPrefix(p)
            }
        }
    }

    static func lint(_ policy: PolicySpec, collector: DiagnosticCollector) {
        let caseInsensitive = policy.routing.caseInsensitive
        let routes = policy.routes
        let paths = routes.map { Paths($0.match, caseInsensitive: caseInsensitive) }
        for (i, route) in routes.enumerated() {
            let kinds = enforcedGuardKinds(route)
            guard !kinds.isEmpty else { continue }
            if !route.match.methods.isEmpty {
                checkOtherMethods(i, kinds: kinds, routes: routes, paths: paths, policy: policy, collector: collector)
            }
            checkTrailingSlash(i, kinds: kinds, routes: routes, paths: paths, policy: policy, collector: collector)
        }
    }

    /// Requests to the route's paths with a method it does not list: the first later route that
    /// takes some of them decides.
    private static func checkOtherMethods(
        _ i: Int, kinds: [String], routes: [RouteSpec], paths: [Paths], policy: PolicySpec, collector: DiagnosticCollector
    ) {
        let route = routes[i]
        let methods = route.match.methods
        for j in routes.indices where j > i {
            let later = routes[j]
            guard paths[j].overlaps(paths[i]), hostsOverlap(route, later) else { continue }
            let takesOtherMethods = later.match.methods.isEmpty || later.match.methods.contains { !methods.contains($0) }
            guard takesOtherMethods else { continue }
            let missing = kinds.filter { !enforcedGuardKinds(later).contains($0) }
            if !missing.isEmpty {
                collector.warning(
                    "route '\(route.name)' guards only \(methods.joined(separator: ", ")); other methods on its paths go to route '\(later.name)' without its \(describe(missing))",
                    at: route.position
                )
                return
            }
            // An equally guarded route that takes every other method of every path ends the search.
            if later.match.methods.isEmpty && paths[j].covers(paths[i]) && hostCovers(later, route) { return }
        }
        if policy.defaultAction == .allow {
            collector.warning(
                "route '\(route.name)' guards only \(methods.joined(separator: ", ")); other methods on its paths go to default: allow without its \(describe(kinds))",
                at: route.position
            )
        }
    }

    /// The route's exact path or prefix with the trailing slash toggled (`/internal/` and
    /// `/internal`): the first route that takes it, or `default: allow`, must guard it as well.
    private static func checkTrailingSlash(
        _ i: Int, kinds: [String], routes: [RouteSpec], paths: [Paths], policy: PolicySpec, collector: DiagnosticCollector
    ) {
        let route = routes[i]
        let own: String
        switch paths[i] {
        case .any: return
        case .exact(let p), .prefix(let p): own = p
        }
        let sibling = own.hasSuffix("/") ? String(own.dropLast()) : own + "/"
        guard !sibling.isEmpty, !paths[i].contains(sibling) else { return }
        let taker = routes.indices.first { j in
            j != i && paths[j].contains(sibling) && hostsOverlap(route, routes[j])
                && methodsOverlap(route.match.methods, routes[j].match.methods)
        }
        let target: String
        let missing: [String]
        if let taker {
            missing = kinds.filter { !enforcedGuardKinds(routes[taker]).contains($0) }
            target = "route '\(routes[taker].name)'"
        } else if policy.defaultAction == .allow {
            missing = kinds
            target = "default: allow"
        } else {
            return
        }
        guard !missing.isEmpty else { return }
        collector.warning(
            "route '\(route.name)' guards '\(own)' but '\(sibling)' goes to \(target) without its \(describe(missing)); apps often serve both alike",
            at: route.position
        )
    }

    /// Guard kinds that block: none on a route in report mode, and no guard in report mode.
    static func enforcedGuardKinds(_ route: RouteSpec) -> [String] {
        guard route.mode == .enforce else { return [] }
        var kinds: [String] = []
        for guardSpec in route.guards where guardSpec.mode != .report && !kinds.contains(guardSpec.name) {
            kinds.append(guardSpec.name)
        }
        return kinds
    }

    private static func describe(_ kinds: [String]) -> String {
        kinds.count == 1 ? "\(kinds[0]) guard" : "\(kinds.joined(separator: ", ")) guards"
    }

    private static func hostsOverlap(_ a: RouteSpec, _ b: RouteSpec) -> Bool {
        a.match.host == nil || b.match.host == nil || a.match.host == b.match.host
    }

    /// Whether `a` takes every host `b` takes.
    private static func hostCovers(_ a: RouteSpec, _ b: RouteSpec) -> Bool {
        a.match.host == nil || a.match.host == b.match.host
    }

    private static func methodsOverlap(_ a: [String], _ b: [String]) -> Bool {
        a.isEmpty || b.isEmpty || a.contains { b.contains($0) }
    }
}
