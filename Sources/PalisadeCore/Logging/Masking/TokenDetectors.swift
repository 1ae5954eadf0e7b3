/// Credentials with a recognisable shape: JWTs, `Bearer`/`Basic` credentials, vendor API keys.
/// Each starts only at the start of a token (the caller checks the byte before is not a token
/// character), so every token-character run is scanned from its start at most once per detector.
enum TokenDetectors {
    /// `eyJ…`.`…`.`…` → `[jwt]`. Three base64url segments of ≥ 4 characters, the first starting
    /// `eyJ` (`{"` in base64). An empty signature is accepted only when the header decodes to
    /// something naming `"none"` (an unsigned token). A five-segment JWE is taken whole.
    /// Each run is read as at most the first to fifth segment of one attempt: linear.
    static func jwt(_ v: ByteView, at i: Int) -> MaskMatch? {
        guard v[i + 1] == UInt8(ascii: "y"), v[i + 2] == UInt8(ascii: "J") else { return nil }
        let dot = UInt8(ascii: ".")
        var j = i
        while MaskASCII.isTokenChar(v[j]) { j += 1 }
        let headerEnd = j
        guard j - i >= 4, v[j] == dot else { return nil }
        j += 1
        let s2 = j
        while MaskASCII.isTokenChar(v[j]) { j += 1 }
        guard j - s2 >= 4, v[j] == dot else { return nil }
        j += 1
        let s3 = j
        while MaskASCII.isTokenChar(v[j]) { j += 1 }
        let sig = j - s3
        if sig == 0 {
            guard headerNamesNone(v, from: i, to: headerEnd) else { return nil }
        } else if sig < 4 {
            return nil
        }
        // A JWE (five segments; the encrypted key may be empty) is taken whole, but only if both
        // extra segments are there: `eyJ….x` is a JWT followed by text.
        if v[j] == dot {
            var k = j + 1
            while MaskASCII.isTokenChar(v[k]) { k += 1 }
            if v[k] == dot && MaskASCII.isTokenChar(v[k + 1]) {
                k += 1
                while MaskASCII.isTokenChar(v[k]) { k += 1 }
                j = k
            }
        }
        return MaskMatch(i, j, .token("[jwt]"))
    }

