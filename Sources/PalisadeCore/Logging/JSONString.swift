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
/// one by one (a JSON body is mostly such runs, its quotes the exceptions). The worst case (every
/// byte a control character, six bytes each) is reserved once, and the output is written through
/// a pointer: no capacity or uniqueness check per run.
private func writeEscaped(_ bytes: UnsafeRawBufferPointer, into buffer: inout ByteBuffer) {
    guard let source = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count > 0 else { return }
    let count = bytes.count
    let table = jsonEscapeClass
    let digits = hexDigits
    buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count * 6) { target in
        let out = target.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var written = 0
        var runStart = 0
        var index = 0
        while index < count {
            let b = source[index]
            guard table[Int(b)] != 0 else {
                index += 1
                continue
            }
            if index > runStart {
                (out + written).update(from: source + runStart, count: index - runStart)
                written += index - runStart
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
                out[written + 4] = digits[Int(b >> 4)]
                out[written + 5] = digits[Int(b & 0xf)]
                written += 6
            }
            index += 1
            runStart = index
        }
        if count > runStart {
            (out + written).update(from: source + runStart, count: count - runStart)
            written += count - runStart
        }
        return written
    }
}

/// 1 for the bytes a JSON string cannot hold as they are: controls, `"`, `\` and DEL.
private let jsonEscapeClass: [UInt8] = (0..<256).map { $0 < 0x20 || $0 == 0x22 || $0 == 0x5c || $0 == 0x7f ? 1 : 0 }

private let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

/// A JSON string literal for small documents built as text (admin answers).
enum JSONText {
    static func quoted<S: StringProtocol>(_ value: S) -> String {
        var buffer = ByteBuffer()
        writeJSONString(value, into: &buffer)
        return String(buffer: buffer)
    }
}
