import NIOCore

/// The copies of remote key sets that `jwt` guards read on one event loop: one per key source,
/// shared by every guard using it, refreshed only when the source's version moved. Confined to
/// its loop (reached through `GuardRequest`), so none of it needs a lock. (Each guard's verified
/// tokens live in its own loop slot, `VerifiedTokens`.)
///
/// A copy holds its source weakly and is found by the source's identity, an address a later
/// object may reuse; the weak reference is checked on lookup, so a new key source never reads
/// the keys of a retired one.
final class JWTLoopCache {
    private struct KeySetCopy {
        weak var source: RemoteJWKS?
        var version: Int
        var keys: JWKSet
    }

    private var keySets: [ObjectIdentifier: KeySetCopy] = [:]

    /// The loop's copy of `source`'s keys; refreshed under the source's lock only when its version moved.
    func keys(of source: RemoteJWKS) -> (version: Int, keys: JWKSet?) {
        let id = ObjectIdentifier(source)
        let current = source.version.load(ordering: .acquiring)
        if let copy = keySets[id], copy.source === source, copy.version == current { return (copy.version, copy.keys) }
        let snapshot = source.snapshot()
        if let keys = snapshot.keys { keySets[id] = KeySetCopy(source: source, version: snapshot.version, keys: keys) }
        return snapshot
    }

    /// Keeps only the copies `plan`'s guards can use. Runs on the loop when a plan is installed.
    func retain(onlyUsedBy plan: RuntimePlan) {
        var sources = Set<ObjectIdentifier>()
        for route in plan.routes.routes {
            for case let jwt as JWTGuard in route.guards {
                if case .remote(let source) = jwt.keys { sources.insert(ObjectIdentifier(source)) }
            }
        }
        keySets = keySets.filter { sources.contains($0.key) && $0.value.source != nil }
    }

    var keySetCopies: Int { keySets.count }

    struct Sizes: Sendable {
        /// Guards with a token cache on this loop.
        var tokenCaches: Int
        var keySetCopies: Int
        /// Verified tokens in all of them.
        var tokens: Int
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
