import Testing

@testable import PalisadeCore

/// Guards' per-loop slots (a jwt guard's verified tokens among them) are found by the owner's
/// identity, an address a later object may reuse once the owner is gone.
@Suite("Loop slots")
struct JWTLoopCacheTests {
    @Test("a new guard never sees tokens a freed guard verified, even at a reused address")
    func freedOwnerTokensAreNotReused() throws {
        let slots = LoopSlots()
        let facts = TokenFacts(claims: ["sub": "mallory", "exp": 4_000_000_000], spec: JWTGuardSpec(algorithms: ["HS256"]))
        for round in 0..<200 {
            do {
                let retired = JWTGuard.CacheOwner()
                slots.value(for: retired) { VerifiedTokens() }.insert("token-\(round)", facts: facts, keyVersion: 0, now: 1000)
            }
            let fresh = JWTGuard.CacheOwner()
            #expect(slots.value(for: fresh) { VerifiedTokens() }.lookup("token-\(round)", keyVersion: 0, now: 1000) == nil)
        }
    }

    @Test("installing a plan keeps the slots its guards own and drops the others")
    func retainKeepsOnlyListedOwners() {
        final class Counter { var value = 0 }
        let slots = LoopSlots()
        let kept = JWTGuard.CacheOwner()
        let dropped = JWTGuard.CacheOwner()
        slots.value(for: kept) { Counter() }.value = 7
        slots.value(for: dropped) { Counter() }.value = 9
        slots.retain(onlyOwnedBy: [ObjectIdentifier(kept)])
        #expect(slots.value(for: kept) { Counter() }.value == 7)
        #expect(slots.value(for: dropped) { Counter() }.value == 0)
        #expect(slots.values(of: Counter.self).count == 2)
    }
}
