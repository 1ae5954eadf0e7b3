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
