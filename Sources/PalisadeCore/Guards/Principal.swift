/// Who is calling, as the guards have established it so far: the client address (always), and
/// what the identity guards verified (an API key's id, a token's subject and chosen claims).
/// Later guards key on it (a limit per `claim:sub` or per `api_key`) instead of re-reading
/// headers or log details. Reset for every request.
public struct Principal: Sendable, Equatable {
    /// The client address after `client_ip` resolution (a trusted proxy's X-Forwarded-For).
    public internal(set) var clientIP: IPAddressBytes
    /// The id of the API key an `api_key` guard accepted.
    public var apiKeyID: String?
    /// The `sub` claim of the token a `jwt` guard accepted.
    public var subject: String?
    /// Claims a `jwt` guard accepted, by claim name, as text (strings as they are, other JSON
    /// values in their JSON form). Only the claims the policy forwards or requires.
    public var claims: [String: String]

    public init(clientIP: IPAddressBytes, apiKeyID: String? = nil, subject: String? = nil, claims: [String: String] = [:]) {
        self.clientIP = clientIP
        self.apiKeyID = apiKeyID
        self.subject = subject
        self.claims = claims
    }

    /// A claim by name; `sub` falls back to the subject.
    public func claim(_ name: String) -> String? {
        if let value = claims[name] { return value }
        return name == "sub" ? subject : nil
    }

    mutating func reset(clientIP: IPAddressBytes) {
        self.clientIP = clientIP
        if apiKeyID != nil { apiKeyID = nil }
        if subject != nil { subject = nil }
        // Capacity kept: a route with a jwt guard fills it on every request.
        if !claims.isEmpty { claims.removeAll(keepingCapacity: true) }
    }
}
