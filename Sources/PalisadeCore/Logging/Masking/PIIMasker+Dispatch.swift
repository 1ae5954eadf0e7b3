/// Which detectors run at a trigger byte, and the context rules shared by them.
extension PIIMasker {
    @inline(__always)
    func detect(_ v: ByteView, at i: Int, byte b: UInt8, pending: Int) -> MaskMatch? {
        switch b {
        case UInt8(ascii: "@"):
            return EmailDetector.match(v, at: i, notBefore: pending)
        case UInt8(ascii: "="):
            return secretPair(v, equalsAt: i)
        case UInt8(ascii: "+"):
            guard !MaskASCII.isAlnum(v[i - 1]) else { return nil }
            return PhoneDetector.e164(v, plusAt: i)
        case UInt8(ascii: "("):
            guard !MaskASCII.isAlnum(v[i - 1]) else { return nil }
            return PhoneDetector.national(v, at: i)
        case UInt8(ascii: "0")...UInt8(ascii: "9"):
            guard Self.numberCanStart(v, at: i), Self.reachesNineDigits(v, from: i) else { return nil }
            if enabled.has(.ssn), let m = SSNDetector.match(v, at: i) { return m }
            if enabled.has(.card), let m = CardDetector.match(v, at: i) { return m }
            if enabled.has(.phone), let m = PhoneDetector.national(v, at: i) { return m }
            return nil
        default:
            // Letters start a detection only at the start of a token: `xsk_live_…` or the "e" in
            // "keyboard" never do, and a long base64url run is scanned once, from its first byte.
            guard !MaskASCII.isTokenChar(v[i - 1]) else { return nil }
            if enabled.has(.bearer), b | 0x20 == UInt8(ascii: "b"), let m = TokenDetectors.bearer(v, at: i) { return m }
            if enabled.has(.jwt), b == UInt8(ascii: "e"), let m = TokenDetectors.jwt(v, at: i) { return m }
            if enabled.has(.apiKey), let m = TokenDetectors.apiKey(v, at: i) { return m }
            if enabled.has(.iban), MaskASCII.isUpper(b), let m = IBANDetector.match(v, at: i) { return m }
            return nil
        }
    }

    /// A number starts here only if it is not the tail of a longer token: not after a letter or
    /// digit, and not after `-`, `.` or `_` that follow one (`ORD-2024-000123`, `ord_123…`, the
    /// groups of a UUID, the parts of a version string or an IPv4 address).
    @inline(__always)
    static func numberCanStart(_ v: ByteView, at i: Int) -> Bool {
        let p = v[i - 1]
        if MaskASCII.isAlnum(p) { return false }
        if p == UInt8(ascii: "-") || p == UInt8(ascii: ".") || p == UInt8(ascii: "_") { return !MaskASCII.isAlnum(v[i - 2]) }
        return true
    }

    /// Whether nine digits follow before the run of digits and number punctuation (space, `-`,
    /// `.`, parentheses) ends: every number class that starts at a digit has at least nine (an
    /// SSN nine, a card thirteen, a national phone ten), all within 25 bytes of its start. Most
    /// numbers in real text (a page number, a version, a date, a time) fall short, and this one
    /// bounded look spares them the three detectors.
    @inline(__always)
    static func reachesNineDigits(_ v: ByteView, from i: Int) -> Bool {
        var digits = 0
        var j = i
        let end = min(v.count, i + 32)
        while j < end {
            let b = v.base[j]
            if MaskASCII.isDigit(b) {
                digits += 1
                if digits == 9 { return true }
            } else if !(b == 0x20 || b == 0x2D || b == 0x2E || b == 0x28 || b == 0x29) {
                return false
            }
            j += 1
        }
        return false
    }

    /// A number ends here only if the token does not go on: no letter or digit next, and no
    /// `-`, `.`, `_` or `:` followed by one (`555-123-4567-99`, `…:07` of a time).
    @inline(__always)
    static func numberCanEnd(_ v: ByteView, at end: Int) -> Bool {
        let c = v[end]
        if MaskASCII.isAlnum(c) { return false }
        if c == UInt8(ascii: "-") || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: ":") {
            return !MaskASCII.isAlnum(v[end + 1])
        }
        return true
    }

    /// `name=value` in free text where `name` is a secret name (`/cb;token=abc`, a Referer with
    /// `?password=x`): the value becomes `[masked]`. Look-back is at most 64 bytes.
    func secretPair(_ v: ByteView, equalsAt e: Int) -> MaskMatch? {
        var j = e
        while j > 0 && e - j < SecretNameSet.maxNameLength && MaskASCII.isTokenChar(v[j - 1]) { j -= 1 }
        guard j < e, !MaskASCII.isTokenChar(v[j - 1]) else { return nil }
        guard secretNames.contains(UnsafeBufferPointer(start: v.base + j, count: e - j)) else { return nil }
        var k = e + 1
        while k < v.count && !Self.endsValue(v.base[k]) { k += 1 }
        guard k > e + 1 else { return nil }
        return MaskMatch(e + 1, k, .token("[masked]"))
    }

    /// Where a `name=value` value stops in free text: query/cookie separators, whitespace, quotes,
    /// and characters that close a surrounding construct.
    @inline(__always)
    static func endsValue(_ b: UInt8) -> Bool {
        switch b {
        case 0..<0x21, 0x7F, UInt8(ascii: "&"), UInt8(ascii: ";"), UInt8(ascii: ","), UInt8(ascii: "\""),
            UInt8(ascii: "'"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "#"), UInt8(ascii: "?"):
            return true
        default:
            return false
        }
    }
}
