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
}
