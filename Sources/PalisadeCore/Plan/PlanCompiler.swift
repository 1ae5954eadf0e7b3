/// Compiles a decoded policy into a `RuntimePlan`: guards built, lists turned into lookup sets.
public enum PlanCompiler {
    public static func compile(_ policy: PolicySpec, sourceFile: String, generation: Int) throws -> RuntimePlan {
        let secrets = try SecretResolver.resolve(policy.secrets, file: sourceFile)
        var routes: [CompiledRoute] = []
        var errors: [PolicyDiagnostic] = []
        for (index, routeSpec) in policy.routes.enumerated() {
            var guards: [any Guard] = []
            for guardSpec in routeSpec.guards {
                do {
                    guards.append(try makeGuard(guardSpec, secrets: secrets))
                } catch {
                    errors.append(.init(severity: .error, file: sourceFile, position: guardSpec.position, message: error.message))
                }
            }
            routes.append(CompiledRoute(spec: routeSpec, index: index, guards: guards))
        }
        if !errors.isEmpty { throw PolicyLoadError(diagnostics: errors) }
        return RuntimePlan(
            generation: generation,
            sourceFile: sourceFile,
            policy: policy,
            routes: RouteTable(routes: routes)
        )
    }

    static func makeGuard(_ spec: GuardSpec, secrets: [String: [Secret]]) throws(HMACConfigurationError) -> any Guard {
        switch spec.kind {
        case .ip(let ipSpec):
            return IPGuard(spec: ipSpec)
        case .hmac(let hmacSpec):
            return try HMACGuard(spec: hmacSpec, secrets: secrets[hmacSpec.secret] ?? [])
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
