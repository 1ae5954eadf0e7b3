import NIOCore

/// The chunked transfer coding (RFC 9112 7.1), for request bodies from clients and response
/// bodies from the app alike. Strict both ways: hexadecimal sizes only (no sign, prefix or
/// whitespace), extensions that are `;name` or `;name=token` or `;name="quoted"`, exactly CRLF
/// after each chunk, and trailer fields that are valid field lines, checked and then dropped
/// (forwarding them would need the same vetting as a head, and apps behind a sidecar rarely
/// read them).
struct ChunkedBodyDecoder {
    enum Event {
        case data(ByteBuffer)
        case end
    }

    enum Failure: Error, Equatable, CustomStringConvertible {
        /// A malformed chunk-size line, or one longer than `maxChunkLineBytes`.
        case chunkLine
        /// Chunk data not followed by CRLF (a chunk longer than its size).
        case chunkEnd
        /// A line ending in a bare LF.
        case lineEnding
        case trailer
        case trailersTooLarge

        var description: String {
            switch self {
            case .chunkLine: return "invalid chunk size line"
            case .chunkEnd: return "chunk not followed by CRLF"
            case .lineEnding: return "bare LF"
            case .trailer: return "invalid trailer field"
            case .trailersTooLarge: return "trailers too large"
            }
        }
    }

    private enum State {
        case size
        case data(remaining: Int)
        case dataEnd
        case trailers(bytesSeen: Int)
        case done
    }

    private var state = State.size
    let maxTrailerBytes: Int
    static let maxChunkLineBytes = 4096

    init(maxTrailerBytes: Int) {
        self.maxTrailerBytes = maxTrailerBytes
    }

    /// The next piece of the body, `.end` after the last chunk and its trailers, or nil when more
    /// bytes are needed.
    mutating func next(_ buffer: inout ByteBuffer) throws -> Event? {
        while true {
            switch state {
            case .done:
                return nil
            case .size:
                guard let line = try Self.readLine(&buffer, limit: Self.maxChunkLineBytes) else { return nil }
                let size = try Self.chunkSize(line)
                state = size == 0 ? .trailers(bytesSeen: 0) : .data(remaining: size)
            case .data(let remaining):
                guard buffer.readableBytes > 0 else { return nil }
                let n = min(remaining, buffer.readableBytes)
                state = remaining == n ? .dataEnd : .data(remaining: remaining - n)
                return .data(buffer.readSlice(length: n)!)
            case .dataEnd:
                guard buffer.readableBytes >= 2 else {
                    if buffer.readableBytes == 1, buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) != 0x0d {
                        throw Failure.chunkEnd
                    }
                    return nil
                }
                guard buffer.readInteger(as: UInt16.self) == 0x0d0a else { throw Failure.chunkEnd }
                state = .size
            case .trailers(let seen):
                let limit = maxTrailerBytes - seen
                guard limit > 0 else { throw Failure.trailersTooLarge }
                let line: ByteBuffer?
                do {
                    line = try Self.readLine(&buffer, limit: limit)
                } catch Failure.chunkLine {
                    throw Failure.trailersTooLarge
                }
                guard let line else { return nil }
                if line.readableBytes == 0 {
                    state = .done
                    return .end
                }
                let valid = line.withUnsafeReadableBytes { FieldBytes.split($0[...]) != nil }
                guard valid else { throw Failure.trailer }
                state = .trailers(bytesSeen: seen + line.readableBytes + 2)
            }
        }
    }

    /// One CRLF-terminated line without its CRLF, or nil until it has arrived.
    private static func readLine(_ buffer: inout ByteBuffer, limit: Int) throws -> ByteBuffer? {
        let found: Int? = try buffer.withUnsafeReadableBytes { bytes throws -> Int? in
            guard let lf = bytes.firstIndex(of: 0x0a) else { return nil }
            guard lf > 0, bytes[lf - 1] == 0x0d else { throw Failure.lineEnding }
            return lf
        }
        guard let lf = found else {
            if buffer.readableBytes > limit { throw Failure.chunkLine }
            return nil
        }
        guard lf <= limit else { throw Failure.chunkLine }
        let line = buffer.readSlice(length: lf - 1)!
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }

    /// `chunk-size [ chunk-ext ]` (RFC 9112 7.1): hex digits only, then extensions that are
    /// `;name` or `;name=token` or `;name="quoted"`, whitespace allowed only around `;` and `=`.
    static func chunkSize(_ line: ByteBuffer) throws -> Int {
        try line.withUnsafeReadableBytes { bytes throws -> Int in
            var i = 0
            var size = 0
            while i < bytes.count, let digit = hexValue(bytes[i]) {
                guard i < 15 else { throw Failure.chunkLine }
                size = size << 4 | digit
                i += 1
            }
            guard i > 0 else { throw Failure.chunkLine }
            try checkExtensions(bytes[i...])
            return size
        }
    }

    private static func checkExtensions(_ rest: UnsafeRawBufferPointer.SubSequence) throws {
        var i = rest.startIndex
        let end = rest.endIndex
        func skipWhitespace() { while i < end, rest[i] == 0x20 || rest[i] == 0x09 { i += 1 } }
        while i < end {
            skipWhitespace()
            guard i < end, rest[i] == UInt8(ascii: ";") else { throw Failure.chunkLine }
            i += 1
            skipWhitespace()
            let nameStart = i
            while i < end, HTTPToken.isTokenByte(rest[i]) { i += 1 }
            guard i > nameStart else { throw Failure.chunkLine }
            skipWhitespace()
            guard i < end, rest[i] == UInt8(ascii: "=") else { continue }
            i += 1
            skipWhitespace()
            if i < end, rest[i] == UInt8(ascii: "\"") {
                i += 1
                var closed = false
                while i < end {
                    let byte = rest[i]
                    if byte == UInt8(ascii: "\"") {
                        closed = true
                        i += 1
                        break
                    }
                    if byte == UInt8(ascii: "\\") { i += 1 }
                    guard i < end, rest[i] == 0x09 || (rest[i] >= 0x20 && rest[i] != 0x7f) else { throw Failure.chunkLine }
                    i += 1
                }
                guard closed else { throw Failure.chunkLine }
            } else {
                let valueStart = i
                while i < end, HTTPToken.isTokenByte(rest[i]) { i += 1 }
                guard i > valueStart else { throw Failure.chunkLine }
            }
        }
    }

    @inline(__always)
    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(byte - 0x30)
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(byte - 0x61 + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(byte - 0x41 + 10)
        default: return nil
        }
    }
}
