/// Request ids: 128 random bits as 32 lower-case hex digits. One generator per event loop
/// (xoshiro256**, seeded from the system's CSPRNG) so an id costs no syscall and no lock.
/// Ids are correlation handles, not secrets, so a fast non-cryptographic generator is enough.
struct RequestIDGenerator {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    init() {
        var system = SystemRandomNumberGenerator()
        state = (system.next(), system.next(), system.next(), system.next() | 1)
    }

    private mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    mutating func make() -> String {
        let high = next()
        let low = next()
        return String(unsafeUninitializedCapacity: 32) { buffer in
            let digits: StaticString = "0123456789abcdef"
            digits.withUTF8Buffer { hex in
                for i in 0..<16 { buffer[i] = hex[Int((high >> UInt64(60 - 4 * i)) & 0xf)] }
                for i in 0..<16 { buffer[16 + i] = hex[Int((low >> UInt64(60 - 4 * i)) & 0xf)] }
            }
            return 32
        }
    }

    /// A client-supplied id is kept when it is 1-128 characters of [A-Za-z0-9._:-], so it can be
    /// logged and echoed without escaping and cannot smuggle anything into a log line.
    static func isValid(_ id: String) -> Bool {
        let utf8 = id.utf8
        guard !utf8.isEmpty, utf8.count <= 128 else { return false }
        return utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b == 0x2d
                || b == 0x2e || b == 0x5f || b == 0x3a
        }
    }
}
