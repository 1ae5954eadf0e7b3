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

/// Byte by byte through a pointer: the worst case (every byte a control character, six bytes
/// each) is reserved once, so no byte pays a capacity or uniqueness check. Copying runs with
/// memcpy was slower on the text logged here: a JSON body's runs between quotes are a few bytes
/// long, and a call per run cost more than the loop.
private func writeEscaped(_ bytes: UnsafeRawBufferPointer, into buffer: inout ByteBuffer) {
    guard let source = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count > 0 else { return }
    let count = bytes.count
    buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count * 6) { target in
        let out = target.baseAddress!.assumingMemoryBound(to: UInt8.self)
        return jsonEscapeClass.withUnsafeBufferPointer { table in
            var written = 0
            for index in 0..<count {
                let b = source[index]
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
}

@inline(__always)
private func hexDigit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 0x30 + nibble : 0x57 + nibble }

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
