import NIOCore

/// Copies the pieces of a message head into memory reserved once in a ByteBuffer.
///
/// A head is a few dozen short pieces; writing each through ByteBuffer's API costs a capacity
/// check, a uniqueness check and an exclusivity check per piece, which profiles showed as a
/// visible share of the request path. Here the writer sums an upper bound first, reserves it,
/// and every piece is a bounds-checked memcpy.
struct HeadBytes {
    private let base: UnsafeMutableRawPointer
    private let capacity: Int
    private(set) var count = 0

    fileprivate init(_ buffer: UnsafeMutableRawBufferPointer) {
        base = buffer.baseAddress!
        capacity = buffer.count
    }

    @inline(__always)
    mutating func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    @inline(__always)
    mutating func append(_ text: String) {
        let copied: Void? = text.utf8.withContiguousStorageIfAvailable { append(UnsafeRawBufferPointer($0)) }
        if copied == nil { Array(text.utf8).withUnsafeBytes { append($0) } }
    }

    @inline(__always)
    mutating func append(_ text: Substring) {
        let copied: Void? = text.utf8.withContiguousStorageIfAvailable { append(UnsafeRawBufferPointer($0)) }
        if copied == nil { append(String(text)) }
    }

    @inline(__always)
    mutating func append(_ bytes: Slice<UnsafeRawBufferPointer>) {
        append(UnsafeRawBufferPointer(rebasing: bytes))
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        // The bound is computed by the caller; overrunning it would be a bug in that sum.
        precondition(count + n <= capacity, "message head larger than its reserved bound")
        if n > 0 { (base + count).copyMemory(from: bytes.baseAddress!, byteCount: n) }
        count += n
    }

    /// A non-negative decimal number (status codes, lengths).
    mutating func append(decimal value: Int) {
        ASCII.withDecimal(Int64(max(value, 0))) { append($0) }
    }

    /// `name: value CRLF`.
    @inline(__always)
    mutating func appendField(_ name: String, _ value: String) {
        append(name)
        append(": ")
        append(value)
        append("\r\n")
    }

    static func fieldSize(_ name: String, _ value: String) -> Int { name.utf8.count + value.utf8.count + 4 }
}

extension ByteBuffer {
    /// Writes a head of at most `maxBytes` bytes in one reservation.
    mutating func writeHead(maxBytes: Int, _ body: (inout HeadBytes) -> Void) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: maxBytes) { raw in
            var head = HeadBytes(raw)
            body(&head)
            return head.count
        }
    }
}
