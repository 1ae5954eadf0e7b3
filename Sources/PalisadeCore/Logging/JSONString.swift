import NIOCore

/// JSON string escaping (RFC 8259): quotes, backslash and control characters; everything else as is.
func writeJSONString<S: StringProtocol>(_ value: S, into buffer: inout ByteBuffer) {
    writeJSONString(bytes: value.utf8, into: &buffer)
}

/// The same for text held as bytes (a masked value).
func writeJSONString<Bytes: Collection<UInt8>>(bytes value: Bytes, into buffer: inout ByteBuffer) {
    buffer.writeStaticString("\"")
    var needsEscape = false
    for b in value where b < 0x20 || b == 0x22 || b == 0x5c || b == 0x7f {
        needsEscape = true
        break
    }
    if !needsEscape {
        // Straight from the string's own storage: a Substring is not copied into a String first.
        buffer.writeBytes(value)
    } else {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        for b in value {
            switch b {
            case 0x22: buffer.writeStaticString("\\\"")
            case 0x5c: buffer.writeStaticString("\\\\")
            case 0x0a: buffer.writeStaticString("\\n")
            case 0x0d: buffer.writeStaticString("\\r")
            case 0x09: buffer.writeStaticString("\\t")
            case 0..<0x20, 0x7f:
                buffer.writeStaticString("\\u00")
                buffer.writeInteger(hex[Int(b >> 4)])
                buffer.writeInteger(hex[Int(b & 0xf)])
            default: buffer.writeInteger(b)
            }
        }
    }
    buffer.writeStaticString("\"")
}

/// A JSON string literal for small documents built as text (admin answers).
enum JSONText {
    static func quoted<S: StringProtocol>(_ value: S) -> String {
        var buffer = ByteBuffer()
        writeJSONString(value, into: &buffer)
        return String(buffer: buffer)
    }
}
