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

/// Tokens whose signature one guard has verified, by their exact text, with what their claims
/// decide. An entry is used only with the key-set version it was verified under and only until
/// the token expires (five minutes at most; a token without `exp`, which only `allow_missing_exp`
/// admits, is verified again every five minutes), so a rotated-out key or an expired token is never
/// served from here. Time-dependent claims are still checked on every request. Keys are the
/// token as found in the request (a Substring of its header), so a lookup copies nothing.
final class VerifiedTokens {
    struct Entry {
        var facts: TokenFacts
        var keyVersion: Int
        var validUntil: Int64
    }

    private var entries: [Substring: Entry] = [:]
    static let capacity = 4096
    static let maxAge: Int64 = 300

    func lookup(_ token: Substring, keyVersion: Int, now: Int64) -> TokenFacts? {
        guard let entry = entries[token] else { return nil }
        guard entry.keyVersion == keyVersion, now <= entry.validUntil else {
            entries[token] = nil
            return nil
        }
        return entry.facts
    }

    func insert(_ token: Substring, facts: TokenFacts, keyVersion: Int, now: Int64) {
        if entries.count >= Self.capacity {
            entries = entries.filter { $0.value.validUntil >= now }
            // Still full of live tokens: start over rather than grow without bound.
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
        }
        let until = min(facts.expiry ?? (now + Self.maxAge), now + Self.maxAge)
        // A copy of its own: the key must not keep the whole request header alive.
        entries[Substring(String(token))] = Entry(facts: facts, keyVersion: keyVersion, validUntil: until)
    }
}
