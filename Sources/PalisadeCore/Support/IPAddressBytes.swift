import Foundation

/// An IPv4 or IPv6 address as 16 bytes (IPv4 mapped into `::ffff:a.b.c.d`), so one comparison
/// path serves both families and a v4 client seen through a v6 socket still matches v4 CIDRs.
public struct IPAddressBytes: Sendable, Hashable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64
    public var isIPv4Mapped: Bool { high == 0 && (low >> 32) == 0xffff }

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public init(ipv4 value: UInt32) {
        self.init(high: 0, low: 0xffff_0000_0000 | UInt64(value))
    }

    /// Parses dotted IPv4 or RFC 4291 IPv6 text (with `::` compression and an embedded IPv4 tail).
    public init?(parsing text: some StringProtocol) {
        if let v4 = Self.parseIPv4(text) {
            self.init(ipv4: v4)
        } else if let (h, l) = Self.parseIPv6(text) {
            self.init(high: h, low: l)
        } else {
            return nil
        }
    }

    static func parseIPv4(_ text: some StringProtocol) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                part.count == 1 || part.first != "0", let octet = UInt32(part), octet <= 255
            else { return nil }
            value = value << 8 | octet
        }
        return value
    }

    static func parseIPv6(_ text: some StringProtocol) -> (UInt64, UInt64)? {
        let string = String(text)
        guard string.contains(":"), string.count <= 45 else { return nil }
        var groups: [UInt16] = []
        var tailGroups: [UInt16] = []
        let halves = string.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func parseGroups(_ part: String, allowV4Tail: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result: [UInt16] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if allowV4Tail, index == pieces.count - 1, piece.contains(".") {
                    guard let v4 = parseIPv4(piece) else { return nil }
                    result.append(UInt16(v4 >> 16))
                    result.append(UInt16(v4 & 0xffff))
                } else {
                    guard !piece.isEmpty, piece.count <= 4, piece.allSatisfy({ $0.isHexDigit }),
                        let g = UInt16(piece, radix: 16)
                    else { return nil }
                    result.append(g)
                }
            }
            return result
        }
        if halves.count == 2 {
            guard let head = parseGroups(halves[0], allowV4Tail: false),
                let tail = parseGroups(halves[1], allowV4Tail: true), head.count + tail.count <= 7
            else { return nil }
            groups = head
            tailGroups = tail
            groups += Array(repeating: 0, count: 8 - head.count - tail.count) + tailGroups
        } else {
            guard let all = parseGroups(string, allowV4Tail: true), all.count == 8 else { return nil }
            groups = all
        }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for i in 0..<4 { high = high << 16 | UInt64(groups[i]) }
        for i in 4..<8 { low = low << 16 | UInt64(groups[i]) }
        return (high, low)
    }

    public var description: String {
        if isIPv4Mapped {
            let v = UInt32(truncatingIfNeeded: low)
            return "\(v >> 24).\((v >> 16) & 0xff).\((v >> 8) & 0xff).\(v & 0xff)"
        }
        var groups: [UInt16] = []
        for shift in stride(from: 48, through: 0, by: -16) { groups.append(UInt16(truncatingIfNeeded: high >> UInt64(shift))) }
        for shift in stride(from: 48, through: 0, by: -16) { groups.append(UInt16(truncatingIfNeeded: low >> UInt64(shift))) }
        // RFC 5952: the longest run (2+) of zero groups becomes "::".
        var bestStart = -1
        var bestLength = 1
        var i = 0
        while i < 8 {
            guard groups[i] == 0 else {
                i += 1
                continue
            }
            var j = i
            while j < 8 && groups[j] == 0 { j += 1 }
            if j - i > bestLength {
                bestStart = i
                bestLength = j - i
            }
            i = j
        }
        guard bestStart >= 0 else { return groups.map { String($0, radix: 16) }.joined(separator: ":") }
        let head = groups[..<bestStart].map { String($0, radix: 16) }.joined(separator: ":")
        let tail = groups[(bestStart + bestLength)...].map { String($0, radix: 16) }.joined(separator: ":")
        return head + "::" + tail
    }
}
