import NIOHTTP1

/// Builds the heads Palisade sends on: hop-by-hop fields removed (RFC 9110 7.6.1, including those
/// named in `Connection`), framing set explicitly, forwarding fields added. The common request
/// carries none of the hop-by-hop fields, so one scan over the names decides whether to edit at all.
enum HeaderRewriter {
    /// Fields that describe one connection, never the message.
    static let hopByHop: [StaticString] = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authorization", "proxy-authenticate",
    ]

    /// What one pass over a head's field names found, so later edits touch only what is there.
    struct Scan {
        var hopByHop = false
        var forwarding = false
        var requestID = false
        var expect = false
        var contentLength = false
    }

    @inline(__always)
    static func scan(_ headers: HTTPHeaders) -> Scan {
        var found = Scan()
        for (name, _) in headers {
            switch name.utf8.count {
            case 2: found.hopByHop = found.hopByHop || ASCII.equalsLowercased(name, "te")
            case 6: found.expect = found.expect || ASCII.equalsLowercased(name, "expect")
            case 7:
                found.hopByHop = found.hopByHop || ASCII.equalsLowercased(name, "trailer")
                    || ASCII.equalsLowercased(name, "upgrade")
            case 9: found.forwarding = found.forwarding || ASCII.equalsLowercased(name, "forwarded")
            case 10:
                found.hopByHop = found.hopByHop || ASCII.equalsLowercased(name, "connection")
                    || ASCII.equalsLowercased(name, "keep-alive")
            case 12: found.requestID = found.requestID || ASCII.equalsLowercased(name, "x-request-id")
            case 14: found.contentLength = found.contentLength || ASCII.equalsLowercased(name, "content-length")
            case 15: found.forwarding = found.forwarding || ASCII.equalsLowercased(name, "x-forwarded-for")
            case 16:
                found.hopByHop = found.hopByHop || ASCII.equalsLowercased(name, "proxy-connection")
                found.forwarding = found.forwarding || ASCII.equalsLowercased(name, "x-forwarded-host")
            case 17:
                found.hopByHop = found.hopByHop || ASCII.equalsLowercased(name, "transfer-encoding")
                found.forwarding = found.forwarding || ASCII.equalsLowercased(name, "x-forwarded-proto")
            case 18: found.hopByHop = found.hopByHop || ASCII.equalsLowercased(name, "proxy-authenticate")
            case 19: found.hopByHop = found.hopByHop || ASCII.equalsLowercased(name, "proxy-authorization")
            default: break
            }
        }
        return found
    }

    @inline(__always)
    static func isHopByHopName(_ name: String) -> Bool {
        switch name.utf8.count {
        case 2: return ASCII.equalsLowercased(name, "te")
        case 7: return ASCII.equalsLowercased(name, "trailer") || ASCII.equalsLowercased(name, "upgrade")
        case 10: return ASCII.equalsLowercased(name, "connection") || ASCII.equalsLowercased(name, "keep-alive")
        case 16: return ASCII.equalsLowercased(name, "proxy-connection")
        case 17: return ASCII.equalsLowercased(name, "transfer-encoding")
        case 18: return ASCII.equalsLowercased(name, "proxy-authenticate")
        case 19: return ASCII.equalsLowercased(name, "proxy-authorization")
        default: return false
        }
    }

    /// Removes hop-by-hop fields and any field listed in `Connection`, rebuilding the list once
    /// rather than scanning it again per name. Call only when a scan found one.
    static func stripHopByHop(_ headers: inout HTTPHeaders) {
        // Names a sender listed in Connection besides the usual connection options.
        var listed: [Substring] = []
        for (name, value) in headers where name.utf8.count == 10 && ASCII.equalsLowercased(name, "connection") {
            var rest = Substring(value)
            while !rest.isEmpty {
                let comma = rest.utf8.firstIndex(of: UInt8(ascii: ",")) ?? rest.endIndex
                let option = rest[..<comma].trimmingASCIISpaces()
                rest = comma == rest.endIndex ? "" : rest[rest.index(after: comma)...]
                if option.isEmpty || ASCII.equalsLowercased(option, "keep-alive") || ASCII.equalsLowercased(option, "close")
                    || ASCII.equalsLowercased(option, "upgrade")
                {
                    continue
                }
                if !isProtectedFromConnectionRemoval(option) { listed.append(option) }
            }
        }
        var kept = HTTPHeaders()
        kept.reserveCapacity(headers.count + 6)
        for (name, value) in headers where !isHopByHopName(name) {
            if !listed.isEmpty, listed.contains(where: { equalsIgnoringCase(name, $0) }) { continue }
            kept.add(name: name, value: value)
        }
        headers = kept
    }

    static func equalsIgnoringCase(_ a: String, _ b: Substring) -> Bool {
        a.utf8.count == b.utf8.count
            && zip(a.utf8, b.utf8).allSatisfy { x, y in
                (x >= 0x41 && x <= 0x5a ? x | 0x20 : x) == (y >= 0x41 && y <= 0x5a ? y | 0x20 : y)
            }
    }

    /// `Connection: host` must not let a client strip the fields routing and framing depend on.
    private static func isProtectedFromConnectionRemoval(_ name: Substring) -> Bool {
        ASCII.equalsLowercased(name, "host") || ASCII.equalsLowercased(name, "content-length")
            || ASCII.equalsLowercased(name, "x-request-id")
    }

    struct RequestContext {
        var requestID: String
        var clientAddress: String
        var peerIsTrustedProxy: Bool
        var isChunked: Bool
        var isWebSocketUpgrade: Bool
    }

    static func upstreamRequestHead(from head: HTTPRequestHead, _ c: RequestContext) -> HTTPRequestHead {
        let found = scan(head.headers)
        var headers = head.headers
        if found.hopByHop {
            stripHopByHop(&headers)
        } else {
            headers.reserveCapacity(headers.count + 6)
        }
        if found.expect { headers.remove(name: "expect") }  // Palisade answered 100-continue itself
        if c.isChunked { headers.add(name: "transfer-encoding", value: "chunked") }
        if c.isWebSocketUpgrade {
            headers.add(name: "connection", value: "upgrade")
            headers.add(name: "upgrade", value: "websocket")
        }
        if c.peerIsTrustedProxy {
            if found.forwarding, let previous = joinedValues(headers, "x-forwarded-for") {
                headers.replaceOrAdd(name: "x-forwarded-for", value: "\(previous), \(c.clientAddress)")
            } else {
                headers.add(name: "x-forwarded-for", value: c.clientAddress)
            }
            if !found.forwarding || !headers.contains(name: "x-forwarded-proto") {
                headers.add(name: "x-forwarded-proto", value: "http")
            }
            if !found.forwarding || !headers.contains(name: "x-forwarded-host"), let host = headers.first(name: "host") {
                headers.add(name: "x-forwarded-host", value: host)
            }
        } else {
            // An untrusted client's own forwarding fields are lies until proven otherwise.
            if found.forwarding {
                headers.remove(name: "x-forwarded-for")
                headers.remove(name: "x-forwarded-proto")
                headers.remove(name: "x-forwarded-host")
                headers.remove(name: "forwarded")
            }
            headers.add(name: "x-forwarded-for", value: c.clientAddress)
            headers.add(name: "x-forwarded-proto", value: "http")
            if let host = headers.first(name: "host") { headers.add(name: "x-forwarded-host", value: host) }
        }
        if found.requestID {
            headers.replaceOrAdd(name: "x-request-id", value: c.requestID)
        } else {
            headers.add(name: "x-request-id", value: c.requestID)
        }
        // HTTP/1.1 to the app always: keep-alive and chunked framing are then available.
        return HTTPRequestHead(version: .http1_1, method: head.method, uri: head.uri, headers: headers)
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
    ) -> (head: HTTPResponseHead, closeDelimited: Bool, chunked: Bool) {
        var headers = upstream.headers
        let found = scan(headers)
        if found.hopByHop {
            stripHopByHop(&headers)
        } else {
            headers.reserveCapacity(headers.count + c.extraHeaders.count + 2)
        }
        var closeDelimited = false
        var chunked = false
        var hasContentLength = found.contentLength
        let status = upstream.status.code
        let bodyless = c.requestMethod == .HEAD || status == 204 || status == 304 || (status >= 100 && status < 200)
        if hasContentLength && (status == 204 || (status >= 100 && status < 200)) {
            headers.remove(name: "content-length")
            hasContentLength = false
        }
        if !bodyless && !hasContentLength {
            // The app used chunked framing or ended its body by closing; re-frame for this client.
            if c.clientVersion == .http1_1 {
                headers.add(name: "transfer-encoding", value: "chunked")
                chunked = true
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
        if found.requestID {
            headers.replaceOrAdd(name: "x-request-id", value: c.requestID)
        } else {
            headers.add(name: "x-request-id", value: c.requestID)
        }
        return (HTTPResponseHead(version: c.clientVersion, status: upstream.status, headers: headers), closeDelimited, chunked)
    }
}
