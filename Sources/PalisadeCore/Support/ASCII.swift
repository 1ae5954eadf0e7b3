/// Byte-level string helpers for the request path: no Foundation, no allocation.
enum ASCII {
    /// Case-insensitive equality against a lower-case ASCII literal.
    @inline(__always)
    static func equalsLowercased<S: StringProtocol>(_ value: S, _ lowercase: StaticString) -> Bool {
        let utf8 = value.utf8
        guard utf8.count == lowercase.utf8CodeUnitCount else { return false }
        return lowercase.withUTF8Buffer { expected in
            var i = 0
            for b in utf8 {
                let folded = (b >= 0x41 && b <= 0x5a) ? b | 0x20 : b
                if folded != expected[i] { return false }
                i += 1
            }
            return true
        }
    }
}

extension ASCII {
    /// At most this many bytes: `-9223372036854775808`.
    static let maxDecimalBytes = 20

    /// `value`'s decimal digits (a leading '-' when negative) written at `out[start...]`, which
    /// must have `maxDecimalBytes` of room; answers the index after the last digit. The one
    /// number writer of the access line, message heads, the `RateLimit` field and Redis arguments.
    @inline(__always)
    static func writeDecimal(_ value: Int64, into out: UnsafeMutableRawBufferPointer, at start: Int) -> Int {
        var at = start
        if value < 0 {
            out[at] = UInt8(ascii: "-")
            at += 1
        }
        var magnitude = value.magnitude
        var end = at
        repeat {
            out[end] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
            end += 1
        } while magnitude > 0
        // Written lowest digit first: turned around in place.
        var low = at
        var high = end - 1
        while low < high {
            out.swapAt(low, high)
            low += 1
            high -= 1
        }
        return end
    }

    /// `value`'s decimal digits, written on the stack, handed to `body` (valid only inside it).
    @inline(__always)
    static func withDecimal<R>(_ value: Int64, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for maxDecimalBytes
        let end = withUnsafeMutableBytes(of: &digits) { writeDecimal(value, into: $0, at: 0) }
        return try withUnsafeBytes(of: &digits) { try body(UnsafeRawBufferPointer(rebasing: $0[..<end])) }
    }
}