    /// Decodes (at most 512 characters of) a base64url header and looks for `"none"`, any case.
    static func headerNamesNone(_ v: ByteView, from start: Int, to end: Int) -> Bool {
        let pattern: StaticString = "\"none\""
        var matched = 0
        var acc: UInt32 = 0
        var bits = 0
        var j = start
        while j < end && j - start < 512 {
            let c = v[j]
            j += 1
            let x: UInt32
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): x = UInt32(c - 65)
            case UInt8(ascii: "a")...UInt8(ascii: "z"): x = UInt32(c - 97 + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): x = UInt32(c - 48 + 52)
            case UInt8(ascii: "-"): x = 62
            default: x = 63
            }
            acc = (acc << 6) | x
            bits += 6
            if bits >= 8 {
                bits -= 8
                let byte = MaskASCII.lower(UInt8((acc >> UInt32(bits)) & 0xFF))
                // The pattern has no repeated prefix except the quote, so this restart is exact.
                if byte == pattern.utf8Start[matched] {
                    matched += 1
                    if matched == pattern.utf8CodeUnitCount { return true }
                } else {
                    matched = byte == pattern.utf8Start[0] ? 1 : 0
                }
            }
        }
        return false
    }

    /// `Bearer <token>` / `Basic <token>` (scheme in any case) → the scheme kept, the credential
    /// `[token]`. The credential is a token68 run of ≥ 8 characters that does not look like a word:
    /// it has a digit, capital or symbol, or is ≥ 20 long ("Bearer authentication" stays).
    static func bearer(_ v: ByteView, at i: Int) -> MaskMatch? {
        var j: Int
        if v.hasPrefix("bearer", at: i, caseInsensitive: true) {
            j = i + 6
        } else if v.hasPrefix("basic", at: i, caseInsensitive: true) {
            j = i + 5
        } else {
            return nil
        }
        let sp = j
        while (v[j] == 0x20 || v[j] == 0x09) && j - sp < 8 { j += 1 }
        guard j > sp else { return nil }
        let ts = j
        var wordLike = true
        while isToken68(v[j]) {
            if !MaskASCII.isLower(v[j]) { wordLike = false }
            j += 1
        }
        let len = j - ts
        guard len >= 8, !wordLike || len >= 20 else { return nil }
        return MaskMatch(ts, j, .token("[token]"))
    }

    @inline(__always) static func isToken68(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "+"),
            UInt8(ascii: "/"), UInt8(ascii: "="):
            return true
        default:
            return MaskASCII.isAlnum(b)
        }
    }

    /// Vendor API keys → `[api_key]`. Prefix then ≥ 10 token characters (the key is the whole
    /// token run): Stripe `sk_live_`, `sk_test_`, `rk_live_`, `rk_test_`, `pk_live_`; GitHub `ghp_`,
    /// `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`; GitLab `glpat-`; Slack `xoxb-`, `xoxp-`,
    /// `xoxa-`, `xoxr-`, `xoxs-`; webhook secrets `whsec_`. AWS access key ids: `AKIA`/`ASIA` and
    /// exactly 16 capitals or digits. Google API keys: `AIza` and ≥ 35 token characters.
    /// A switch on the first bytes, not a loop over a prefix list: this runs at most word starts.
    static func apiKey(_ v: ByteView, at i: Int) -> MaskMatch? {
        let prefix: Int
        switch v[i] {
        case UInt8(ascii: "s"), UInt8(ascii: "r"):
            guard v[i + 1] == UInt8(ascii: "k"), v[i + 2] == UInt8(ascii: "_"),
                v.hasPrefix("live_", at: i + 3) || v.hasPrefix("test_", at: i + 3)
            else { return nil }
            prefix = 8
        case UInt8(ascii: "p"):
            guard v[i + 1] == UInt8(ascii: "k"), v.hasPrefix("pk_live_", at: i) else { return nil }
            prefix = 8
        case UInt8(ascii: "g"):
            if v[i + 1] == UInt8(ascii: "h") {
                switch v[i + 2] {
                case UInt8(ascii: "p"), UInt8(ascii: "o"), UInt8(ascii: "u"), UInt8(ascii: "s"), UInt8(ascii: "r"):
                    guard v[i + 3] == UInt8(ascii: "_") else { return nil }
                    prefix = 4
                case UInt8(ascii: "i"):
                    guard v.hasPrefix("github_pat_", at: i) else { return nil }
                    prefix = 11
                default:
                    return nil
                }
            } else {
                guard v[i + 1] == UInt8(ascii: "l"), v.hasPrefix("glpat-", at: i) else { return nil }
                prefix = 6
            }
        case UInt8(ascii: "x"):
            guard v[i + 1] == UInt8(ascii: "o"), v.hasPrefix("xox", at: i), v[i + 4] == UInt8(ascii: "-") else { return nil }
            switch v[i + 3] {
            case UInt8(ascii: "b"), UInt8(ascii: "p"), UInt8(ascii: "a"), UInt8(ascii: "r"), UInt8(ascii: "s"): prefix = 5
            default: return nil
            }
        case UInt8(ascii: "w"):
            guard v[i + 1] == UInt8(ascii: "h"), v.hasPrefix("whsec_", at: i) else { return nil }
            prefix = 6
        case UInt8(ascii: "A"):
            if v.hasPrefix("AKIA", at: i) || v.hasPrefix("ASIA", at: i) {
                var j = i + 4
                while (MaskASCII.isUpper(v[j]) || MaskASCII.isDigit(v[j])) && j - i <= 20 { j += 1 }
                guard j - i == 20, !MaskASCII.isTokenChar(v[j]) else { return nil }
                return MaskMatch(i, j, .token("[api_key]"))
            }
            guard v.hasPrefix("AIza", at: i) else { return nil }
            return tokenRun(v, from: i, prefix: 4, minimum: 35)
        default:
            return nil
        }
        return tokenRun(v, from: i, prefix: prefix, minimum: 10)
    }

    private static func tokenRun(_ v: ByteView, from i: Int, prefix: Int, minimum: Int) -> MaskMatch? {
        var j = i + prefix
        while MaskASCII.isTokenChar(v[j]) { j += 1 }
        guard j - (i + prefix) >= minimum else { return nil }
        return MaskMatch(i, j, .token("[api_key]"))
    }
}

/// IBANs → `[iban]` (the whole value, country code included: the code plus the bank part can be
/// enough to narrow an account down, and a log reader does not need it). Two capitals, two check
/// digits, then capitals and digits: compact, or in groups of four separated by single spaces
/// (`GB82 WEST 1234 5698 7654 32`). The country must be one with IBANs, the length that country's,
/// and mod-97 must hold. Reads at most 35 characters and 8 spaces.
enum IBANDetector {
    @inline(__always) private static func isChar(_ b: UInt8) -> Bool { MaskASCII.isUpper(b) || MaskASCII.isDigit(b) }

    static func match(_ v: ByteView, at i: Int) -> MaskMatch? {
        guard MaskASCII.isUpper(v[i + 1]), MaskASCII.isDigit(v[i + 2]), MaskASCII.isDigit(v[i + 3]) else { return nil }
        guard let expected = IBANCheck.expectedLength(country: v[i], v[i + 1]) else { return nil }
        if v[i + 4] == 0x20 {
            var j = i + 4
            var len = 4
            var best = -1
            while v[j] == 0x20 && isChar(v[j + 1]) {
                var k = j + 1
                var g = 0
                while isChar(v[k]) && g < 5 {
                    k += 1
                    g += 1
                }
                if g > 4 { break }
                len += g
                if len > 34 { break }
                if len == expected {
                    if !MaskASCII.isAlnum(v[k]) && IBANCheck.checksumIsValid(v, from: i, to: k) { best = k }
                    break
                }
                j = k
                if g < 4 { break }
            }
            return best > 0 ? MaskMatch(i, best, .token("[iban]")) : nil
        }
        var j = i + 4
        while isChar(v[j]) && j - i <= 34 { j += 1 }
        let len = j - i
        guard len == expected, PIIMasker.numberCanEnd(v, at: j), IBANCheck.checksumIsValid(v, from: i, to: j)
        else { return nil }
        return MaskMatch(i, j, .token("[iban]"))
    }
}
