import NIOCore

/// What `jwt` guards keep per event loop: their copy of each remote key set, and tokens already
/// verified. Confined to its loop (reached through `GuardRequest`), so none of it needs a lock.
final class JWTLoopCache {
    private var keySets: [ObjectIdentifier: (version: Int, keys: JWKSet)] = [:]
    private var verified: [ObjectIdentifier: VerifiedTokens] = [:]

    /// The loop's copy of `source`'s keys; refreshed under the source's lock only when its version moved.
    func keys(of source: RemoteJWKS) -> (version: Int, keys: JWKSet?) {
        let id = ObjectIdentifier(source)
        let current = source.version.load(ordering: .acquiring)
        if let copy = keySets[id], copy.version == current { return (copy.version, copy.keys) }
        let snapshot = source.snapshot()
        if let keys = snapshot.keys { keySets[id] = (snapshot.version, keys) }
        return snapshot
    }

    func tokens(for owner: AnyObject) -> VerifiedTokens {
        let id = ObjectIdentifier(owner)
        if let existing = verified[id] { return existing }
        let made = VerifiedTokens()
        verified[id] = made
        return made
    }
}

/// Tokens whose signature one guard has verified, by their exact text, with their claims. An
/// entry is used only with the key-set version it was verified under and only until the token
/// expires (five minutes at most), so a rotated-out key or an expired token is never served from
/// here. Time-dependent claims are still checked on every request.
final class VerifiedTokens {
    struct Entry {
        var claims: [String: Any]
        var keyVersion: Int
        var validUntil: Int64
    }

    private var entries: [String: Entry] = [:]
    static let capacity = 4096
    static let maxAge: Int64 = 300

    func lookup(_ token: String, keyVersion: Int, now: Int64) -> [String: Any]? {
        guard let entry = entries[token] else { return nil }
        guard entry.keyVersion == keyVersion, now <= entry.validUntil else {
            entries[token] = nil
            return nil
        }
        return entry.claims
    }

    func insert(_ token: String, claims: [String: Any], keyVersion: Int, expires: Int64?, now: Int64) {
        if entries.count >= Self.capacity {
            entries = entries.filter { $0.value.validUntil >= now }
            // Still full of live tokens: start over rather than grow without bound.
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
        }
        let until = min(expires ?? (now + Self.maxAge), now + Self.maxAge)
        entries[token] = Entry(claims: claims, keyVersion: keyVersion, validUntil: until)
    }

    var count: Int { entries.count }
}
