/// Every guard kind a policy file can name, in one place: its name in the file (the raw value,
/// also the guard's `kind` in logs and metric labels) and how its spec is decoded; the plan
/// compiler builds each kind's guard (`PlanCompiler.makeGuard`). Adding a guard means its spec,
/// its guard type, one case here and its tests: the switches over `GuardKind` and over
/// `GuardSpec.Kind` are exhaustive, so the compiler names every place a new case is missing.
public enum GuardKind: String, CaseIterable, Sendable {
    case ip
    case hmac
    case replay
    case idempotency
    case apiKey = "api_key"
    case jwt
    case rateLimit = "rate_limit"

    /// The names a policy may use, in the order the docs list them.
    static var names: [String] { allCases.map(\.rawValue) }

    /// Decodes the value under the guard's key; problems are reported on `node`.
    func decode(_ node: PolicyNode) -> GuardSpec.Kind? {
        switch self {
        case .ip: return IPGuardSpec.decode(node).map(GuardSpec.Kind.ip)
        case .hmac: return HMACGuardSpec.decode(node).map(GuardSpec.Kind.hmac)
        case .replay: return ReplayGuardSpec.decode(node).map(GuardSpec.Kind.replay)
        case .idempotency: return IdempotencyGuardSpec.decode(node).map(GuardSpec.Kind.idempotency)
        case .apiKey: return APIKeyGuardSpec.decode(node).map(GuardSpec.Kind.apiKey)
        case .jwt: return JWTGuardSpec.decode(node).map(GuardSpec.Kind.jwt)
        case .rateLimit: return RateLimitGuardSpec.decode(node).map(GuardSpec.Kind.rateLimit)
        }
    }
}

extension GuardSpec.Kind {
    public var guardKind: GuardKind {
        switch self {
        case .ip: return .ip
        case .hmac: return .hmac
        case .replay: return .replay
        case .idempotency: return .idempotency
        case .apiKey: return .apiKey
        case .jwt: return .jwt
        case .rateLimit: return .rateLimit
        }
    }
}

/// A guard's configuration cannot work (a secret in the wrong encoding, a key too short, a key
/// source that cannot be read): the one error type guard construction throws, reported at the
/// guard's position in the policy file.
struct GuardConfigurationError: Error {
    var message: String
}
