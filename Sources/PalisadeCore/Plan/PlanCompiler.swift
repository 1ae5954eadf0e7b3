/// Compiles a decoded policy into a `RuntimePlan`: guards built, lists turned into lookup sets.
public enum PlanCompiler {
    public static func compile(_ policy: PolicySpec, sourceFile: String, generation: Int) throws -> RuntimePlan {
        var routes: [CompiledRoute] = []
        for (index, routeSpec) in policy.routes.enumerated() {
            let guards = routeSpec.guards.map(makeGuard)
            routes.append(CompiledRoute(spec: routeSpec, index: index, guards: guards))
        }
        return RuntimePlan(
            generation: generation,
            sourceFile: sourceFile,
            policy: policy,
            routes: RouteTable(routes: routes)
        )
    }

    static func makeGuard(_ spec: GuardSpec) -> any Guard {
        switch spec.kind {
        case .ip(let ipSpec): return IPGuard(spec: ipSpec)
        }
    }

    /// Reads, decodes and compiles a policy file; every problem comes back in the thrown error.
    public static func load(path: String, generation: Int) throws -> (RuntimePlan, [PolicyDiagnostic]) {
        let result = PolicyDecoder.decode(contentsOf: path)
        guard let policy = result.policy else { throw PolicyLoadError(diagnostics: result.diagnostics) }
        return (try compile(policy, sourceFile: path, generation: generation), result.warnings)
    }

    public static func load(yaml: String, file: String, generation: Int) throws -> (RuntimePlan, [PolicyDiagnostic]) {
        let result = PolicyDecoder.decode(yaml: yaml, file: file)
        guard let policy = result.policy else { throw PolicyLoadError(diagnostics: result.diagnostics) }
        return (try compile(policy, sourceFile: file, generation: generation), result.warnings)
    }
}
