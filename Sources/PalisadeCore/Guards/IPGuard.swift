/// Allows a request only from addresses inside `allow` (when the list is given) and outside `deny`.
public struct IPGuard: Guard {
    public let allow: CIDRSet
    public let deny: CIDRSet
    public var kind: String { GuardKind.ip.rawValue }

    public init(spec: IPGuardSpec) {
        self.allow = CIDRSet(spec.allow)
        self.deny = CIDRSet(spec.deny)
    }

    public func check(_ request: GuardRequest) -> GuardDecision {
        if deny.contains(request.clientIP) { return .reject(.ipDenied) }
        if !allow.isEmpty && !allow.contains(request.clientIP) { return .reject(.ipDenied) }
        return .allow
    }
}
