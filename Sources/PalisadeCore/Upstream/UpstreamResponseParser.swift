import NIOCore

/// What Palisade needs to know about the app's response head. The header block itself stays as
/// the bytes the app sent (`headerBlock`), so forwarding it costs no String per field.
struct UpstreamResponseHead {
    var status: Int
    /// Reason phrase bytes as sent (may be empty).
    var reason: ByteBuffer
    var isHTTP11: Bool
    /// Header lines, each ending in CRLF, without the final empty line.
    var headerBlock: ByteBuffer
    var contentLength: Int?
    var chunked: Bool
    /// The app asked to close (or spoke HTTP/1.0 without keep-alive).
    var connectionClose: Bool
    /// Field names the app listed in `Connection` (beyond close/keep-alive/upgrade), lower-case.
    var connectionListed: [String]
    /// The body ends when the app closes the connection.
    var delimitedByClose: Bool
    var hasBody: Bool
    /// Lines of `headerBlock` never forwarded whatever the policy says (hop-by-hop fields, the
    /// app's X-Request-ID, Content-Length on a 1xx/204), found while parsing so the response
    /// writer need not walk the block a second time.
    var droppedLines = LineRanges()
    /// Which field names the app may have sent, so that fields Palisade adds (the policy's
    /// `response_headers`, a rate limit's `RateLimit`) replace the app's own without a second
    /// walk over the block when the app sent none of them, the common case.
    var fieldNames = FieldNameFilter()
}

/// A one-word Bloom filter over header field names, case-insensitive: `mayContain` is false only
/// for a name that is certainly absent; true means "walk the lines to be sure".
struct FieldNameFilter {
    private var bits: UInt64 = 0

    mutating func insert(_ name: HeaderLines.Bytes) {
        guard let first = name.first, let last = name.last else { return }
        bits |= Self.bit(first: first, last: last, count: name.count)
    }

    func mayContain(_ name: String) -> Bool {
        let utf8 = name.utf8
        guard let first = utf8.first, let last = utf8.last else { return false }
        return bits & Self.bit(first: first, last: last, count: utf8.count) != 0
    }

    private static func bit(first: UInt8, last: UInt8, count: Int) -> UInt64 {
        let hash = UInt(first | 0x20) &* 31 &+ UInt(last | 0x20) &* 7 &+ UInt(bitPattern: count)
        return 1 << UInt64(hash & 63)
    }
}

/// Up to four byte ranges kept inline (no allocation); more than that is only flagged, and the
/// reader falls back to walking the lines itself.
struct LineRanges {
    private var storage: (Range<Int>, Range<Int>, Range<Int>, Range<Int>) = (0..<0, 0..<0, 0..<0, 0..<0)
    private(set) var count = 0
    private(set) var overflowed = false

    mutating func append(_ range: Range<Int>) {
        switch count {
        case 0: storage.0 = range
        case 1: storage.1 = range
        case 2: storage.2 = range
        case 3: storage.3 = range
        default:
            overflowed = true
            return
        }
        count += 1
    }

    func forEach(_ body: (Range<Int>) -> Void) {
        if count > 0 { body(storage.0) }
        if count > 1 { body(storage.1) }
        if count > 2 { body(storage.2) }
        if count > 3 { body(storage.3) }
    }
}

/// A strict, allocation-light HTTP/1.1 response parser for the app side of the proxy. The app is
/// trusted more than clients, but a confused or hostile app must still never be able to make
/// Palisade mis-frame a response, so everything ambiguous is an error (502), never a guess:
/// obs-fold, bad field names, control characters, conflicting Content-Lengths, codings other
/// than chunked, malformed chunk lines.
struct UpstreamResponseParser {
    enum Event {
        case head(UpstreamResponseHead)
        case body(ByteBuffer)
        case end
    }

    enum ParseError: Error {
        case malformed(String)
        case headTooLarge
    }

