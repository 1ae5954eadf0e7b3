/// Classes a policy lists in `log.mask`.
public enum MaskClass: String, CaseIterable, Sendable {
    case email, card, phone, iban, ssn, jwt, bearer
    case apiKey = "api_key"
    case secretQuery = "secret_query"
}

/// The enabled classes as bits: the scanner asks "is X on?" per candidate, and a bit test is cheaper
/// than hashing into a `Set` on the hot path.
struct MaskClassBits: Sendable {
    private let bits: UInt16

    init(_ classes: Set<MaskClass>) {
        var bits: UInt16 = 0
        for c in classes { bits |= Self.bit(c) }
        self.bits = bits
    }

    @inline(__always) func has(_ c: MaskClass) -> Bool { bits & Self.bit(c) != 0 }

    @inline(__always) private static func bit(_ c: MaskClass) -> UInt16 {
        switch c {
        case .email: return 1 << 0
        case .card: return 1 << 1
        case .phone: return 1 << 2
        case .iban: return 1 << 3
        case .ssn: return 1 << 4
        case .jwt: return 1 << 5
        case .bearer: return 1 << 6
        case .apiKey: return 1 << 7
        case .secretQuery: return 1 << 8
        }
    }
}
