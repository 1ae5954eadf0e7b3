/// ISO 13616 IBAN validation: the mod-97 check and, for countries we know, the exact length.
/// The per-country length is what keeps a 2-letters-2-digits request id from being taken for an
/// IBAN 1 time in 97.
enum IBANCheck {
    /// Total IBAN length (country + check + BBAN) per country, from the SWIFT IBAN registry;
    /// indexed by (first letter − 'A') × 26 + (second letter − 'A'), 0 for "not an IBAN country".
    static let lengths: [UInt8] = {
        let table: StaticString = """
            AD24AE23AL28AT20AZ28BA20BE16BG22BH22BI27BR29BY28CH21CR22CY28CZ24DE22DJ27DK18DO28EE20EG29\
            ES24FI18FK18FO18FR27GB22GE22GI23GL18GR27GT28HN28HR21HU28IE22IL23IQ23IS26IT27JO30KW30KZ20\
            LB28LC32LI21LT20LU20LV21LY25MC27MD24ME22MK19MN20MR27MT31MU30NI28NL18NO15OM23PK24PL28PS29\
            QA29RO24RS22RU33SA24SC31SD18SE24SI19SK24SM27SO23ST25SV28TL23TN24TR26UA29VA22VG24XK20YE30
            """
        var map = [UInt8](repeating: 0, count: 26 * 26)
        table.withUTF8Buffer { t in
            var k = 0
            while k + 4 <= t.count {
                map[Int(t[k] - 65) * 26 + Int(t[k + 1] - 65)] = (t[k + 2] - 0x30) * 10 + (t[k + 3] - 0x30)
                k += 4
            }
        }
        return map
    }()

    /// The IBAN length for a country code of two capitals; nil when the code has no IBAN. An unknown
    /// code is rejected rather than given the generic 15–34 range: that range plus a 1-in-97
    /// checksum would let a random `AB12…` request id through now and then.
    static func expectedLength(country a: UInt8, _ b: UInt8) -> Int? {
        guard MaskASCII.isUpper(a), MaskASCII.isUpper(b) else { return nil }
        let len = lengths[Int(a - 65) * 26 + Int(b - 65)]
        return len == 0 ? nil : Int(len)
    }

    /// Mod-97 over `v[start..<end]` (spaces skipped): the first four characters move to the end,
    /// letters count as 10…35, and a valid IBAN leaves remainder 1.
    static func checksumIsValid(_ v: ByteView, from start: Int, to end: Int) -> Bool {
        var r = 0
        var seen = 0
        var j = start
        while j < end {
            let c = v[j]
            j += 1
            if c == 0x20 { continue }
            seen += 1
            if seen > 4 { r = step(r, c) }
        }
        j = start
        seen = 0
        while j < end && seen < 4 {
            let c = v[j]
            j += 1
            if c == 0x20 { continue }
            seen += 1
            r = step(r, c)
        }
        return r == 1
    }

    @inline(__always) private static func step(_ r: Int, _ c: UInt8) -> Int {
        MaskASCII.isDigit(c) ? (r * 10 + Int(c &- 0x30)) % 97 : (r * 100 + Int(c &- 0x41) + 10) % 97
    }
}
