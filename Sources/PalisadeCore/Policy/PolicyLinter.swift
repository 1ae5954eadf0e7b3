/// Warnings for choices that load but deserve a second look before they reach production.
enum PolicyLinter {
    static func lint(_ policy: PolicySpec?, collector: DiagnosticCollector) {
        guard let policy else { return }
        for route in policy.routes {
            if route.mode == .report {
                collector.warning(
                    "route '\(route.name)' is in report mode: its guards log rejections but never block",
                    at: route.position
                )
            }
            for guardSpec in route.guards where guardSpec.mode == .report && route.mode != .report {
                collector.warning(
                    "guard '\(guardSpec.name)' is in report mode: it logs rejections but never blocks",
                    at: guardSpec.position
                )
            }
            lintReplayIDs(route, collector: collector)
            if (route.match.path == nil && (route.match.prefix == nil || route.match.prefix == "/"))
                && route.match.methods.isEmpty && route.match.host == nil, route.name != policy.routes.last?.name
            {
                collector.warning(
                    "route '\(route.name)' matches every request; routes after it never match",
                    at: route.position)
            }
        }
        for route in policy.routes {
            if let pattern = route.match.path ?? route.match.prefix,
                !isNormal(pattern, prefix: route.match.path == nil)
            {
                collector.warning(
                    "route '\(route.name)' never matches: request paths are normalised before routing, and '\(pattern)' is not a normal path",
                    at: route.position
                )
            }
        }
        FallThroughLinter.lint(policy, collector: collector)
        for secret in policy.secrets.values.sorted(by: { $0.name < $1.name }) {
            if case .inline = secret.source {
                collector.warning(
                    "secret '\(secret.name)' is written in the policy file; use { env: NAME } or { file: PATH }",
                    at: secret.position
                )
            }
        }
        if policy.defaultAction == .allow {
            collector.warning(
                "allow forwards requests that match no route without any guard",
                at: policy.defaultPosition ?? SourcePosition(line: 1, column: 1, keyPath: "default")
            )
        }
        if policy.clientIP.from == .xForwardedFor && policy.clientIP.trustedProxies.isEmpty {
            collector.warning(
                "client_ip.from is x-forwarded-for but no trusted_proxies are listed: the TCP peer is used",
                at: policy.clientIPPosition ?? SourcePosition(line: 1, column: 1, keyPath: "client_ip")
            )
        }
    }

    /// Whether requests can have this path (PathNormalizer leaves it as it is). A prefix may end
    /// inside a segment (`/files.` for `/files.json`), so only its complete segments are checked.
    static func isNormal(_ pattern: String, prefix: Bool) -> Bool {
        var checked = Substring(pattern)
        if prefix, let lastSlash = checked.lastIndex(of: "/") { checked = checked[...lastSlash] }
        guard case .success(let target) = PathNormalizer.normalize(String(checked)) else { return false }
        return target.rewritten == nil
    }

    /// On a route whose requests are signed, a replay id that the signature does not cover can be
    /// changed by whoever captured one delivery: each new id makes the same signed body new again
    /// (GitHub's X-GitHub-Delivery, Shopify's X-Shopify-Event-Id).
    private static func lintReplayIDs(_ route: RouteSpec, collector: DiagnosticCollector) {
        var signed: Set<String>?
        for guardSpec in route.guards {
            if case .hmac(let hmac) = guardSpec.kind {
                signed = (signed ?? []).union(HMACScheme(spec: hmac).signedHeaders)
            }
        }
        guard let signed else { return }
        for guardSpec in route.guards {
            guard case .replay(let replay) = guardSpec.kind, case .header(let name) = replay.id, !signed.contains(name)
            else { continue }
            collector.warning(
                "replay id header '\(name)' is not covered by the hmac signature: a captured delivery can be sent again "
                    + "with a new id; use id: signature, or json: a field of the signed body",
                at: replay.idPosition ?? guardSpec.position
            )
        }
    }
}
