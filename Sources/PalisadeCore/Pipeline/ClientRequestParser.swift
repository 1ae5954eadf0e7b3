import NIOCore
import NIOHTTP1

/// A strict HTTP/1.1 request parser for the client side, run by `ExchangeHandler` on the bytes
/// it reads. It replaced NIO's `HTTPRequestDecoder` (llhttp behind a `ByteToMessageHandler`):
/// profiles showed that decoder, its callbacks and the extra handler hop at about a seventh of
/// Palisade's user time per request, and owning the parser lets the handler stop parsing at a
/// request boundary (pipelined bytes simply wait in the buffer) instead of queueing parts.
///
/// Everything ambiguous is an error, never a guess (RFC 9112): a line ending in anything but
/// CRLF, whitespace before a colon or at the start of a field line (obs-fold), a control
/// character in a field value, a method outside the registered set, a malformed version, a
/// chunk size line with a sign, a prefix, trailing whitespace or a bare `;`, a chunk not
/// followed by CRLF. Framing rules that need the whole head (Content-Length against
/// Transfer-Encoding, Host) are `RequestValidator`'s, checked before any body byte is parsed.
struct ClientRequestParser {
    enum Event {
        case head(HTTPRequestHead)
        case body(ByteBuffer)
        case end
    }

    private enum State {
        case head
        case fixed(remaining: Int)
        case chunked(ChunkedBodyDecoder)
        case endPending
        /// After a request that asks to switch protocols: what follows is not HTTP.
        case stopped
    }

    private var state = State.head
    private var stopAfterRequest = false
    /// How far the current head has been scanned for its end, so a head trickling in is not
    /// rescanned from its start on every read.
    private var headScanned = 0
    var maxHeadBytes: Int

    init(maxHeadBytes: Int) {
        self.maxHeadBytes = maxHeadBytes
    }

    /// The next event from `buffer`, or nil when more bytes are needed. Bytes are consumed only
    /// for the event returned.
    mutating func next(_ buffer: inout ByteBuffer) throws -> Event? {
        while true {
            switch state {
            case .stopped:
                return nil
            case .head:
                guard let head = try parseHead(&buffer) else { return nil }
                return .head(head)
            case .endPending:
                state = stopAfterRequest ? .stopped : .head
                stopAfterRequest = false
                return .end
            case .fixed(let remaining):
                guard buffer.readableBytes > 0 else { return nil }
                let n = min(remaining, buffer.readableBytes)
                state = remaining == n ? .endPending : .fixed(remaining: remaining - n)
                return .body(buffer.readSlice(length: n)!)
            case .chunked(var decoder):
                let event: ChunkedBodyDecoder.Event?
                do {
                    event = try decoder.next(&buffer)
                } catch let failure as ChunkedBodyDecoder.Failure {
                    throw failure == .lineEnding ? HTTPParserError.lfExpected : HTTPParserError.invalidChunkSize
                }
                state = .chunked(decoder)
                switch event {
                case nil: return nil
                case .data(let part): return .body(part)
                case .end: state = .endPending
                }
            }
        }
    }

    // MARK: head

