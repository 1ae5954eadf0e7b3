/// Parameter names whose value is a secret. Names compare case-insensitively and with '-' and '_'
/// dropped, so `api_key`, `api-key`, `API_KEY` and `apiKey` are one name. Whole names only:
/// `keyboard` or `tokenizer` are not `key` or `token`.
struct SecretNameSet: Sendable {
    /// Longest name we normalize; longer names are never secret names (and never scanned further).
    static let maxNameLength = 64

    /// All names, normalized, back to back; `spans[k]` locates name k. One flat buffer keeps the
    /// lookup free of nested-array indirection.
    private let flat: [UInt8]
    private let spans: [Range<Int>]
    /// Bit n set when some name has normalized length n: most candidates are rejected on length alone.
    private let lengthMask: UInt64
    /// Bit (b & 63) set for the first byte b of every name: a second cheap rejection.
    private let firstByteMask: UInt64

    init(_ list: [String]) {
        var flat: [UInt8] = []
        var spans: [Range<Int>] = []
        var mask: UInt64 = 0
        var first: UInt64 = 0
        for s in list {
            var n: [UInt8] = []
            for b in s.utf8 where b != 0x2D && b != 0x5F { n.append(MaskASCII.lower(b)) }
            guard !n.isEmpty, n.count < 64, !spans.contains(where: { flat[$0].elementsEqual(n) }) else { continue }
            spans.append(flat.count..<flat.count + n.count)
            flat += n
            mask |= 1 << UInt64(n.count)
            first |= 1 << UInt64(n[0] & 63)
        }
        self.flat = flat
        self.spans = spans
        self.lengthMask = mask
        self.firstByteMask = first
    }

    var isEmpty: Bool { spans.isEmpty }

    /// `name` is raw bytes (already percent-decoded where that applies).
    func contains(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        guard !spans.isEmpty, name.count <= Self.maxNameLength else { return false }
        var len = 0
        var first: UInt8 = 0
        for b in name where b != 0x2D && b != 0x5F {
            if len == 0 { first = MaskASCII.lower(b) }
            len += 1
        }
        guard len > 0, len < 64, (lengthMask >> UInt64(len)) & 1 != 0, (firstByteMask >> UInt64(first & 63)) & 1 != 0
        else { return false }
        return flat.withUnsafeBufferPointer { f in
            for span in spans where span.count == len {
                var k = span.lowerBound
                var equal = true
                for b in name where b != 0x2D && b != 0x5F {
                    if MaskASCII.lower(b) != f[k] {
                        equal = false
                        break
                    }
                    k += 1
                }
                if equal { return true }
            }
            return false
        }
    }
}
