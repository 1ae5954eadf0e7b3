/// Phone numbers → `[phone]`.
///
/// International: `+`, a non-zero digit, then 8–15 digits in all, in groups joined by single
/// spaces, dashes or dots, one group optionally in parentheses (`+1 (555) 123-4567`).
/// National, punctuation required (a bare digit run is an id, an epoch or an amount, not a phone):
/// - North American 3-3-4 with one separator kind (`555-123-4567`, `555.123.4567`, `555 123 4567`),
///   optionally after `1` and the same separator, or `(555) 123-4567`;
/// - trunk-prefix `0` forms in groups 3-4-4, 4-3-4, 5-6, 5-3-3, 4-6 (`020 7946 0958`, `07700 900123`,
///   `(020) 7946 0958`), separated by spaces or by dashes.
/// Seven-digit local numbers (`555-1234`) are not matched: too close to ids, ranges and codes.
/// Dates (4-2-2), times (`:`), IPv4 (4 groups of 1–3), versions and amounts do not have these shapes.
enum PhoneDetector {
    /// Digit groups read from one start: at most 8 groups and 16 digits, so a parse is bounded.
    struct Run {
        var groups = 0
        var lens: UInt64 = 0  // 8 bits per group
        var seps: UInt64 = 0  // the separator before each group (0: none), 8 bits per group
        var ends: UInt64 = 0  // each group's end, as an offset from the start, 8 bits per group
        var firstDigit: UInt8 = 0
        var parenGroup = -1
        /// The run went on past the limits; it ends at the last complete group.
        var overflow = false

        func len(_ k: Int) -> Int { Int((lens >> UInt64(8 * k)) & 0xFF) }
        func sep(_ k: Int) -> UInt8 { UInt8((seps >> UInt64(8 * k)) & 0xFF) }
        func end(_ k: Int) -> Int { Int((ends >> UInt64(8 * k)) & 0xFF) }

        /// The first `count` groups' lengths, packed like `lens` (first group in the low byte):
        /// compare with `0x04_03_03` for 3-3-4.
        func shape(_ count: Int) -> UInt64 { count >= 8 ? lens : lens & ((1 << UInt64(8 * count)) - 1) }

        func digits(_ count: Int) -> Int {
            var d = 0
            for k in 0..<count { d += len(k) }
            return d
        }

        /// The separators between the first `count` groups are all the same one of `allowed`.
        func uniformSeparator(_ count: Int, _ allowed: StaticString) -> Bool {
            let s = sep(1)
            var ok = false
            allowed.withUTF8Buffer { ok = $0.contains(s) }
            guard ok else { return false }
            for k in 1..<count where sep(k) != s { return false }
            return true
        }
    }

    static let maxGroups = 8
    static let maxDigits = 16

    @inline(__always) private static func isSep(_ b: UInt8) -> Bool {
        b == UInt8(ascii: " ") || b == UInt8(ascii: "-") || b == UInt8(ascii: ".")
    }

