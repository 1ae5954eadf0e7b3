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
    }

    /// `target` is the origin-form target (absolute-form is rewritten); `defaultHost` is sent as
    /// Host when the client sent none (HTTP/1.0), since HTTP/1.1 requires one.
    static func head(
        _ head: HTTPRequestHead, target: String, defaultHost: String, _ c: Context, bodyHint: Int = 0,
        removals: [String] = [], additions: [(String, String)] = [], allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        // Room for a small body too: it is appended to this buffer and leaves in the same write.
        var size = head.uri.utf8.count + 160 + c.requestID.utf8.count + c.clientAddress.utf8.count
            + min(bodyHint, 8 * 1024) + 16
        var listed: [Substring] = []
        var previousForwardedFor: [String] = []
        var hasForwardedProto = false
        var hasForwardedHost = false
        var host: String?
        for (name, value) in head.headers {
            size += name.utf8.count + value.utf8.count + 4
            switch name.utf8.count {
            case 4 where ASCII.equalsLowercased(name, "host"):
                host = value
            case 10 where ASCII.equalsLowercased(name, "connection"):
                listed += connectionOptions(value)
            case 15 where ASCII.equalsLowercased(name, "x-forwarded-for"):
                previousForwardedFor.append(value)
            case 16 where ASCII.equalsLowercased(name, "x-forwarded-host"):
                hasForwardedHost = true
            case 17 where ASCII.equalsLowercased(name, "x-forwarded-proto"):
                hasForwardedProto = true
            default:
                break
            }
        }
        var out = allocator.buffer(capacity: size)
        out.writeString(head.method.rawValue)
        out.writeStaticString(" ")
        out.writeString(target)
        // HTTP/1.1 to the app always: keep-alive and chunked framing are then available.
        out.writeStaticString(" HTTP/1.1\r\n")
        for (name, value) in head.headers {
            if shouldDrop(name, trusted: c.peerIsTrustedProxy) { continue }
            if !listed.isEmpty, listed.contains(where: { HeaderNames.equalsIgnoringCase(name, $0) }) { continue }
            if !removals.isEmpty, removals.contains(where: { HeaderNames.equalsIgnoringCase(name, $0) }) { continue }
            writeField(name, value, into: &out)
        }
        if host == nil { writeField("host", defaultHost, into: &out) }
        if c.isChunked { out.writeStaticString("transfer-encoding: chunked\r\n") }
        if c.isWebSocketUpgrade { out.writeStaticString("connection: upgrade\r\nupgrade: websocket\r\n") }
        out.writeStaticString("x-forwarded-for: ")
        if c.peerIsTrustedProxy && !previousForwardedFor.isEmpty {
            for previous in previousForwardedFor {
                out.writeString(previous)
                out.writeStaticString(", ")
            }
        }
        out.writeString(c.clientAddress)
        out.writeStaticString("\r\n")
        if !(c.peerIsTrustedProxy && hasForwardedProto) { out.writeStaticString("x-forwarded-proto: http\r\n") }
        if !(c.peerIsTrustedProxy && hasForwardedHost), let host { writeField("x-forwarded-host", host, into: &out) }
        for (name, value) in additions { writeField(name, value, into: &out) }
        writeField("x-request-id", c.requestID, into: &out)
        out.writeStaticString("\r\n")
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

    /// Options listed in `Connection` that name fields to drop (RFC 9110 7.6.1). The fields
    /// routing, framing and tracing depend on cannot be named away.
    static func connectionOptions(_ value: String) -> [Substring] {
        var result: [Substring] = []
        var rest = Substring(value)
        while !rest.isEmpty {
            let comma = rest.utf8.firstIndex(of: UInt8(ascii: ",")) ?? rest.endIndex
            let option = rest[..<comma].trimmingASCIISpaces()
            rest = comma == rest.endIndex ? "" : rest[rest.index(after: comma)...]
            if option.isEmpty || ASCII.equalsLowercased(option, "keep-alive") || ASCII.equalsLowercased(option, "close")
                || ASCII.equalsLowercased(option, "upgrade") || ASCII.equalsLowercased(option, "host")
                || ASCII.equalsLowercased(option, "content-length") || ASCII.equalsLowercased(option, "x-request-id")
            {
                continue
            }
            result.append(option)
        }
        return result
    }

    @inline(__always)
    static func writeField(_ name: String, _ value: String, into out: inout ByteBuffer) {
        out.writeString(name)
        out.writeStaticString(": ")
        out.writeString(value)
        out.writeStaticString("\r\n")
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
