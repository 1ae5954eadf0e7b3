import Testing

@testable import PalisadeCore

/// The per-loop verified-token cache bounds how long a token is trusted without verifying its
/// signature again, `exp` or not.
@Suite("Verified-token cache")
struct VerifiedTokensTests {
    static func spec(allowMissingExp: Bool) -> JWTGuardSpec {
        var spec = JWTGuardSpec(algorithms: ["HS256"])
        spec.allowMissingExp = allowMissingExp
        return spec
    }

    @Test("a token without exp, admitted by allow_missing_exp, is kept five minutes at most")
    func noExpIsBounded() {
        let cache = VerifiedTokens()
        let facts = TokenFacts(claims: ["sub": "svc"], spec: Self.spec(allowMissingExp: true))
        #expect(facts.refusal == nil)
        cache.insert("token-a", facts: facts, keyVersion: 0, now: 1_000)
        #expect(cache.lookup("token-a", keyVersion: 0, now: 1_000 + VerifiedTokens.maxAge) != nil)
        #expect(cache.lookup("token-a", keyVersion: 0, now: 1_001 + VerifiedTokens.maxAge) == nil)
    }

    @Test("without the opt-out, a token without exp is refused from the cache too")
    func noExpRefusedByDefault() {
        let cache = VerifiedTokens()
        cache.insert(
            "token-b", facts: TokenFacts(claims: ["sub": "svc"], spec: Self.spec(allowMissingExp: false)), keyVersion: 0, now: 1_000)
        #expect(cache.lookup("token-b", keyVersion: 0, now: 1_010)?.refusal == JWTGuard.tokenExpMissing)
        let withExp = TokenFacts(claims: ["sub": "svc", "exp": 1_060], spec: Self.spec(allowMissingExp: false))
        #expect(withExp.refusal == nil)
        // An exp sooner than five minutes ends the entry then.
        cache.insert("token-c", facts: withExp, keyVersion: 0, now: 1_000)
        #expect(cache.lookup("token-c", keyVersion: 0, now: 1_061) == nil)
    }
}