    /// `uniform`: once a separator has been used between digit groups, a different one ends the
    /// run (national numbers use one kind; `555-123-4567 99` is a phone and a number). The
    /// separator right after a parenthesized group does not count. International numbers mix.
    /// `uniform`: once a separator has been used between digit groups, a different one ends the
    /// run (national numbers use one kind; `555-123-4567 99` is a phone and a number). The
    /// separator right after a parenthesized group does not count. International numbers mix.
    static func parse(_ v: ByteView, at start: Int, uniform: Bool) -> Run? {
        var r = Run()
        var j = start
        var afterParen = false
        var used: UInt8 = 0
        var digits = 0
        let open = UInt8(ascii: "(")
        let close = UInt8(ascii: ")")
        while true {
            let groupStart = j
            var sep: UInt8 = 0
            if r.groups > 0 {
                let c = v[j]
                let canParen = r.parenGroup < 0
                if isSep(c) && (MaskASCII.isDigit(v[j + 1]) || (canParen && v[j + 1] == open)) {
                    if uniform && !afterParen {
                        if used != 0 && used != c { break }
                        used = c
                    }
                    sep = c
                    j += 1
                } else if (c == open && canParen) || (afterParen && MaskASCII.isDigit(c)) {
                    sep = 0
                } else {
                    break
                }
            }
            var inParen = false
            if v[j] == open {
                inParen = true
                j += 1
            }
            let gs = j
            while MaskASCII.isDigit(v[j]) && j - gs <= maxDigits { j += 1 }
            let glen = j - gs
            if inParen && (glen == 0 || v[j] != close) {
                // Not a parenthesized group after all (`… 900123 (see`): the run ends before it.
                j = groupStart
                break
            }
            guard glen > 0 else { return nil }
            if inParen { j += 1 }
            if digits + glen > maxDigits || r.groups == maxGroups {
                // Past the limits: keep what came before, the caller may use a prefix.
                r.overflow = true
                j = groupStart
                break
            }
            if r.groups == 0 { r.firstDigit = v[gs] }
            if inParen { r.parenGroup = r.groups }
            afterParen = inParen
            digits += glen
            r.lens |= UInt64(glen) << UInt64(8 * r.groups)
            r.seps |= UInt64(sep) << UInt64(8 * r.groups)
            r.ends |= UInt64(j - start) << UInt64(8 * r.groups)
            r.groups += 1
        }
        return r.groups > 0 ? r : nil
    }

    /// Group counts at which the number may end, longest first: the run's end if the token
    /// stops there, and any earlier group followed by a space (space-separated numbers are often
    /// just next to each other: `020 7946 0958 2`). Calls `accept` until it returns true.
    private static func candidateCounts(_ v: ByteView, _ start: Int, _ r: Run, _ accept: (Int) -> Bool) -> Int? {
        var count = r.groups
        while count > 0 {
            let end = start + r.end(count - 1)
            let whole = count == r.groups && !r.overflow
            if (whole ? PIIMasker.numberCanEnd(v, at: end) : v[end] == UInt8(ascii: " ")) && accept(count) {
                return end
            }
            count -= 1
        }
        return nil
    }

    static func e164(_ v: ByteView, plusAt p: Int) -> MaskMatch? {
        let d = v[p + 1]
        guard d &- 0x31 < 9 else { return nil }  // a country code never starts with 0
        guard let r = parse(v, at: p + 1, uniform: false) else { return nil }
        guard let end = candidateCounts(v, p + 1, r, { (8...15).contains(r.digits($0)) }) else { return nil }
        return MaskMatch(p, end, .token("[phone]"))
    }

    static func national(_ v: ByteView, at i: Int) -> MaskMatch? {
        guard let r = parse(v, at: i, uniform: true), r.groups >= 2 else { return nil }
        guard let end = candidateCounts(v, i, r, { nationalShape(r, $0) }) else { return nil }
        return MaskMatch(i, end, .token("[phone]"))
    }

    private static func nationalShape(_ r: Run, _ count: Int) -> Bool {
        let shape = r.shape(count)
        if r.parenGroup == 0 {
            // (555) 123-4567, (555)123-4567, (555) 123 4567; trunk-prefix (020) 7946 0958
            guard r.sep(1) == 0 || r.sep(1) == UInt8(ascii: " "), count > 2 ? r.sep(2) != 0 : true else { return false }
            switch shape {
            case 0x04_03_03: return true
            case 0x04_04_03, 0x04_03_04, 0x06_05, 0x03_03_05, 0x06_04: return r.firstDigit == UInt8(ascii: "0")
            default: return false
            }
        }
        if r.parenGroup > 0 && r.parenGroup < count { return false }
        switch shape {
        case 0x04_03_03:
            return r.uniformSeparator(count, " -.")
        case 0x04_03_03_01:
            return r.firstDigit == UInt8(ascii: "1") && r.uniformSeparator(count, " -.")
        case 0x04_04_03, 0x04_03_04, 0x06_05, 0x03_03_05, 0x06_04:
            return r.firstDigit == UInt8(ascii: "0") && r.uniformSeparator(count, " -")
        default:
            return false
        }
    }
}
