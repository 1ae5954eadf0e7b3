import NIOCore
import NIOHTTP1

/// Encodes the request Palisade sends to the app, straight from the client's parsed head into
/// bytes: hop-by-hop fields (RFC 9110 7.6.1, including those named in `Connection`) and `Expect`
/// dropped, framing set explicitly, forwarding fields added. No intermediate HTTPHeaders copy.
enum RequestWriter {
    struct Context {
        var requestID: String
        var clientAddress: String
        var peerIsTrustedProxy: Bool
        var isChunked: Bool
        var isWebSocketUpgrade: Bool
        /// The validated length (`RequestValidator.Facts.contentLength`); sent as the one
        /// Content-Length value, however many equal values the client listed.
        var contentLength: Int? = nil
    }

    /// `target` is the origin-form target (absolute-form is rewritten); `defaultHost` is sent as
    /// Host when the client sent none (HTTP/1.0), since HTTP/1.1 requires one.
    static func head(
        _ head: HTTPRequestHead, target: String, defaultHost: String, _ c: Context, bodyHint: Int = 0,
        removals: [String] = [], additions: [(String, String)] = [], allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        var headBound = head.method.rawValue.utf8.count + target.utf8.count + 16
        var listed = NominatedFields()
        var previousForwardedFor: [String] = []
        var hasForwardedProto = false
        var hasForwardedHost = false
        var host: String?
        for (name, value) in head.headers {
            headBound += HeadBytes.fieldSize(name, value)
            switch name.utf8.count {
            case 4 where ASCII.equalsLowercased(name, "host"):
                host = value
            case 10 where ASCII.equalsLowercased(name, "connection"):
                collectConnectionOptions(value, into: &listed)
            case 15 where ASCII.equalsLowercased(name, "x-forwarded-for"):
                previousForwardedFor.append(value)
                headBound += value.utf8.count + 2
            case 16 where ASCII.equalsLowercased(name, "x-forwarded-host"):
                hasForwardedHost = true
            case 17 where ASCII.equalsLowercased(name, "x-forwarded-proto"):
                hasForwardedProto = true
            default:
                break
            }
        }
        headBound +=
            HeadBytes.fieldSize("host", defaultHost) + HeadBytes.fieldSize("x-forwarded-host", host ?? "")
            + HeadBytes.fieldSize("x-forwarded-for", c.clientAddress) + HeadBytes.fieldSize("x-request-id", c.requestID)
            + 128  // fixed lines: transfer-encoding, connection/upgrade, x-forwarded-proto, final CRLF
        for (name, value) in additions { headBound += HeadBytes.fieldSize(name, value) }
        // Room for a small body too: it is appended to this buffer and leaves in the same write.
        var out = allocator.buffer(capacity: headBound + min(bodyHint, 8 * 1024))
        out.writeHead(maxBytes: headBound) { w in
            w.append(head.method.rawValue)
            w.append(" ")
            w.append(target)
            // HTTP/1.1 to the app always: keep-alive and chunked framing are then available.
            w.append(" HTTP/1.1\r\n")
            var lengthWritten = false
            for (name, value) in head.headers {
                if shouldDrop(name, trusted: c.peerIsTrustedProxy) { continue }
                if !listed.isEmpty, listed.contains(name) { continue }
                if !removals.isEmpty, removals.contains(where: { HeaderNames.equalsIgnoringCase(name, $0) }) { continue }
                if name.utf8.count == 14, ASCII.equalsLowercased(name, "content-length") {
                    // `Content-Length: 3, 3` and repeated equal fields passed validation; an app
                    // (or a proxy behind it) may still refuse or misread a list, so it gets one value.
                    if lengthWritten { continue }
                    lengthWritten = true
                    if let length = c.contentLength, !isPlainDecimal(value) {
                        w.append(name)
                        w.append(": ")
                        w.append(decimal: length)
                        w.append("\r\n")
                        continue
                    }
                }
                w.appendField(name, value)
            }
            if host == nil { w.appendField("host", defaultHost) }
            if c.isChunked { w.append("transfer-encoding: chunked\r\n") }
            if c.isWebSocketUpgrade { w.append("connection: upgrade\r\nupgrade: websocket\r\n") }
            w.append("x-forwarded-for: ")
            if c.peerIsTrustedProxy && !previousForwardedFor.isEmpty {
                for previous in previousForwardedFor {
                    w.append(previous)
                    w.append(", ")
                }
            }
            w.append(c.clientAddress)
            w.append("\r\n")
            if !(c.peerIsTrustedProxy && hasForwardedProto) { w.append("x-forwarded-proto: http\r\n") }
            if !(c.peerIsTrustedProxy && hasForwardedHost), let host { w.appendField("x-forwarded-host", host) }
            for (name, value) in additions { w.appendField(name, value) }
            w.appendField("x-request-id", c.requestID)
            w.append("\r\n")
        }
        return out
    }

