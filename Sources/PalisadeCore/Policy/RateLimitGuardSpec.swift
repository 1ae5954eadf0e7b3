/// `rate_limit:` how fast one client key may call a route.
///
///     - rate_limit: { key: ip, limit: 50/s, burst: 100 }
///     - rate_limit: { key: [claim:sub, route], limits: [{ limit: 10/s, burst: 20 }, { limit: 1000/h }], scope: shared }
///
/// Each limit is GCRA: `limit` requests per period on average, up to `burst` at once (by default
/// the limit's own count). Several limits are checked together, all or nothing.
public struct RateLimitGuardSpec: Sendable, Equatable {
    /// One part of the key a limit is counted under.
    public enum KeyPart: Sendable, Equatable, CustomStringConvertible {
        /// The client address after `client_ip` resolution.
        case ip
        /// A request header's value; requests without it are counted by client address.
        case header(String)
        /// A claim of the token a `jwt` guard before this one accepted; without one, the client address.
        case claim(String)
        /// The id of the key an `api_key` guard before this one accepted; without one, the client address.
        case apiKey
        /// The route's name: one budget for everyone on the route (combine with `ip` for per-client).
        case route

        public var description: String {
            switch self {
            case .ip: return "ip"
            case .header(let name): return "header:\(name)"
            case .claim(let name): return "claim:\(name)"
            case .apiKey: return "api_key"
            case .route: return "route"
            }
        }
    }

    public enum Scope: String, Sendable { case local, shared }

    public struct Limit: Sendable, Equatable {
        public var count: Int
        public var period: PolicyDuration
        public var burst: Int
        /// As written (`50/s`), for the `RateLimit-Policy` name.
        public var text: String
    }

    public var key: [KeyPart]
    public var limits: [Limit]
    public var scope: Scope = .local

    static let keys = ["key", "limit", "burst", "limits", "scope", "mode"]
    static let limitKeys = ["limit", "burst"]

    static func decode(_ node: PolicyNode) -> RateLimitGuardSpec? {
        guard let map = node.mapping(allowedKeys: keys) else { return nil }
        let key = map.required("key").flatMap(decodeKey)
        var limits: [Limit] = []
        switch (map["limit"], map["limits"]) {
        case (let single?, nil):
            if let limit = decodeLimit(single, burst: map["burst"]) { limits = [limit] }
        case (nil, let list?):
            if let burst = map["burst"] { burst.error("'burst' belongs to each entry of 'limits'") }
            guard let items = list.list() else { return nil }
            if items.isEmpty { list.error("'limits' needs at least one limit") }
            for item in items {
                guard let entry = item.mapping(allowedKeys: limitKeys), let text = entry.required("limit") else { continue }
                if let limit = decodeLimit(text, burst: entry["burst"]) { limits.append(limit) }
            }
        case (_?, _?):
            node.error("write either 'limit' (one limit) or 'limits' (several), not both")
            return nil
        case (nil, nil):
            node.error("a rate_limit guard needs 'limit' (e.g. 50/s) or 'limits'")
            return nil
        }
        let scope = map["scope"]?.oneOf(["local": Scope.local, "shared": .shared]) ?? .local
        guard let key, !limits.isEmpty else { return nil }
        return RateLimitGuardSpec(key: key, limits: limits, scope: scope)
    }

    private static func decodeKey(_ node: PolicyNode) -> [KeyPart]? {
        let texts: [(String, PolicyNode)]
        if case .sequence = node.node {
            guard let items = node.stringList() else { return nil }
            texts = items
        } else {
            guard let text = node.string() else { return nil }
            texts = [(text, node)]
        }
        if texts.isEmpty {
            node.error("'key' needs at least one part: ip, header:NAME, claim:NAME, api_key or route")
            return nil
        }
        var parts: [KeyPart] = []
        for (text, itemNode) in texts {
            guard let part = parseKeyPart(text) else {
                itemNode.error("'\(text)' is not a rate-limit key; write ip, header:NAME, claim:NAME, api_key or route")
                return nil
            }
            if parts.contains(part) {
                itemNode.error("'\(text)' is listed twice in the key")
                return nil
            }
            parts.append(part)
        }
        return parts
    }

    static func parseKeyPart(_ text: String) -> KeyPart? {
        switch text {
        case "ip": return .ip
        case "api_key": return .apiKey
        case "route": return .route
        default:
            if text.hasPrefix("header:") {
                let name = String(text.dropFirst("header:".count)).lowercased()
                return HTTPToken.isToken(name) ? .header(name) : nil
            }
            if text.hasPrefix("claim:") {
                let name = String(text.dropFirst("claim:".count))
                return name.isEmpty ? nil : .claim(name)
            }
            return nil
        }
    }

    /// `N/s`, `N/min`, `N/h`, `N/d`, or `N/<duration>` such as `100/10s`.
    private static func decodeLimit(_ node: PolicyNode, burst burstNode: PolicyNode?) -> Limit? {
        guard let text = node.string() else { return nil }
        guard let (count, period) = parseRate(text) else {
            node.error("'\(text)' is not a rate; write N/s, N/min, N/h, N/d or N/<duration> (e.g. 100/10s)")
            return nil
        }
        let burst = burstNode?.int(in: 1...10_000_000) ?? count
        guard GCRALimit(limit: count, periodNanoseconds: period.nanoseconds, burst: burst) != nil else {
            node.error("'\(text)' with burst \(burst) is outside what a limit can count (at most one per nanosecond)")
            return nil
        }
        return Limit(count: count, period: period, burst: burst, text: text)
    }

    static func parseRate(_ text: String) -> (Int, PolicyDuration)? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let count = Int(parts[0].trimmingCharacters(in: .whitespaces)), count >= 1, count <= 100_000_000
        else { return nil }
        let unit = parts[1].trimmingCharacters(in: .whitespaces)
        let period: PolicyDuration?
        switch unit {
        case "s", "sec", "second": period = .seconds(1)
        case "m", "min", "minute": period = .seconds(60)
        case "h", "hour": period = .seconds(3600)
        case "d", "day": period = .seconds(86_400)
        default: period = PolicyDuration(parsing: unit)
        }
        guard let period, period.nanoseconds >= 1_000_000 else { return nil }
        return (count, period)
    }
}
