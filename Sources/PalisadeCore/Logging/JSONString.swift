import NIOCore

/// JSON string escaping (RFC 8259): quotes, backslash and control characters; everything else as is.
func writeJSONString<S: StringProtocol>(_ value: S, into buffer: inout ByteBuffer) {
    writeJSONString(bytes: value.utf8, into: &buffer)
}

/// The same for text held as bytes (a masked value).
func writeJSONString<Bytes: Collection<UInt8>>(bytes value: Bytes, into buffer: inout ByteBuffer) {
    buffer.writeStaticString("\"")
    let contiguous = value.withContiguousStorageIfAvailable { bytes -> Bool in
        writeEscaped(UnsafeRawBufferPointer(bytes), into: &buffer)
        return true
    }
    if contiguous == nil { writeEscaped(Array(value), into: &buffer) }
    buffer.writeStaticString("\"")
}

private func writeEscaped(_ bytes: [UInt8], into buffer: inout ByteBuffer) {
    bytes.withUnsafeBytes { writeEscaped($0, into: &buffer) }
}

private func writeEscaped(_ bytes: UnsafeRawBufferPointer, into buffer: inout ByteBuffer) {
    guard bytes.count > 0 else { return }
    let source = bytes.assumingMemoryBound(to: UInt8.self)
    buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: bytes.count * JSONEscaping.maxGrowth) { target in
        JSONEscaping.escape(source, to: target.baseAddress!.assumingMemoryBound(to: UInt8.self))
    }
}

/// JSON string escaping, the one implementation behind every JSON text Palisade writes (access
/// lines, security events, masked bodies): `"`, `\`, controls and DEL escaped, the rest as is.
enum JSONEscaping {
    /// The most one input byte becomes (`\u00XX`).
    static let maxGrowth = 6

    /// Writes `source` escaped to `out`, which has room for `maxGrowth` bytes per input byte;
    /// answers how many it wrote. Byte by byte through a pointer, so no byte pays a capacity or
    /// uniqueness check; copying runs with memcpy was slower on the text logged here, as a JSON
    /// body's runs between quotes are a few bytes long and a call per run cost more than the loop.
    static func escape(_ source: UnsafeBufferPointer<UInt8>, to out: UnsafeMutablePointer<UInt8>) -> Int {
        jsonEscapeClass.withUnsafeBufferPointer { table in
            var written = 0
            for b in source {
                if table[Int(b)] == 0 {
                    out[written] = b
                    written += 1
                    continue
                }
                out[written] = 0x5c
                switch b {
                case 0x22, 0x5c:
                    out[written + 1] = b
                    written += 2
                case 0x0a:
                    out[written + 1] = UInt8(ascii: "n")
                    written += 2
                case 0x0d:
                    out[written + 1] = UInt8(ascii: "r")
                    written += 2
                case 0x09:
                    out[written + 1] = UInt8(ascii: "t")
                    written += 2
                default:
                    out[written + 1] = UInt8(ascii: "u")
                    out[written + 2] = UInt8(ascii: "0")
                    out[written + 3] = UInt8(ascii: "0")
                    out[written + 4] = hexDigit(b >> 4)
                    out[written + 5] = hexDigit(b & 0xf)
                    written += 6
                }
            }
            return written
        }
    }

    /// `source` escaped, appended to `out`.
    static func append(_ source: [UInt8], to out: inout [UInt8]) {
        source.withUnsafeBufferPointer { s in
            guard s.count > 0 else { return }
            let escaped = [UInt8](unsafeUninitializedCapacity: s.count * maxGrowth) { buffer, count in
                count = escape(s, to: buffer.baseAddress!)
            }
            out.append(contentsOf: escaped)
        }
    }

    @inline(__always)
    private static func hexDigit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 0x30 + nibble : 0x57 + nibble }
}

/// 1 for the bytes a JSON string cannot hold as they are: controls, `"`, `\` and DEL.
private let jsonEscapeClass: [UInt8] = (0..<256).map { $0 < 0x20 || $0 == 0x22 || $0 == 0x5c || $0 == 0x7f ? 1 : 0 }

/// A JSON string literal for small documents built as text (admin answers).
enum JSONText {
    static func quoted<S: StringProtocol>(_ value: S) -> String {
        var buffer = ByteBuffer()
        writeJSONString(value, into: &buffer)
        return String(buffer: buffer)
    }
}
