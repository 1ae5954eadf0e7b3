import Foundation

/// An address block such as `10.0.0.0/8`, `2001:db8::/32` or a single address (`/32`, `/128` implied).
public struct CIDRBlock: Sendable, Hashable, CustomStringConvertible {
    public let network: IPAddressBytes
    /// Prefix length counted over the 128-bit mapped form.
    public let prefixLength: Int
    public let text: String

    public init?(parsing raw: String) {
        let text = raw.trimmingCharacters(in: .whitespaces)
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2, let address = IPAddressBytes(parsing: parts[0]) else { return nil }
        let isV4 = IPAddressBytes.parseIPv4(parts[0]) != nil
        let maxLength = isV4 ? 32 : 128
        var length = maxLength
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].count <= 3, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
                let parsed = Int(parts[1]), parsed <= maxLength
            else { return nil }
            length = parsed
        }
        self.prefixLength = isV4 ? length + 96 : length
        let masked = Self.mask(address, prefixLength: self.prefixLength)
        // A block whose host bits are set (10.1.2.3/8) is almost always a typo; refuse it.
        guard masked == address else { return nil }
        self.network = masked
        self.text = text
    }

    /// Why `raw` is not a block, for the policy diagnostic: a bad address, a prefix length out
    /// of range, or host bits set (with the network address the writer most likely meant).
    static func problem(_ raw: String) -> String {
        let text = raw.trimmingCharacters(in: .whitespaces)
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddressBytes(parsing: parts[0]) else {
            return "'\(text)' is not an IP address or CIDR block (e.g. 10.0.0.0/8 or 2001:db8::/32)"
        }
        let isV4 = IPAddressBytes.parseIPv4(parts[0]) != nil
        let maxLength = isV4 ? 32 : 128
        guard parts.count == 2, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let length = Int(parts[1]),
            length <= maxLength, parts[1].count <= 3
        else {
            return "'\(text)': the prefix length must be a whole number from 0 to \(maxLength) for an IPv\(isV4 ? 4 : 6) address"
        }
        let network = mask(address, prefixLength: isV4 ? length + 96 : length)
        return "'\(text)' has host bits set after the first \(length) bits; did you mean \(network)/\(length)?"
    }

    static func mask(_ a: IPAddressBytes, prefixLength: Int) -> IPAddressBytes {
        let highBits = min(prefixLength, 64)
        let lowBits = max(prefixLength - 64, 0)
        let highMask: UInt64 = highBits == 0 ? 0 : ~UInt64(0) << UInt64(64 - highBits)
        let lowMask: UInt64 = lowBits == 0 ? 0 : ~UInt64(0) << UInt64(64 - lowBits)
        return IPAddressBytes(high: a.high & highMask, low: a.low & lowMask)
    }

    public func contains(_ address: IPAddressBytes) -> Bool {
        Self.mask(address, prefixLength: prefixLength) == network
    }

    public var description: String { text }
}

/// A list of blocks searched in order; small enough in practice that a linear scan beats a trie.
public struct CIDRSet: Sendable, Hashable {
    public let blocks: [CIDRBlock]
    public init(_ blocks: [CIDRBlock]) { self.blocks = blocks }
    public var isEmpty: Bool { blocks.isEmpty }
    public func contains(_ address: IPAddressBytes) -> Bool {
        for block in blocks where block.contains(address) { return true }
        return false
    }
}
