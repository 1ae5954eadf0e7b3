import NIOHTTP1
import PalisadeCore
import Testing

/// Which address a request is judged by: the TCP peer, or the right-most X-Forwarded-For hop not
/// added by a trusted proxy. A client must never pick its own address by sending the header.
@Suite("Client IP")
struct ClientIPTests {
    static func resolver(_ clientIP: String) throws -> ClientIPResolver {
        let yaml = """
            version: 1
            upstream:
              url: http://127.0.0.1:3000
            client_ip:
            \(clientIP)
            """
        return try PlanCompiler.load(yaml: yaml, file: "client-ip.yaml", generation: 1).0.clientIP
    }

    static func ip(_ text: String) -> IPAddressBytes { IPAddressBytes(parsing: text)! }

    static func xff(_ values: String...) -> HTTPHeaders {
        var headers = HTTPHeaders()
        for value in values { headers.add(name: "X-Forwarded-For", value: value) }
        return headers
    }

    static let behindProxies = """
          from: x-forwarded-for
          trusted_proxies: [10.0.0.0/8, "::1"]
        """

    @Test("peer mode uses the TCP peer and ignores X-Forwarded-For, even from a listed proxy")
    func peerMode() throws {
        let resolver = try Self.resolver(
            """
              from: peer
              trusted_proxies: [10.0.0.0/8]
            """)
        #expect(resolver.source == .peer)
        let peer = Self.ip("10.0.0.1")
        #expect(resolver.resolve(peer: peer, headers: Self.xff("203.0.113.9")) == peer)
        #expect(resolver.resolve(peer: Self.ip("198.51.100.4"), headers: Self.xff("10.0.0.9")) == Self.ip("198.51.100.4"))
        #expect(resolver.resolve(peer: peer, headers: HTTPHeaders()) == peer)
    }

    @Test("x-forwarded-for is believed only when the peer is a trusted proxy")
    func untrustedPeer() throws {
        let resolver = try Self.resolver(Self.behindProxies)
        #expect(resolver.source == .xForwardedFor)
        let stranger = Self.ip("198.51.100.4")
        #expect(!resolver.isTrustedProxy(stranger))
        #expect(resolver.resolve(peer: stranger, headers: Self.xff("10.0.0.9")) == stranger)
        #expect(resolver.resolve(peer: stranger, headers: Self.xff("203.0.113.9, 10.0.0.5")) == stranger)
    }

    @Test("a trusted peer's header gives the hop it added")
    func trustedPeer() throws {
        let resolver = try Self.resolver(Self.behindProxies)
        let proxy = Self.ip("10.0.0.1")
        #expect(resolver.isTrustedProxy(proxy))
        #expect(resolver.resolve(peer: proxy, headers: Self.xff("203.0.113.9")) == Self.ip("203.0.113.9"))
        #expect(resolver.resolve(peer: proxy, headers: Self.xff(" 203.0.113.9\t")) == Self.ip("203.0.113.9"))
        #expect(resolver.resolve(peer: proxy, headers: HTTPHeaders()) == proxy, "no header: the peer itself")
        let v6 = Self.ip("::1")
        #expect(resolver.resolve(peer: v6, headers: Self.xff("2001:db8::7")) == Self.ip("2001:db8::7"))
    }

    @Test("the right-most untrusted hop is the client; hops to its left are the client's own claims")
    func rightMostUntrusted() throws {
        let resolver = try Self.resolver(Self.behindProxies)
        let proxy = Self.ip("10.0.0.1")
        // 6.6.6.6 was sent by the client itself; 203.0.113.9 is what the first trusted proxy saw.
        #expect(resolver.resolve(peer: proxy, headers: Self.xff("6.6.6.6, 203.0.113.9, 10.0.0.5")) == Self.ip("203.0.113.9"))
        #expect(resolver.resolve(peer: proxy, headers: Self.xff("6.6.6.6, 203.0.113.9, 10.0.0.5, 10.2.0.1")) == Self.ip("203.0.113.9"))
        // The same hops split over several header lines are one list, in order.
        #expect(resolver.resolve(peer: proxy, headers: Self.xff("6.6.6.6", "203.0.113.9, 10.0.0.5")) == Self.ip("203.0.113.9"))
        #expect(resolver.resolve(peer: proxy, headers: Self.xff("6.6.6.6, 203.0.113.9", "10.0.0.5")) == Self.ip("203.0.113.9"))
        // A client claiming a trusted address to the left of its real one gains nothing.
        #expect(resolver.resolve(peer: proxy, headers: Self.xff("10.0.0.77, 203.0.113.9")) == Self.ip("203.0.113.9"))
    }

    @Test("when every hop is trusted, the left-most one is the client")
    func allTrusted() throws {
        let resolver = try Self.resolver(Self.behindProxies)
        #expect(resolver.resolve(peer: Self.ip("10.0.0.1"), headers: Self.xff("10.0.0.7, 10.0.0.5")) == Self.ip("10.0.0.7"))
    }

    @Test("a garbage hop stops the walk at the nearest address that was verified")
    func garbageHop() throws {
        let resolver = try Self.resolver(Self.behindProxies)
        let proxy = Self.ip("10.0.0.1")
        // The nearest hop is unreadable: nothing beyond the peer can be believed.
        #expect(resolver.resolve(peer: proxy, headers: Self.xff("203.0.113.9, garbage")) == proxy)
        #expect(resolver.resolve(peer: proxy, headers: Self.xff("203.0.113.9, 999.1.1.1")) == proxy)
        #expect(resolver.resolve(peer: proxy, headers: Self.xff("203.0.113.9, 203.0.113.10:443")) == proxy)
        // Garbage beyond a trusted hop: the trusted hop's own client address is the last one known.
        #expect(resolver.resolve(peer: proxy, headers: Self.xff("garbage, 10.0.0.9")) == Self.ip("10.0.0.9"))
        // Garbage to the left of the client is never reached.
        #expect(resolver.resolve(peer: proxy, headers: Self.xff("garbage, 203.0.113.9")) == Self.ip("203.0.113.9"))
        #expect(resolver.resolve(peer: proxy, headers: Self.xff("<script>, 203.0.113.9, 10.0.0.5")) == Self.ip("203.0.113.9"))
    }

    @Test("a v4 peer seen as v4-mapped IPv6 is still a trusted proxy")
    func mappedPeer() throws {
        let resolver = try Self.resolver(Self.behindProxies)
        let mapped = Self.ip("::ffff:10.0.0.1")
        #expect(resolver.isTrustedProxy(mapped))
        #expect(resolver.resolve(peer: mapped, headers: Self.xff("203.0.113.9")) == Self.ip("203.0.113.9"))
    }
}
