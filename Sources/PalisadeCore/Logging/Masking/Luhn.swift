/// Card number checks: the Luhn checksum and the issuer prefix. Both must hold, so a random
/// 16-digit id masks with probability ~1/10 × (share of prefixes that are issuers), and ids that
/// start with 1 (epoch millis, most counters) never do.
enum Luhn {
    /// Luhn over the digits in `v[start..<end]`, skipping separators.
    static func isValid(_ v: ByteView, from start: Int, to end: Int) -> Bool {
        var sum = 0
        var double = false
        var j = end - 1
        while j >= start {
            let b = v[j]
            j -= 1
            guard MaskASCII.isDigit(b) else { continue }
            var d = Int(b &- 0x30)
            if double {
                d *= 2
                if d > 9 { d -= 9 }
            }
            sum += d
            double.toggle()
        }
        return sum % 10 == 0
    }
}

enum CardIssuer {
    /// `first4` is the number formed by the first four digits. Visa 4; Mastercard 51–55 and
    /// 2221–2720; Amex 34, 37; Discover 6011, 644–649, 65; JCB 3528–3589; Diners 300–305, 36, 38,
    /// 39; UnionPay 62; Maestro 50, 56–58, 6. (All of 6 is covered by Maestro.)
    static func isKnownPrefix(first4: Int) -> Bool {
        let p2 = first4 / 100
        let p3 = first4 / 10
        switch first4 / 1000 {
        case 4, 6: return true
        case 5: return (50...58).contains(p2)
        case 3:
            return p2 == 34 || p2 == 37 || p2 == 36 || p2 == 38 || p2 == 39 || (300...305).contains(p3)
                || (3528...3589).contains(first4)
        case 2: return (2221...2720).contains(first4)
        default: return false
        }
    }
}