    /// Fields never passed on as the client sent them.
    @inline(__always)
    private static func shouldDrop(_ name: String, trusted: Bool) -> Bool {
        switch name.utf8.count {
        case 6: return ASCII.equalsLowercased(name, "expect")  // Palisade answered 100-continue itself
        case 9: return !trusted && ASCII.equalsLowercased(name, "forwarded")
        case 12: return ASCII.equalsLowercased(name, "x-request-id")
        case 15: return ASCII.equalsLowercased(name, "x-forwarded-for")  // rewritten below
        case 16:
            return ASCII.equalsLowercased(name, "proxy-connection")
                || (!trusted && ASCII.equalsLowercased(name, "x-forwarded-host"))
        case 17:
            return ASCII.equalsLowercased(name, "transfer-encoding")
                || (!trusted && ASCII.equalsLowercased(name, "x-forwarded-proto"))
        default:
            return HeaderNames.isHopByHop(name)
        }
    }

    /// True for a value of digits only: a single Content-Length that is already what the app should see.
    @inline(__always)
    private static func isPlainDecimal(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    /// Options listed in `Connection` that name fields to drop (RFC 9110 7.6.1). The fields
    /// routing, framing and tracing depend on cannot be named away. RequestValidator has already
    /// refused a head listing more than `NominatedFields.maxOptions` options.
    static func collectConnectionOptions(_ value: String, into result: inout NominatedFields) {
        ConnectionOptions.forEach(value) { option in
            if !(ASCII.equalsLowercased(option, "keep-alive") || ASCII.equalsLowercased(option, "close")
                || ASCII.equalsLowercased(option, "upgrade") || ASCII.equalsLowercased(option, "host")
                || ASCII.equalsLowercased(option, "content-length") || ASCII.equalsLowercased(option, "x-request-id"))
            {
                result.insert(option)
            }
            return true
        }
    }

    /// Frames one part of the request body as the head announced it.
    static func body(_ part: ByteBuffer, chunked: Bool, allocator: ByteBufferAllocator) -> (ByteBuffer, ByteBuffer?) {
        guard chunked else { return (part, nil) }
        var sizeLine = allocator.buffer(capacity: 12)
        sizeLine.writeString(String(part.readableBytes, radix: 16))
        sizeLine.writeStaticString("\r\n")
        return (sizeLine, part)
    }
}

/// Field-name tests shared by the request and response writers.
enum HeaderNames {
    @inline(__always)
    static func isHopByHop(_ name: String) -> Bool {
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

    static func equalsIgnoringCase<A: StringProtocol, B: StringProtocol>(_ a: A, _ b: B) -> Bool {
        a.utf8.count == b.utf8.count
            && zip(a.utf8, b.utf8).allSatisfy { x, y in
                (x >= 0x41 && x <= 0x5a ? x | 0x20 : x) == (y >= 0x41 && y <= 0x5a ? y | 0x20 : y)
            }
    }
}
