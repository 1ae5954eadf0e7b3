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
            if route.match.path == nil && route.match.prefix == nil && route.match.methods.isEmpty
                && route.match.host == nil
            {
                collector.warning("route '\(route.name)' matches every request; routes after it never match",
                    at: route.position)
            }
        }
        if policy.defaultAction == .allow {
            collector.warning(
                "default: allow forwards requests that match no route without any guard",
                at: SourcePosition(line: 1, column: 1, keyPath: "default")
            )
        }
    }
}
