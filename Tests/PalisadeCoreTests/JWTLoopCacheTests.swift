import Testing

@testable import PalisadeCore

/// The per-loop JWT cache finds a guard's tokens by the guard's identity, an address a later
/// object may reuse once the guard is gone.
@Suite("JWT loop cache")
struct JWTLoopCacheTests {
    @Test("a new guard never sees tokens a freed guard verified, even at a reused address")
    func freedOwnerTokensAreNotReused() throws {
        let cache = JWTLoopCache()
        let facts = TokenFacts(claims: ["sub": "mallory", "exp": 4_000_000_000], spec: JWTGuardSpec(algorithms: ["HS256"]))
        for round in 0..<200 {
            do {
                let retired = JWTGuard.CacheOwner()
                cache.tokens(for: retired).insert("token-\(round)", facts: facts, keyVersion: 0, now: 1000)
            }
            let fresh = JWTGuard.CacheOwner()
            #expect(cache.tokens(for: fresh).lookup("token-\(round)", keyVersion: 0, now: 1000) == nil)
        }
    }
}
