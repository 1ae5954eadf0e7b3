/// The field names a message's `Connection` header nominates as hop-by-hop (RFC 9110 7.6.1),
/// gathered once per message so that dropping them is a single pass over the fields.
///
/// Why a cap and a length mask rather than a hash set: a client that nominates 1450 names and sends
/// 1450 fields made the old list-per-field check cost 57 ms of CPU per request. With at most
/// `maxOptions` names, most fields are ruled out by one bit test (no nominated name has their
/// length) and the rest by at most `maxOptions` byte comparisons, with no hashing of each field
/// name and no allocation in the common case (no name nominated, or only `keep-alive`).
struct NominatedFields {
    /// More options than real clients or apps send (they send one or two); a `Connection` header
    /// listing more is refused (`too_many_connection_options`, or a 502 for the app's answer).
    static let maxOptions = 32

    private(set) var names: [Substring] = []
    /// Bit n is set when a nominated name is n bytes long (names of 63 bytes or more share bit 63).
    private var lengths: UInt64 = 0

    var isEmpty: Bool { names.isEmpty }

    @inline(__always)
    private static func bit(_ length: Int) -> UInt64 { 1 &<< UInt64(min(length, 63)) }

    /// Adds one name; a repeat of a name already held is ignored.
    mutating func insert(_ name: Substring) {
        if contains(name) { return }
        lengths |= Self.bit(name.utf8.count)
        names.append(name)
    }

    @inline(__always)
    func contains<S: StringProtocol>(_ field: S) -> Bool {
        guard lengths & Self.bit(field.utf8.count) != 0 else { return false }
        return names.contains { HeaderNames.equalsIgnoringCase(field, $0) }
    }

    /// The number of options a `Connection` value lists (empty list elements are not options).
    static func optionCount(_ value: String) -> Int {
        var count = 0
        var inOption = false
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: ","): inOption = false
            case UInt8(ascii: " "), UInt8(ascii: "\t"): continue
            default:
                if !inOption { count += 1 }
                inOption = true
            }
        }
        return count
    }
}
