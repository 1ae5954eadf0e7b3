/// `local@domain.tld` → `***@domain.tld`. Anchored at '@': the local part is found by looking back
/// (≤ 64 bytes, and never into text already replaced), the domain by looking ahead (≤ 253 bytes).
/// Each '@' is looked at once and a domain scan stops at the next '@', so `a@a@a@…` stays linear.
enum EmailDetector {
    static let maxLocal = 64
    static let maxDomain = 253

    @inline(__always) static func isLocalChar(_ b: UInt8) -> Bool {
        MaskASCII.isAlnum(b) || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "+")
            || b == UInt8(ascii: "-")
    }

    @inline(__always) static func isDomainChar(_ b: UInt8) -> Bool {
        MaskASCII.isAlnum(b) || b == UInt8(ascii: ".") || b == UInt8(ascii: "-")
    }

    static func match(_ v: ByteView, at a: Int, notBefore floor: Int) -> MaskMatch? {
        var j = a
        while j > floor && a - j < maxLocal && isLocalChar(v[j - 1]) { j -= 1 }
        if j > floor && isLocalChar(v[j - 1]) { return nil }  // local part longer than 64: not an address
        while j < a && v[j] == UInt8(ascii: ".") { j += 1 }
        guard j < a else { return nil }

        let ds = a + 1
        var k = ds
        while k - ds < maxDomain && isDomainChar(v[k]) { k += 1 }
        if isDomainChar(v[k]) { return nil }
        var end = k
        while end > ds && (v[end - 1] == UInt8(ascii: ".") || v[end - 1] == UInt8(ascii: "-")) { end -= 1 }

        // Labels: non-empty, at least two, the last one letters only and ≥ 2 long.
        var labels = 0
        var labelLen = 0
        var labelLetters = true
        var p = ds
        while p <= end {
            let c = p < end ? v[p] : UInt8(ascii: ".")
            if c == UInt8(ascii: ".") {
                if labelLen == 0 { return nil }
                labels += 1
                if p < end {
                    labelLen = 0
                    labelLetters = true
                }
            } else {
                labelLen += 1
                if !MaskASCII.isAlpha(c) { labelLetters = false }
            }
            p += 1
        }
        guard labels >= 2, labelLetters, labelLen >= 2 else { return nil }
        return MaskMatch(j, a, resume: end, .token("***"))
    }
}
