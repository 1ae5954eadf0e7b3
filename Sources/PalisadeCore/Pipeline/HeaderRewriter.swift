import NIOHTTP1

/// Builds the heads Palisade sends on: hop-by-hop fields removed (RFC 9110 7.6.1, including those
/// named in `Connection`), framing set explicitly, forwarding fields added. The common request
/// carries none of the hop-by-hop fields, so one scan over the names decides whether to edit at all.
enum HeaderRewriter {
    /// Fields that describe one connection, never the message.
    static let hopByHop: [String] = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authorization", "proxy-authenticate",
    ]

    @inline(__always)
    static func isHopByHop(_ name: String) -> Bool {
        switch name.utf8.count {
        case 2, 7, 10, 16, 17, 18, 19:
            let lower = name.lowercased()
            return hopByHop.contains(lower)
        default:
            return false
        }
    }

    /// Removes hop-by-hop fields and any field listed in `Connection`. Returns whether any were found.
    static func stripHopByHop(_ headers: inout HTTPHeaders) {
        var listed: [String] = []
        var found = false
        for (name, value) in headers where isHopByHop(name) {
            found = true
            if name.utf8.count == 10, name.lowercased() == "connection" {
                for token in value.split(separator: ",") {
                    let lower = token.trimmingASCIISpaces().lowercased()
                    if !lower.isEmpty { listed.append(lower) }
                }
            }
        }
        guard found else { return }
        for name in hopByHop { headers.remove(name: name) }
        for name in listed where !isProtectedFromConnectionRemoval(name) { headers.remove(name: name) }
    }

    /// `Connection: host` must not let a client strip the fields routing and framing depend on.
    private static func isProtectedFromConnectionRemoval(_ name: String) -> Bool {
        name == "host" || name == "content-length" || name == "x-request-id"
    }

    struct RequestContext {
        var requestID: String
        var clientAddress: String
        var peerIsTrustedProxy: Bool
        var isChunked: Bool
        var isWebSocketUpgrade: Bool
    }

    static func upstreamRequestHead(from head: HTTPRequestHead, _ c: RequestContext) -> HTTPRequestHead {
        var out = head
        // HTTP/1.1 to the app always: keep-alive and chunked framing are then available.
        out.version = .http1_1
        var headers = head.headers
        stripHopByHop(&headers)
        headers.remove(name: "expect")  // Palisade answered 100-continue itself
        if c.isChunked { headers.add(name: "transfer-encoding", value: "chunked") }
        if c.isWebSocketUpgrade {
            headers.add(name: "connection", value: "upgrade")
            headers.add(name: "upgrade", value: "websocket")
        }
        if c.peerIsTrustedProxy {
            if let previous = joinedValues(headers, "x-forwarded-for") {
                headers.replaceOrAdd(name: "x-forwarded-for", value: "\(previous), \(c.clientAddress)")
            } else {
                headers.add(name: "x-forwarded-for", value: c.clientAddress)
            }
            if !headers.contains(name: "x-forwarded-proto") { headers.add(name: "x-forwarded-proto", value: "http") }
            if !headers.contains(name: "x-forwarded-host"), let host = headers.first(name: "host") {
                headers.add(name: "x-forwarded-host", value: host)
            }
        } else {
            // An untrusted client's own forwarding fields are lies until proven otherwise.
            headers.remove(name: "x-forwarded-for")
            headers.remove(name: "x-forwarded-proto")
            headers.remove(name: "x-forwarded-host")
            headers.remove(name: "forwarded")
            headers.add(name: "x-forwarded-for", value: c.clientAddress)
            headers.add(name: "x-forwarded-proto", value: "http")
            if let host = headers.first(name: "host") { headers.add(name: "x-forwarded-host", value: host) }
        }
        headers.replaceOrAdd(name: "x-request-id", value: c.requestID)
        out.headers = headers
        return out
    }

    private static func joinedValues(_ headers: HTTPHeaders, _ name: String) -> String? {
        let values = headers[name]
        return values.isEmpty ? nil : values.joined(separator: ", ")
    }

    struct ResponseContext {
        var requestID: String
        var requestMethod: HTTPMethod
        var clientVersion: HTTPVersion
        var closeAfter: Bool
        var isWebSocketUpgrade: Bool
        var extraHeaders: [(String, String)]
    }

    /// Returns the head for the client and whether the body must be delimited by closing the connection.
    static func clientResponseHead(
        from upstream: HTTPResponseHead,
        _ c: ResponseContext
    ) -> (head: HTTPResponseHead, closeDelimited: Bool) {
        var head = HTTPResponseHead(version: c.clientVersion, status: upstream.status)
        var headers = upstream.headers
        stripHopByHop(&headers)
        var closeDelimited = false
        let status = upstream.status.code
        let bodyless = c.requestMethod == .HEAD || status == 204 || status == 304 || (status >= 100 && status < 200)
        if status == 204 || (status >= 100 && status < 200) {
            headers.remove(name: "content-length")
        }
        if !bodyless && !headers.contains(name: "content-length") {
            // The app used chunked framing or ended its body by closing; re-frame for this client.
            if c.clientVersion == .http1_1 {
                headers.add(name: "transfer-encoding", value: "chunked")
            } else {
                closeDelimited = true
            }
        }
        if c.isWebSocketUpgrade && status == 101 {
            headers.add(name: "connection", value: "upgrade")
            headers.add(name: "upgrade", value: "websocket")
        } else if c.closeAfter || closeDelimited {
            headers.add(name: "connection", value: "close")
        } else if c.clientVersion == .http1_0 {
            headers.add(name: "connection", value: "keep-alive")
        }
        for (name, value) in c.extraHeaders { headers.replaceOrAdd(name: name, value: value) }
        headers.replaceOrAdd(name: "x-request-id", value: c.requestID)
        head.headers = headers
        return (head, closeDelimited)
    }
}