    private mutating func parseHead(_ buffer: inout ByteBuffer) throws -> HTTPRequestHead? {
        // Empty lines before a request line are ignored (RFC 9112 2.2). A head cannot start with
        // CR, so a CRLF at the front is always such a line, however the bytes were split.
        while buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0d0a {
            buffer.moveReaderIndex(forwardBy: 2)
            headScanned = max(headScanned - 2, 0)
        }
        guard buffer.readableBytes > 0 else { return nil }
        let scanFrom = headScanned
        let found: Int? = try buffer.withUnsafeReadableBytes { bytes throws -> Int? in
            // Every LF must follow a CR, every CR precede an LF; an empty line ends the head.
            var i = max(scanFrom - 1, 0)
            let count = bytes.count
            while i < count {
                let byte = bytes[i]
                if byte == 0x0a {
                    guard i > 0, bytes[i - 1] == 0x0d else { throw HTTPParserError.lfExpected }
                    if i >= 3, bytes[i - 2] == 0x0a, bytes[i - 3] == 0x0d { return i + 1 }
                } else if byte == 0x0d, i + 1 < count, bytes[i + 1] != 0x0a {
                    throw HTTPParserError.lfExpected
                }
                i += 1
            }
            return nil
        }
        guard let headLength = found else {
            if buffer.readableBytes > maxHeadBytes { throw HTTPParserError.headerOverflow }
            headScanned = buffer.readableBytes
            return nil
        }
        guard headLength <= maxHeadBytes else { throw HTTPParserError.headerOverflow }
        headScanned = 0
        let head = try buffer.withUnsafeReadableBytes { bytes throws in
            try parseHeadBytes(UnsafeRawBufferPointer(rebasing: bytes[..<(headLength - 2)]))
        }
        buffer.moveReaderIndex(forwardBy: headLength)
        return head
    }

    /// `bytes` is the request line and field lines, each ending in CRLF (the empty line excluded).
    private mutating func parseHeadBytes(_ bytes: UnsafeRawBufferPointer) throws -> HTTPRequestHead {
        var lines = LineCursor(bytes: bytes)
        guard let requestLine = lines.next() else { throw HTTPParserError.invalidMethod }
        let (method, target, version) = try Self.requestLine(requestLine)

        // Most heads carry fewer than 16 fields: one allocation instead of growing from 1.
        var fields: [(String, String)] = []
        fields.reserveCapacity(16)
        var chunked = false
        var contentLength: Int?
        var upgrade = false
        var connectionUpgrade = false
        while let line = lines.next() {
            let (name, value) = try Self.field(line)
            let nameString = String(decoding: name, as: UTF8.self)
            let valueString = String(decoding: value, as: UTF8.self)
            switch name.count {
            case 17 where ASCII.equalsLowercased(nameString, "transfer-encoding"):
                // Whether it is exactly `chunked` is RequestValidator's call, made before the body.
                chunked = true
            case 14 where ASCII.equalsLowercased(nameString, "content-length"):
                if contentLength == nil { contentLength = Self.leadingDecimal(value) }
            case 7 where ASCII.equalsLowercased(nameString, "upgrade"):
                upgrade = true
            case 10 where ASCII.equalsLowercased(nameString, "connection"):
                if ConnectionOptions.contains(valueString, "upgrade") { connectionUpgrade = true }
            default:
                break
            }
            fields.append((nameString, valueString))
        }
        stopAfterRequest = upgrade && connectionUpgrade
        if chunked {
            // Trailers count against the same limit as the head.
            state = .chunked(ChunkedBodyDecoder(maxTrailerBytes: maxHeadBytes))
        } else if let contentLength, contentLength > 0 {
            state = .fixed(remaining: contentLength)
        } else {
            state = .endPending
        }
        return HTTPRequestHead(version: version, method: method, uri: target, headers: HTTPHeaders(fields))
    }

    private static func requestLine(
        _ line: UnsafeRawBufferPointer.SubSequence
    ) throws -> (HTTPMethod, String, HTTPVersion) {
        guard let firstSpace = line.firstIndex(of: 0x20) else { throw HTTPParserError.invalidMethod }
        let methodBytes = line[line.startIndex..<firstSpace]
        guard let method = KnownMethods.method(methodBytes) else { throw HTTPParserError.invalidMethod }
        let afterMethod = line[(firstSpace + 1)...]
        guard let secondSpace = afterMethod.firstIndex(of: 0x20) else { throw HTTPParserError.invalidURL }
        let targetBytes = afterMethod[afterMethod.startIndex..<secondSpace]
        // Visible ASCII only: no space, control character, DEL or raw non-ASCII byte.
        guard !targetBytes.isEmpty, targetBytes.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { throw HTTPParserError.invalidURL }
        let versionBytes = line[(secondSpace + 1)...]
        guard versionBytes.count == 8, versionBytes.starts(with: "HTTP/".utf8) else { throw HTTPParserError.invalidConstant }
        let major = versionBytes[versionBytes.startIndex + 5]
        let dot = versionBytes[versionBytes.startIndex + 6]
        let minor = versionBytes[versionBytes.startIndex + 7]
        guard dot == UInt8(ascii: "."), (0x30...0x39).contains(major), (0x30...0x39).contains(minor) else {
            throw HTTPParserError.invalidConstant
        }
        guard major == UInt8(ascii: "1"), minor == UInt8(ascii: "0") || minor == UInt8(ascii: "1") else {
            throw HTTPParserError.invalidVersion
        }
        let version: HTTPVersion = minor == UInt8(ascii: "1") ? .http1_1 : .http1_0
        return (method, String(decoding: targetBytes, as: UTF8.self), version)
    }

