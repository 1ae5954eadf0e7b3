/// Guards that a program embedding Palisade (or a test) adds to every plan compiled from a
/// policy, written against the same `Guard` contract as the built-in ones and run by the same
/// exchange code: nothing in the request path knows which guards came from the file.
/// Kept on the plan, so a reload compiles the new policy with the same extensions.
public struct PlanExtensions: Sendable {
    /// Run before routing on every parsed request, in this order; they see every exchange's
    /// completion, protocol errors and unrouted requests included.
    public var admitGuards: [any Guard]
    /// Appended to the named route's guards, after those the policy lists.
    public var routeGuards: [String: [any Guard]]

    public init(admitGuards: [any Guard] = [], routeGuards: [String: [any Guard]] = [:]) {
        self.admitGuards = admitGuards
        self.routeGuards = routeGuards
    }

    public static let none = PlanExtensions()
}