    private enum State {
        case head
        case fixed(remaining: Int)
        case chunked(ChunkedBodyDecoder)
        case untilClose
        case upgraded
        case endPending
        case idle
    }

    private var state: State = .idle
    private var responseToHead = false
    static let maxHeadBytes = 64 * 1024

    /// Arms the parser for the response to one request.
    mutating func expectResponse(toHEAD: Bool) {
        state = .head
        responseToHead = toHEAD
    }

    var isIdle: Bool { if case .idle = state { return true } else { return false } }
    var isUpgraded: Bool { if case .upgraded = state { return true } else { return false } }

    /// The next event from `buffer`, or nil when more bytes are needed (or the connection was
    /// upgraded; the bytes left in `buffer` then belong to the tunnel). One event per call, so
    /// whoever handles it may touch the connection again without overlapping this parser's access.
    mutating func next(_ buffer: inout ByteBuffer) throws -> Event? {
        while true {
            switch state {
            case .idle:
                if buffer.readableBytes == 0 { return nil }
                throw ParseError.malformed("bytes from the app with no request outstanding")
            case .upgraded:
                return nil
            case .head:
                guard buffer.readableBytes > 0, let head = try parseHead(&buffer) else { return nil }
                if head.status >= 100 && head.status < 200 && head.status != 101 {
                    continue  // interim response: dropped, the final one follows
                }
                if head.status == 101 {
                    state = .upgraded
                } else if !head.hasBody {
                    state = .endPending
                } else if head.chunked {
                    state = .chunked(ChunkedBodyDecoder(maxTrailerBytes: 16 * 1024))
                } else if let length = head.contentLength {
                    state = length == 0 ? .endPending : .fixed(remaining: length)
                } else {
                    state = .untilClose
                }
                return .head(head)
            case .endPending:
                state = .idle
                return .end
            case .fixed(let remaining):
                guard buffer.readableBytes > 0 else { return nil }
                let n = min(remaining, buffer.readableBytes)
                state = remaining == n ? .endPending : .fixed(remaining: remaining - n)
                return .body(buffer.readSlice(length: n)!)
            case .untilClose:
                guard buffer.readableBytes > 0 else { return nil }
                return .body(buffer.readSlice(length: buffer.readableBytes)!)
            case .chunked(var decoder):
                let event: ChunkedBodyDecoder.Event?
                do {
                    event = try decoder.next(&buffer)
                } catch {
                    throw ParseError.malformed("\(error)")
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

    /// Called when the app closes; returns true when that close completed the response.
    mutating func connectionClosed() -> Bool {
        if case .untilClose = state {
            state = .idle
            return true
        }
        return false
    }

    private mutating func parseHead(_ buffer: inout ByteBuffer) throws -> UpstreamResponseHead? {
        // Find CRLFCRLF (offset from the reader index).
        let end: Int? = buffer.withUnsafeReadableBytes { view in
            var i = 0
            let last = view.count
            while i + 3 < last {
                if view[i + 3] != 0x0a {
                    i += view[i + 3] == 0x0d ? 1 : 4
                    continue
                }
                if view[i] == 0x0d && view[i + 1] == 0x0a && view[i + 2] == 0x0d { return i }
                i += 1
            }
            return nil
        }
        guard let headLength = end else {
            if buffer.readableBytes > Self.maxHeadBytes { throw ParseError.headTooLarge }
            return nil
        }
        guard headLength <= Self.maxHeadBytes else { throw ParseError.headTooLarge }
        // The head with the CRLF of its last line; the empty line after it is skipped.
        var head = buffer.readSlice(length: headLength + 2)!
        buffer.moveReaderIndex(forwardBy: 2)

        // Status line: HTTP/1.x SP 3DIGIT [SP reason]
        guard let lineEnd = head.withUnsafeReadableBytes({ $0.firstIndex(of: 0x0d) }) else {
            throw ParseError.malformed("no status line")
        }
        var statusLine = head.readSlice(length: lineEnd)!
        head.moveReaderIndex(forwardBy: 2)
        guard statusLine.readableBytes >= 12, let version = statusLine.readString(length: 8),
            version == "HTTP/1.1" || version == "HTTP/1.0", statusLine.readInteger(as: UInt8.self) == 0x20
        else { throw ParseError.malformed("bad status line") }
        var status = 0
        for _ in 0..<3 {
            guard let digit = statusLine.readInteger(as: UInt8.self), digit >= 0x30, digit <= 0x39 else {
                throw ParseError.malformed("bad status code")
            }
            status = status * 10 + Int(digit - 0x30)
        }
        guard status >= 100 else { throw ParseError.malformed("bad status code") }
        if statusLine.readableBytes > 0 {
            guard statusLine.readInteger(as: UInt8.self) == 0x20 else { throw ParseError.malformed("bad status line") }
        }
        guard statusLine.withUnsafeReadableBytes({ $0.allSatisfy { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7f) } }) else {
            throw ParseError.malformed("bad reason phrase")
        }
        let isHTTP11 = version == "HTTP/1.1"

        var info = UpstreamResponseHead(
            status: status, reason: statusLine, isHTTP11: isHTTP11, headerBlock: head, contentLength: nil,
            chunked: false, connectionClose: !isHTTP11, connectionListed: [], delimitedByClose: false, hasBody: true
        )
        var sawTransferEncoding = false
        let dropLength = status == 204 || (status >= 100 && status < 200)
        try HeaderLines.forEach(in: head) { name, value in
            info.fieldNames.insert(name)
            if HeaderLines.isHopByHop(name) || (name.count == 12 && HeaderLines.equals(name, "x-request-id"))
                || (dropLength && name.count == 14 && HeaderLines.equals(name, "content-length"))
            {
                info.droppedLines.append(name.startIndex..<(value.endIndex + 2))
            }
            switch name.count {
            case 14 where HeaderLines.equals(name, "content-length"):
                var length = 0
                var digits = 0
                for byte in HeaderLines.trimmed(value) {
                    guard byte >= 0x30 && byte <= 0x39, digits < 18 else {
                        throw ParseError.malformed("invalid Content-Length")
                    }
                    length = length * 10 + Int(byte - 0x30)
                    digits += 1
                }
                guard digits > 0 else { throw ParseError.malformed("invalid Content-Length") }
                if let existing = info.contentLength, existing != length {
                    throw ParseError.malformed("conflicting Content-Length")
                }
                info.contentLength = length
            case 17 where HeaderLines.equals(name, "transfer-encoding"):
                sawTransferEncoding = true
                let coding = HeaderLines.trimmed(value)
                guard coding.count == 7, HeaderLines.equals(coding, "chunked") else {
                    throw ParseError.malformed("unsupported Transfer-Encoding")
                }
                guard !info.chunked else { throw ParseError.malformed("repeated Transfer-Encoding") }
                info.chunked = true
            case 10 where HeaderLines.equals(name, "connection"):
                HeaderLines.forEachToken(value) { option in
                    if HeaderLines.equals(option, "close") {
                        info.connectionClose = true
                    } else if HeaderLines.equals(option, "keep-alive") {
                        if !isHTTP11 { info.connectionClose = false }
                    } else if !HeaderLines.equals(option, "upgrade") {
                        info.connectionListed.append(String(decoding: option, as: UTF8.self).lowercased())
                    }
                }
                // Every listed name is compared with every field of the answer: past the cap a
                // broken or hostile app would make that quadratic, so its answer is refused (502).
                if info.connectionListed.count > NominatedFields.maxOptions {
                    throw ParseError.malformed("too many Connection options")
                }
            default:
                break
            }
        }
        if sawTransferEncoding && info.contentLength != nil {
            throw ParseError.malformed("both Content-Length and Transfer-Encoding")
        }
        if responseToHead || status == 204 || status == 304 || (status >= 100 && status < 200) {
            info.hasBody = false
        } else if !info.chunked && info.contentLength == nil {
            info.delimitedByClose = true
            info.connectionClose = true
        }
        return info
    }
}

/// Walks a raw header block (`name: value CRLF` lines) with byte views, validating as it goes.
enum HeaderLines {
    /// Slices of the block's memory: valid only inside `forEach`'s callback.
    typealias Bytes = Slice<UnsafeRawBufferPointer>

    static func forEach(in block: ByteBuffer, _ body: (Bytes, Bytes) throws -> Void) throws {
        try block.withUnsafeReadableBytes { view in try forEach(view, body) }
    }

    static func forEach(_ view: UnsafeRawBufferPointer, _ body: (Bytes, Bytes) throws -> Void) throws {
        // One pass per line: token bytes up to the colon, value bytes up to CRLF.
        var i = view.startIndex
        let end = view.endIndex
        while i < end {
            let lineStart = i
            i = FieldBytes.endOfToken(view, from: i, to: end)
            guard i > lineStart, i < end, view[i] == UInt8(ascii: ":") else {
                let first = view[lineStart]
                let problem =
                    first == 0x20 || first == 0x09 || first == 0x0d
                    ? "obs-fold or empty field line" : i == lineStart ? "field line without name" : "invalid field name"
                throw UpstreamResponseParser.ParseError.malformed(problem)
            }
            let name = view[lineStart..<i]
            let valueStart = i + 1
            i = FieldBytes.endOfValue(view, from: valueStart, to: end)
            guard i + 1 < end, view[i] == 0x0d, view[i + 1] == 0x0a else {
                throw UpstreamResponseParser.ParseError.malformed(
                    i < end && view[i] != 0x0d ? "invalid field value" : "header line without CRLF"
                )
            }
            try body(name, view[valueStart..<i])
            i += 2
        }
    }

    /// Case-insensitive comparison with a lower-case ASCII literal.
    @inline(__always)
    static func equals(_ bytes: Bytes, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        return lowercase.withUTF8Buffer { expected in
            var i = 0
            for b in bytes {
                if ((b >= 0x41 && b <= 0x5a) ? b | 0x20 : b) != expected[i] { return false }
                i += 1
            }
            return true
        }
    }

    /// Case-insensitive comparison with a lower-case String.
    static func equals(_ bytes: Bytes, ignoringCase lowercase: String) -> Bool {
        guard bytes.count == lowercase.utf8.count else { return false }
        return zip(bytes, lowercase.utf8).allSatisfy { b, e in ((b >= 0x41 && b <= 0x5a) ? b | 0x20 : b) == e }
    }

    static func trimmed(_ value: Bytes) -> Bytes {
        var v = value
        while let f = v.first, f == 0x20 || f == 0x09 { v = v.dropFirst() }
        while let l = v.last, l == 0x20 || l == 0x09 { v = v.dropLast() }
        return v
    }

    /// Calls `body` with each comma-separated token of a field value, trimmed, empty ones skipped.
    static func forEachToken(_ value: Bytes, _ body: (Bytes) -> Void) {
        var start = value.startIndex
        while start < value.endIndex {
            let comma = value[start...].firstIndex(of: UInt8(ascii: ",")) ?? value.endIndex
            let token = trimmed(value[start..<comma])
            if !token.isEmpty { body(token) }
            start = comma == value.endIndex ? comma : value.index(after: comma)
        }
    }

    /// Whether a response field is hop-by-hop and must not be forwarded.
    static func isHopByHop(_ name: Bytes) -> Bool {
        switch name.count {
        case 2: return equals(name, "te")
        case 7: return equals(name, "trailer") || equals(name, "upgrade")
        case 10: return equals(name, "connection") || equals(name, "keep-alive")
        case 16: return equals(name, "proxy-connection")
        case 17: return equals(name, "transfer-encoding")
        case 18: return equals(name, "proxy-authenticate")
        case 19: return equals(name, "proxy-authorization")
        default: return false
        }
    }
}