    /// One field line, split and checked (`FieldBytes.split`).
    static func field(
        _ line: UnsafeRawBufferPointer.SubSequence
    ) throws -> (UnsafeRawBufferPointer.SubSequence, UnsafeRawBufferPointer.SubSequence) {
        guard let parts = FieldBytes.split(line) else { throw HTTPParserError.invalidHeaderToken }
        return parts
    }

    /// The number a Content-Length value starts with; RequestValidator checks the whole value.
    private static func leadingDecimal(_ value: UnsafeRawBufferPointer.SubSequence) -> Int? {
        var result = 0
        var digits = 0
        for byte in value {
            guard byte >= 0x30 && byte <= 0x39 else { break }
            guard digits < 18 else { return nil }
            result = result * 10 + Int(byte - 0x30)
            digits += 1
        }
        return digits > 0 ? result : nil
    }
}

/// Splits a head into CRLF-terminated lines (the parser has already checked every line ending).
private struct LineCursor {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    mutating func next() -> UnsafeRawBufferPointer.SubSequence? {
        guard position < bytes.count else { return nil }
        let rest = bytes[position...]
        let cr = rest.firstIndex(of: 0x0d) ?? bytes.count
        defer { position = cr + 2 }
        return bytes[position..<cr]
    }
}

/// The methods Palisade forwards: those NIO names (the IANA registry's common ones). Anything
/// else is refused with 400 before routing, as an unknown method is more often a desync probe
/// than a real client.
enum KnownMethods {
    private static let table: [String: HTTPMethod] = {
        let methods: [HTTPMethod] = [
            .GET, .PUT, .ACL, .HEAD, .POST, .COPY, .LOCK, .MOVE, .BIND, .LINK, .PATCH, .TRACE, .MKCOL, .MERGE,
            .PURGE, .NOTIFY, .SEARCH, .UNLOCK, .REBIND, .UNBIND, .REPORT, .DELETE, .UNLINK, .CONNECT, .MSEARCH,
            .OPTIONS, .PROPFIND, .CHECKOUT, .PROPPATCH, .SUBSCRIBE, .MKCALENDAR, .MKACTIVITY, .UNSUBSCRIBE, .SOURCE,
        ]
        return Dictionary(uniqueKeysWithValues: methods.map { ($0.rawValue, $0) })
    }()

    static func method(_ bytes: UnsafeRawBufferPointer.SubSequence) -> HTTPMethod? {
        switch bytes.count {
        case 3 where bytes.elementsEqual("GET".utf8): return .GET
        case 4 where bytes.elementsEqual("POST".utf8): return .POST
        case 3 where bytes.elementsEqual("PUT".utf8): return .PUT
        case 4 where bytes.elementsEqual("HEAD".utf8): return .HEAD
        case 6 where bytes.elementsEqual("DELETE".utf8): return .DELETE
        default:
            guard bytes.count <= 16, bytes.allSatisfy(HTTPToken.isTokenByte) else { return nil }
            return table[String(decoding: bytes, as: UTF8.self)]
        }
    }
}
