import Foundation

/// Decoding of signatures and keys as senders write them, and a constant-time comparison.
enum SignatureCoding {
    static func hex<S: StringProtocol>(_ text: S) -> [UInt8]? {
        // Decoded straight from the string's own bytes into an array of the final size: this runs
        // for every signed request, and copying the text into an array first was most of its cost.
        if let decoded = text.utf8.withContiguousStorageIfAvailable({ hex(UnsafeRawBufferPointer($0)) }) {
            return decoded
        }
        return Array(text.utf8).withUnsafeBytes { hex($0) }
    }

    private static func hex(_ digits: UnsafeRawBufferPointer) -> [UInt8]? {
        guard !digits.isEmpty, digits.count % 2 == 0 else { return nil }
        var valid = true
        let out = [UInt8](unsafeUninitializedCapacity: digits.count / 2) { bytes, initialized in
            for i in 0..<(digits.count / 2) {
                guard let high = nibble(digits[2 * i]), let low = nibble(digits[2 * i + 1]) else {
                    valid = false
                    return
                }
                bytes[i] = high << 4 | low
                initialized = i + 1
            }
        }
        return valid ? out : nil
    }

    private static func nibble(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: return b - 0x30
        case 0x61...0x66: return b - 0x61 + 10
        case 0x41...0x46: return b - 0x41 + 10
        default: return nil
        }
    }

    static func base64<S: StringProtocol>(_ text: S) -> [UInt8]? {
        var s = String(text)
        let remainder = s.utf8.count % 4
        if remainder != 0 { s += String(repeating: "=", count: 4 - remainder) }
        return Data(base64Encoded: s).map(Array.init)
    }

    static func base64url<S: StringProtocol>(_ text: S) -> [UInt8]? {
        base64(String(text).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/"))
    }

    /// Equal length and equal bytes, in time that depends only on the length.
    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<a.count { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}
