/// Byte classes for HTTP field lines, one table lookup per byte: bit 0 marks a token character
/// (RFC 9110 5.6.2), bit 1 a field-value character (VCHAR, obs-text, SP, HTAB; RFC 9110 5.5).
/// The table is a static string of digits so reading it costs no reference counting.
enum FieldBytes {
    // One digit per byte value 0x00...0xFF.
    private static let classes: StaticString =
        "0000000002000000000000000000000023233333223323323333333333222222233333333333333333333333333222333333333333333333333333333332323022222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222"

    @inline(__always)
    private static func bits(_ byte: UInt8) -> UInt8 { classes.utf8Start[Int(byte)] &- 0x30 }

    @inline(__always)
    static func isToken(_ byte: UInt8) -> Bool { bits(byte) & 1 != 0 }

    @inline(__always)
    static func isValue(_ byte: UInt8) -> Bool { bits(byte) & 2 != 0 }

    /// Index of the first byte at or after `from` that is not a token character.
    @inline(__always)
    static func endOfToken(_ bytes: UnsafeRawBufferPointer, from: Int, to end: Int) -> Int {
        var i = from
        while i < end, isToken(bytes[i]) { i += 1 }
        return i
    }

    /// Index of the first byte at or after `from` that cannot appear in a field value.
    @inline(__always)
    static func endOfValue(_ bytes: UnsafeRawBufferPointer, from: Int, to end: Int) -> Int {
        var i = from
        while i < end, isValue(bytes[i]) { i += 1 }
        return i
    }

    /// One field line (without its CRLF): a token name, a colon, and a value of visible
    /// characters, spaces, tabs or obs-text, with the optional whitespace around it removed.
    /// Nil when the line is not such a line (obs-fold, a space before the colon, a control byte).
    static func split(
        _ line: UnsafeRawBufferPointer.SubSequence
    ) -> (name: UnsafeRawBufferPointer.SubSequence, value: UnsafeRawBufferPointer.SubSequence)? {
        let bytes = line.base
        let end = line.endIndex
        let colon = endOfToken(bytes, from: line.startIndex, to: end)
        guard colon > line.startIndex, colon < end, bytes[colon] == UInt8(ascii: ":") else { return nil }
        var valueStart = colon + 1
        guard endOfValue(bytes, from: valueStart, to: end) == end else { return nil }
        var valueEnd = end
        while valueStart < valueEnd, bytes[valueStart] == 0x20 || bytes[valueStart] == 0x09 { valueStart += 1 }
        while valueEnd > valueStart, bytes[valueEnd - 1] == 0x20 || bytes[valueEnd - 1] == 0x09 { valueEnd -= 1 }
        return (bytes[line.startIndex..<colon], bytes[valueStart..<valueEnd])
    }
}
