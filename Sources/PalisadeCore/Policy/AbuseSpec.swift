/// `abuse:` refusals counted per client; a client refused `ban_after` times within `window` is
/// banned for `ban_for`, doubling for each repeat offence up to `ban_max`.
///
///     abuse:
///       ban_after: 20
///       window: 1m
///       ban_for: 5m
///       ban_max: 24h
///       allow: [10.0.0.0/8]     # never counted, never banned
///       deny: [203.0.113.0/24]  # always refused
///       count_unrouted: false   # count requests no route matched (scanners)
///
/// A route adds the app's own answers with `abuse: { count_upstream: [401, 403] }`.
public struct AbuseSpec: Sendable, Equatable {
    /// What is counted per client: only the client address for now (after `client_ip`).
    public enum Key: String, Sendable { case ip }

    public var key: Key = .ip
    public var banAfter: Int
    public var window: PolicyDuration
    public var banFor: PolicyDuration
    public var banMax: PolicyDuration
    /// How long offences are remembered after a ban ends, for the doubling.
    public var memory: PolicyDuration
    public var allow: [CIDRBlock] = []
    public var deny: [CIDRBlock] = []
    public var countUnrouted = false
    public var position: SourcePosition?

    static let keys = ["key", "ban_after", "window", "ban_for", "ban_max", "remember", "allow", "deny", "count_unrouted"]

    static func decode(_ node: PolicyNode) -> AbuseSpec? {
        guard let map = node.mapping(allowedKeys: keys) else { return nil }
        _ = map["key"]?.oneOf(["ip": Key.ip])
        let banAfter = map.required("ban_after")?.int(in: 1...1_000_000)
        let window = map["window"]?.duration(atLeast: .seconds(1)) ?? .seconds(60)
        let banFor = map.required("ban_for")?.duration(atLeast: .seconds(1))
        guard let banAfter, let banFor else { return nil }
        var banMax = map["ban_max"]?.duration(atLeast: .seconds(1)) ?? banFor
        if banMax < banFor {
            map["ban_max"]?.error("'ban_max' (\(banMax)) is shorter than 'ban_for' (\(banFor))")
            banMax = banFor
        }
        let memory = map["remember"]?.duration(atLeast: .seconds(0)) ?? banMax
        var spec = AbuseSpec(banAfter: banAfter, window: window, banFor: banFor, banMax: banMax, memory: memory)
        spec.allow = map["allow"].map(CIDRListDecoder.decode) ?? []
        spec.deny = map["deny"].map(CIDRListDecoder.decode) ?? []
        spec.countUnrouted = map["count_unrouted"]?.bool() ?? false
        spec.position = node.position
        return spec
    }
}

/// A route's part of `abuse`: which of the app's own statuses count against the client.
public struct RouteAbuseSpec: Sendable, Equatable {
    public var countUpstream: Set<Int> = []

    static let keys = ["count_upstream"]

    static func decode(_ node: PolicyNode) -> RouteAbuseSpec? {
        guard let map = node.mapping(allowedKeys: keys) else { return nil }
        var spec = RouteAbuseSpec()
        if let list = map["count_upstream"]?.list() {
            for item in list {
                if let status = item.int(in: 100...599) { spec.countUpstream.insert(status) }
            }
        }
        return spec
    }
}
