import NIOHTTP1

/// Finds the client's address: the TCP peer, or, behind trusted proxies, the right-most
/// `X-Forwarded-For` hop that is not itself a trusted proxy. Hops added by anyone else are ignored,
/// so a client cannot choose its own address by sending the header.
public struct ClientIPResolver: Sendable {
    public let source: ClientIPSpec.Source
    public let trustedProxies: CIDRSet

    init(spec: ClientIPSpec) {
        self.source = spec.from
        self.trustedProxies = CIDRSet(spec.trustedProxies)
    }

    public func isTrustedProxy(_ peer: IPAddressBytes) -> Bool { trustedProxies.contains(peer) }

    public func resolve(peer: IPAddressBytes, headers: HTTPHeaders) -> IPAddressBytes {
        guard source == .xForwardedFor, trustedProxies.contains(peer) else { return peer }
        var client = peer
        // Walk the hops from the nearest (right-most) outwards.
        for value in headers[canonicalForm: "x-forwarded-for"].reversed() {
            let hop = value.trimmingASCIISpaces()
            guard let address = IPAddressBytes(parsing: hop) else { return client }
            client = address
            if !trustedProxies.contains(address) { return address }
        }
        return client
    }
}

extension Substring {
    func trimmingASCIISpaces() -> Substring {
        var s = self
        while let first = s.utf8.first, first == 0x20 || first == 0x09 { s = s.dropFirst() }
        while let last = s.utf8.last, last == 0x20 || last == 0x09 { s = s.dropLast() }
        return s
    }
}
