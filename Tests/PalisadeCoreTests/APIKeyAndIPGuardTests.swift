import NIOEmbedded
import Testing

@testable import PalisadeCore

/// The api_key and ip guards' `check` called directly, table driven.
@Suite("API key and IP guards")
struct APIKeyAndIPGuardTests {
    let loop = EmbeddedEventLoop()

    // SHA-256 digests from published test vectors, not from the code under test:
    // "abc" is FIPS 180-2's example; "test" and "hello" are the well-known digests of those words.
    static let testDigest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    static let abcDigest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    static let helloDigest = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    static let expiry: Int64 = 1_700_000_100

    static func apiKeyGuard(header: String = "x-api-key") -> APIKeyGuard {
        var spec = APIKeyGuardSpec(keysFile: "/keys.yaml", keysFilePosition: SourcePosition(line: 1, column: 1, keyPath: ""))
        spec.header = header
        return APIKeyGuard(
            spec: spec,
            entries: [
                APIKeyFile.Entry(id: "ci-bot", hash: SignatureCoding.hex(testDigest)!, revoked: false, expires: nil),
                APIKeyFile.Entry(id: "old-bot", hash: SignatureCoding.hex(abcDigest)!, revoked: true, expires: nil),
                APIKeyFile.Entry(id: "temp-bot", hash: SignatureCoding.hex(helloDigest)!, revoked: false, expires: expiry),
            ])
    }

    static let apiKeyCases: [(headers: [(String, String)], now: Int64, expected: String)] = [
        ([("x-api-key", "test")], 1_700_000_000, "allow"),
        ([("X-Api-Key", "test")], 1_700_000_000, "allow"),
        ([("x-api-key", "TEST")], 1_700_000_000, "api_key_invalid"),
        ([("x-api-key", "tes")], 1_700_000_000, "api_key_invalid"),
        ([("x-api-key", testDigest)], 1_700_000_000, "api_key_invalid"),
        ([("x-api-key", "abc")], 1_700_000_000, "api_key_invalid"),
        ([("x-api-key", "hello")], expiry - 1, "allow"),
        ([("x-api-key", "hello")], expiry, "api_key_invalid"),
        ([], 1_700_000_000, "api_key_missing"),
        ([("x-api-key", "")], 1_700_000_000, "api_key_missing"),
        ([("authorization", "test")], 1_700_000_000, "api_key_missing"),
        ([("x-api-key", "test"), ("x-api-key", "test")], 1_700_000_000, "duplicate_credential_header"),
        ([("x-api-key", "nope"), ("X-API-KEY", "test")], 1_700_000_000, "duplicate_credential_header"),
    ]

    @Test("api_key admits a known, enabled, unexpired key and nothing else", arguments: apiKeyCases)
    func apiKey(headers: [(String, String)], now: Int64, expected: String) throws {
        let request = GuardTestRequests.make(.GET, "/api", headers: headers, now: now, on: loop)
        #expect(try GuardTestRequests.verdict(Self.apiKeyGuard().check(request)) == expected)
    }

    @Test("api_key reads the header the policy names, and its refusals are 401")
    func configuredHeader() throws {
        let guardItem = Self.apiKeyGuard(header: "x-partner-key")
        let right = GuardTestRequests.make(.GET, "/api", headers: [("X-Partner-Key", "test")], on: loop)
        #expect(try GuardTestRequests.verdict(guardItem.check(right)) == "allow")
        let wrong = GuardTestRequests.make(.GET, "/api", headers: [("x-api-key", "test")], on: loop)
        let refusal = try GuardTestRequests.refusal(guardItem.check(wrong))
        #expect(refusal == APIKeyGuard.missing)
        #expect(refusal?.status == .unauthorized)
        let twice = GuardTestRequests.make(.GET, "/api", headers: [("x-partner-key", "a"), ("x-partner-key", "b")], on: loop)
        #expect(try GuardTestRequests.refusal(guardItem.check(twice))?.headerName == "x-partner-key")
    }

    static func ipGuard(allow: [String], deny: [String]) -> IPGuard {
        IPGuard(spec: IPGuardSpec(allow: allow.map { CIDRBlock(parsing: $0)! }, deny: deny.map { CIDRBlock(parsing: $0)! }))
    }

    static let ipCases: [(allow: [String], deny: [String], client: String, expected: String)] = [
        (["10.0.0.0/8", "2001:db8::/32"], ["10.1.0.0/16"], "10.2.3.4", "allow"),
        (["10.0.0.0/8", "2001:db8::/32"], ["10.1.0.0/16"], "10.1.2.3", "ip_denied"),
        (["10.0.0.0/8", "2001:db8::/32"], ["10.1.0.0/16"], "192.0.2.1", "ip_denied"),
        (["10.0.0.0/8", "2001:db8::/32"], ["10.1.0.0/16"], "2001:db8:ffff::5", "allow"),
        (["10.0.0.0/8", "2001:db8::/32"], ["10.1.0.0/16"], "2001:db9::1", "ip_denied"),
        (["10.0.0.0/8", "2001:db8::/32"], ["10.1.0.0/16"], "::ffff:10.2.3.4", "allow"),
        (["10.0.0.0/8", "2001:db8::/32"], ["10.1.0.0/16"], "::ffff:10.1.0.1", "ip_denied"),
        (["10.0.0.0/8", "2001:db8::/32"], ["10.1.0.0/16"], "::a02:304", "ip_denied"),
        ([], ["192.0.2.0/24"], "192.0.2.77", "ip_denied"),
        ([], ["192.0.2.0/24"], "192.0.3.1", "allow"),
        ([], ["192.0.2.0/24"], "::1", "allow"),
        (["127.0.0.1"], [], "127.0.0.1", "allow"),
        (["127.0.0.1"], [], "127.0.0.2", "ip_denied"),
        (["::/0"], ["0.0.0.0/0"], "203.0.113.9", "ip_denied"),
        (["::/0"], ["0.0.0.0/0"], "2001:db8::1", "allow"),
    ]

    @Test("ip allows inside allow and outside deny; a mapped IPv4 address is that IPv4 address", arguments: ipCases)
    func ip(allow: [String], deny: [String], client: String, expected: String) throws {
        let request = GuardTestRequests.make(.GET, "/", client: client, on: loop)
        let decision = Self.ipGuard(allow: allow, deny: deny).check(request)
        #expect(try GuardTestRequests.verdict(decision) == expected)
        if expected != "allow" { #expect(try GuardTestRequests.refusal(decision)?.status == .forbidden) }
    }
}
