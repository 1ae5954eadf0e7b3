/// `ddd-dd-dddd` US social security numbers → `[ssn]`. Area not 000, 666 or 900–999, group not 00,
/// serial not 0000; the caller has checked nothing joins it on the left, we check the right.
enum SSNDetector {
    static func match(_ v: ByteView, at i: Int) -> MaskMatch? {
        let dash = UInt8(ascii: "-")
        guard v[i + 3] == dash, v[i + 6] == dash else { return nil }
        for k in 0..<11 where k != 3 && k != 6 && !MaskASCII.isDigit(v[i + k]) { return nil }
        func num(_ from: Int, _ len: Int) -> Int {
            var x = 0
            for k in from..<from + len { x = x * 10 + Int(v[i + k] &- 0x30) }
            return x
        }
        let area = num(0, 3)
        guard area != 0, area != 666, area < 900, num(4, 2) != 0, num(7, 4) != 0 else { return nil }
        guard PIIMasker.numberCanEnd(v, at: i + 11) else { return nil }
        return MaskMatch(i, i + 11, .token("[ssn]"))
    }
}

/// Payment card numbers → `****` + last four digits. 13–19 digits, either one run or groups of
/// ≥ 3 digits joined by single spaces or single dashes (one kind per number), Luhn-valid, with a
/// real issuer prefix. Reads at most 20 digits and 5 separators.
///
/// With dashes the whole dashed run must be the card (a dashed id that goes on is not one). With
/// spaces the longest valid leading groups are taken, so `4111 1111 1111 1111 2026` masks the
/// card and keeps the year.
enum CardDetector {
    static func match(_ v: ByteView, at i: Int) -> MaskMatch? {
        var j = i
        var digits = 0
        var groups = 0
        var sep: UInt8 = 0
        var first4 = 0
        var best = -1
        while true {
            let gs = j
            while MaskASCII.isDigit(v[j]) && digits < 20 {
                if digits < 4 { first4 = first4 * 10 + Int(v[j] &- 0x30) }
                j += 1
                digits += 1
            }
            if digits >= 20 { break }
            let glen = j - gs
            if groups == 0 {
                if glen < 4 { return nil }
            } else if glen < 3 {
                break
            }
            groups += 1
            if digits >= 13 && endsCard(v, at: j, sep: sep) && CardIssuer.isKnownPrefix(first4: first4)
                && Luhn.isValid(v, from: i, to: j)
            {
                best = j
            }
            let c = v[j]
            guard (c == 0x20 || c == 0x2D) && MaskASCII.isDigit(v[j + 1]) && (sep == 0 || sep == c) && groups < 6 else { break }
            sep = c
            j += 1
        }
        guard best > 0 else { return nil }
        return MaskMatch(i, best, .cardLast4(from: lastFourStart(v, from: i, end: best)))
    }

    /// A card may end before ` <digit>` (the next number is separate; with spaced groups the
    /// longest valid prefix was taken); otherwise the usual "the token does not go on" rule.
    @inline(__always)
    private static func endsCard(_ v: ByteView, at end: Int, sep: UInt8) -> Bool {
        let c = v[end]
        if c == 0x20 && MaskASCII.isDigit(v[end + 1]) { return true }
        if c == 0x2D && MaskASCII.isDigit(v[end + 1]) { return false }
        return PIIMasker.numberCanEnd(v, at: end)
    }

    private static func lastFourStart(_ v: ByteView, from start: Int, end: Int) -> Int {
        var j = end
        var seen = 0
        while j > start && seen < 4 {
            j -= 1
            if MaskASCII.isDigit(v[j]) { seen += 1 }
        }
        return j
    }
}
