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

/// Runs of bytes that need no escape are copied whole; only the bytes between them are escaped
/// one by one (a JSON body is mostly such runs, its quotes the exceptions).
private func writeEscaped(_ bytes: UnsafeRawBufferPointer, into buffer: inout ByteBuffer) {
    var runStart = 0
    for index in 0..<bytes.count {
        let b = bytes[index]
        guard b < 0x20 || b == 0x22 || b == 0x5c || b == 0x7f else { continue }
        if index > runStart { buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[runStart..<index])) }
        switch b {
        case 0x22: buffer.writeStaticString("\\\"")
        case 0x5c: buffer.writeStaticString("\\\\")
        case 0x0a: buffer.writeStaticString("\\n")
        case 0x0d: buffer.writeStaticString("\\r")
        case 0x09: buffer.writeStaticString("\\t")
        default:
            buffer.writeStaticString("\\u00")
            buffer.writeInteger(hexDigits[Int(b >> 4)])
            buffer.writeInteger(hexDigits[Int(b & 0xf)])
        }
        runStart = index + 1
    }
    if bytes.count > runStart { buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[runStart...])) }
}

private let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

/// A JSON string literal for small documents built as text (admin answers).
enum JSONText {
    static func quoted<S: StringProtocol>(_ value: S) -> String {
        var buffer = ByteBuffer()
        writeJSONString(value, into: &buffer)
        return String(buffer: buffer)
    }
}
