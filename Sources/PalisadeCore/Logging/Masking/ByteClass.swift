/// MaskASCII classification on raw bytes. The masker never decodes UTF-8: bytes ≥ 0x80 (and invalid
/// sequences) are simply "other", so malformed input cannot make a detector misbehave.
enum MaskASCII {
    @inline(__always) static func isDigit(_ b: UInt8) -> Bool { b &- 0x30 < 10 }
    @inline(__always) static func isUpper(_ b: UInt8) -> Bool { b &- 0x41 < 26 }
    @inline(__always) static func isLower(_ b: UInt8) -> Bool { b &- 0x61 < 26 }
    @inline(__always) static func isAlpha(_ b: UInt8) -> Bool { (b | 0x20) &- 0x61 < 26 }
    @inline(__always) static func isAlnum(_ b: UInt8) -> Bool { isDigit(b) || isAlpha(b) }
    @inline(__always) static func lower(_ b: UInt8) -> UInt8 { isUpper(b) ? b | 0x20 : b }
    /// base64url alphabet, also the character set of most vendor API keys (`sk_live_…`, `xoxb-…`).
    @inline(__always) static func isTokenChar(_ b: UInt8) -> Bool { isAlnum(b) || b == 0x2D || b == 0x5F }
    @inline(__always) static func hexValue(_ b: UInt8) -> UInt8? {
        if isDigit(b) { return b &- 0x30 }
        let l = b | 0x20
        if l &- 0x61 < 6 { return l &- 0x61 &+ 10 }
        return nil
    }
}

/// A small set of MaskASCII bytes, used to describe trigger bytes before they become a lookup table.
struct ByteSet: Sendable {
    private var lo: UInt64 = 0
    private var hi: UInt64 = 0

    mutating func insert(_ b: UInt8) {
        if b < 64 { lo |= 1 << UInt64(b) } else if b < 128 { hi |= 1 << UInt64(b - 64) }
    }

    mutating func insert(_ s: StaticString) {
        s.withUTF8Buffer { for b in $0 { insert(b) } }
    }

    @inline(__always) func contains(_ b: UInt8) -> Bool {
        let word = b & 0x40 == 0 ? lo : hi
        return (word >> UInt64(b & 63)) & 1 != 0 && b < 128
    }
}

/// Bounds-checked reads over the input: out-of-range positions read as 0, a byte no detector
/// accepts, so look-ahead and look-back need no separate end tests (a real NUL behaves the same).
struct ByteView {
    let base: UnsafePointer<UInt8>
    let count: Int

    @inline(__always) subscript(i: Int) -> UInt8 { i >= 0 && i < count ? base[i] : 0 }

    /// Case-insensitive (MaskASCII) comparison of `literal` (given in lower case) at `i`.
    func hasPrefix(_ literal: StaticString, at i: Int, caseInsensitive: Bool = false) -> Bool {
        literal.withUTF8Buffer { lit in
            guard i >= 0, i + lit.count <= count else { return false }
            for k in 0..<lit.count {
                let b = base[i + k]
                if (caseInsensitive ? MaskASCII.lower(b) : b) != lit[k] { return false }
            }
            return true
        }
    }
}

extension Array where Element == UInt8 {
    @inline(__always) mutating func append(_ s: StaticString) {
        s.withUTF8Buffer { self.append(contentsOf: $0) }
    }
}
