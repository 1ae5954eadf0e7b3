import NIOCore
import NIOEmbedded
import Testing

@testable import PalisadeCore

/// The rate-limit guard's store key on one kept-alive connection: the per-connection memo of the
/// address key must follow the client address (which changes per request behind a trusted proxy)
/// and never hand one client's key to another.
@Suite("Rate limit keys on one connection")
struct RateLimitGuardKeyTests {
    static func guardWithBurstOne(store: MemoryStore) -> RateLimitGuard {
        let spec = RateLimitGuardSpec(
            key: [.ip], limits: [.init(count: 1, period: .seconds(3600), burst: 1, text: "1/h")], scope: .local)
        return RateLimitGuard(spec: spec, routeName: "r", index: 0, local: store, shared: store)
    }

    @Test("the address key follows the address and the prefix, and is reused while both stay")
    func addressKeyMemo() throws {
        let loop = EmbeddedEventLoop()
        let request = GuardTestRequests.make(.GET, "/", client: "192.0.2.1", on: loop)
        let first = request.addressKey(prefix: "rl:a:")
        #expect(first == "rl:a:192.0.2.1")
        #expect(request.addressKey(prefix: "rl:a:") == first)
        #expect(request.addressKey(prefix: "rl:b:") == "rl:b:192.0.2.1")
        request.reset(clientIP: try #require(IPAddressBytes(parsing: "2001:db8::7")))
        #expect(request.addressKey(prefix: "rl:b:") == "rl:b:2001:db8::7")
        request.reset(clientIP: try #require(IPAddressBytes(parsing: "192.0.2.1")))
        #expect(request.addressKey(prefix: "rl:a:") == first)
    }

    @Test("burst 1 per address: a second address on the same connection has its own budget; the first stays spent")
    func addressesOnOneConnection() throws {
        let loop = EmbeddedEventLoop()
        let store = MemoryStore()
        let limit = Self.guardWithBurstOne(store: store)
        let request = GuardTestRequests.make(.GET, "/", client: "192.0.2.1", on: loop)
        #expect(try GuardTestRequests.verdict(limit.check(request)) == "allow")
        request.reset(clientIP: try #require(IPAddressBytes(parsing: "192.0.2.1")))
        #expect(try GuardTestRequests.verdict(limit.check(request)) == RateLimitGuard.rateLimited)
        request.reset(clientIP: try #require(IPAddressBytes(parsing: "198.51.100.9")))
        #expect(try GuardTestRequests.verdict(limit.check(request)) == "allow")
        request.reset(clientIP: try #require(IPAddressBytes(parsing: "198.51.100.9")))
        #expect(try GuardTestRequests.verdict(limit.check(request)) == RateLimitGuard.rateLimited)
        request.reset(clientIP: try #require(IPAddressBytes(parsing: "192.0.2.1")))
        #expect(try GuardTestRequests.verdict(limit.check(request)) == RateLimitGuard.rateLimited)
        #expect(Set(store.keys) == ["rl:r#0:192.0.2.1", "rl:r#0:198.51.100.9"])
    }
}
