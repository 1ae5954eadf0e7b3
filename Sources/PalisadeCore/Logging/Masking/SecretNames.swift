#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Parameter names whose value is a secret. Names compare case-insensitively and with '-' and '_'
/// dropped, so `api_key`, `api-key`, `API_KEY` and `apiKey` are one name. Whole names only:
/// `keyboard` or `tokenizer` are not `key` or `token`.
struct SecretNameSet: Sendable {
    /// Longest name we normalize; longer names are never secret names (and never scanned further).
    static let maxNameLength = 64

    /// All names, normalized, back to back and ordered by length; `spans[k]` locates name k.
    /// One flat buffer keeps the lookup free of nested-array indirection.
    private let flat: [UInt8]
    private let spans: [Range<Int>]
    /// `spans[byLength[n]]` are the names of normalized length n: a lookup compares only those.
    private let byLength: [Range<Int>]
    /// Bit n set when some name has normalized length n: most candidates are rejected on length alone.
    private let lengthMask: UInt64
    /// Bit (b & 63) set for the first byte b of every name: a second cheap rejection.
    private let firstByteMask: UInt64

    init(_ list: [String]) {
        var names: [[UInt8]] = []
        for s in list {
            var n: [UInt8] = []
            for b in s.utf8 where b != 0x2D && b != 0x5F { n.append(MaskASCII.lower(b)) }
            guard !n.isEmpty, n.count < 64, !names.contains(n) else { continue }
            names.append(n)
        }
        names.sort { $0.count < $1.count }
        var flat: [UInt8] = []
        var spans: [Range<Int>] = []
        var byLength = [Range<Int>](repeating: 0..<0, count: Self.maxNameLength + 1)
        var mask: UInt64 = 0
        var first: UInt64 = 0
        for n in names {
            let k = spans.count
            byLength[n.count] = byLength[n.count].isEmpty ? k..<k + 1 : byLength[n.count].lowerBound..<k + 1
            spans.append(flat.count..<flat.count + n.count)
            flat += n
            mask |= 1 << UInt64(n.count)
            first |= 1 << UInt64(n[0] & 63)
        }
        self.flat = flat
        self.spans = spans
        self.byLength = byLength
        self.lengthMask = mask
        self.firstByteMask = first
    }

    var isEmpty: Bool { spans.isEmpty }

    /// `name` is raw bytes (already percent-decoded where that applies). It is normalized once
    /// into a stack buffer, then compared with the names of its length only.
    func contains(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        guard !spans.isEmpty, name.count <= Self.maxNameLength else { return false }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.maxNameLength) { normal in
            var len = 0
            for b in name where b != 0x2D && b != 0x5F {
                normal[len] = MaskASCII.lower(b)
                len += 1
            }
            guard len > 0, len < 64, (lengthMask >> UInt64(len)) & 1 != 0, (firstByteMask >> UInt64(normal[0] & 63)) & 1 != 0
            else { return false }
            return flat.withUnsafeBufferPointer { f in
                for k in byLength[len] where memcmp(f.baseAddress! + spans[k].lowerBound, normal.baseAddress!, len) == 0 {
                    return true
                }
                return false
            }
        }
    }
}
