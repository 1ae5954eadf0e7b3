import NIOCore

/// What `jwt` guards keep per event loop: their copy of each remote key set, and tokens already
/// verified. Confined to its loop (reached through `GuardRequest`), so none of it needs a lock.
///
/// Each slot holds its owner weakly and is found by the owner's identity. A reload builds new
/// guards (new owners), so `install` drops the slots the new plan does not use and those whose
/// owner is gone: retired guards' caches are freed, not kept for the life of the process. The weak
/// reference is also checked on lookup, because an identity is an address that a later object may
/// reuse: a new guard must never read tokens another guard verified, nor a new key source the keys
/// of a retired one.
final class JWTLoopCache {
    private struct KeySetCopy {
        weak var source: RemoteJWKS?
        var version: Int
        var keys: JWKSet
    }

    private struct TokenSlot {
        weak var owner: JWTGuard.CacheOwner?
        let tokens: VerifiedTokens
    }

    private var keySets: [ObjectIdentifier: KeySetCopy] = [:]
    private var verified: [ObjectIdentifier: TokenSlot] = [:]

    /// The loop's copy of `source`'s keys; refreshed under the source's lock only when its version moved.
    func keys(of source: RemoteJWKS) -> (version: Int, keys: JWKSet?) {
        let id = ObjectIdentifier(source)
        let current = source.version.load(ordering: .acquiring)
        if let copy = keySets[id], copy.source === source, copy.version == current { return (copy.version, copy.keys) }
        let snapshot = source.snapshot()
        if let keys = snapshot.keys { keySets[id] = KeySetCopy(source: source, version: snapshot.version, keys: keys) }
        return snapshot
    }

    func tokens(for owner: JWTGuard.CacheOwner) -> VerifiedTokens {
        let id = ObjectIdentifier(owner)
        if let slot = verified[id], slot.owner === owner { return slot.tokens }
        let made = VerifiedTokens()
        verified[id] = TokenSlot(owner: owner, tokens: made)
        return made
    }

    /// Keeps only what `plan`'s guards can use. Runs on the loop when a plan is installed; a request
    /// still in flight under the old plan may make a slot again, which the next install drops.
    func retain(onlyUsedBy plan: RuntimePlan) {
        var owners = Set<ObjectIdentifier>()
        var sources = Set<ObjectIdentifier>()
        for route in plan.routes.routes {
            for case let jwt as JWTGuard in route.guards {
                owners.insert(ObjectIdentifier(jwt.cacheOwner))
                if case .remote(let source) = jwt.keys { sources.insert(ObjectIdentifier(source)) }
            }
        }
        verified = verified.filter { owners.contains($0.key) && $0.value.owner != nil }
        keySets = keySets.filter { sources.contains($0.key) && $0.value.source != nil }
    }

    struct Sizes: Sendable {
        /// Guards with a token cache on this loop.
        var tokenCaches: Int
        var keySetCopies: Int
        /// Verified tokens in all of them.
        var tokens: Int
    }

    var sizes: Sizes {
        Sizes(tokenCaches: verified.count, keySetCopies: keySets.count, tokens: verified.values.reduce(0) { $0 + $1.tokens.count })
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
    var count: Int { entries.count }
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
