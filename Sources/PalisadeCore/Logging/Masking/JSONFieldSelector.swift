/// Which JSON values are replaced whole: a `fields` entry is either a name (`tax_id`, any object
/// key at any depth with that name) or a simple path from the root (`$.payer.document`,
/// `$.items[*].card`, `$.items[0].card`, `$['odd key']`). Names and path keys compare like secret
/// names: case-insensitively, with '-' and '_' ignored.
struct JSONFieldSelector: Sendable {
    enum Segment: Sendable, Equatable {
        case key([UInt8])  // normalized
        case anyIndex
        case index(Int)
    }

    let names: SecretNameSet
    let paths: [[Segment]]
    /// Bit d set when some path has depth d (paths deeper than 63 are never matched).
    let depthMask: UInt64

    init(fields: [String]) {
        var names: [String] = []
        var paths: [[Segment]] = []
        var mask: UInt64 = 0
        for f in fields {
            if f.hasPrefix("$") {
                if let path = Self.parsePath(Array(f.utf8)), !path.isEmpty, path.count < 64 {
                    paths.append(path)
                    mask |= 1 << UInt64(path.count)
                }
            } else {
                names.append(f)
            }
        }
        self.names = SecretNameSet(names)
        self.paths = paths
        self.depthMask = mask
    }

    static func normalize(_ bytes: some Sequence<UInt8>, into out: inout [UInt8]) {
        for b in bytes where b != UInt8(ascii: "-") && b != UInt8(ascii: "_") { out.append(MaskASCII.lower(b)) }
    }

    /// `$.a.b[*].c`, `$.a[2]`, `$['a b']`, `$["a"]`; nil when malformed (the field is then ignored).
    static func parsePath(_ s: [UInt8]) -> [Segment]? {
        var segs: [Segment] = []
        var k = 1
        while k < s.count {
            switch s[k] {
            case UInt8(ascii: "."):
                k += 1
                var key: [UInt8] = []
                let start = k
                while k < s.count && s[k] != UInt8(ascii: ".") && s[k] != UInt8(ascii: "[") { k += 1 }
                guard k > start else { return nil }
                normalize(s[start..<k], into: &key)
                segs.append(.key(key))
            case UInt8(ascii: "["):
                k += 1
                guard k < s.count else { return nil }
                if s[k] == UInt8(ascii: "*") {
                    segs.append(.anyIndex)
                    k += 1
                } else if s[k] == UInt8(ascii: "'") || s[k] == UInt8(ascii: "\"") {
                    let q = s[k]
                    k += 1
                    let start = k
                    while k < s.count && s[k] != q { k += 1 }
                    guard k < s.count else { return nil }
                    var key: [UInt8] = []
                    normalize(s[start..<k], into: &key)
                    segs.append(.key(key))
                    k += 1
                } else {
                    var n = 0
                    let start = k
                    while k < s.count && MaskASCII.isDigit(s[k]) && k - start < 9 {
                        n = n * 10 + Int(s[k] - 0x30)
                        k += 1
                    }
                    guard k > start else { return nil }
                    segs.append(.index(n))
                }
                guard k < s.count && s[k] == UInt8(ascii: "]") else { return nil }
                k += 1
            default:
                return nil
            }
        }
        return segs
    }
}

/// The parser's position in the document: one frame per open container.
struct JSONFrame {
    var isObject: Bool
    /// The current key of an object frame, normalized, is `keys[keyStart..<keyEnd]`.
    var keyStart: Int
    var keyEnd: Int
    /// The current element index of an array frame.
    var index: Int
}

extension JSONFieldSelector {
    func matchesPath(_ frames: [JSONFrame], keys: [UInt8]) -> Bool {
        let depth = frames.count
        guard depth < 64, (depthMask >> UInt64(depth)) & 1 != 0 else { return false }
        outer: for path in paths where path.count == depth {
            for (seg, frame) in zip(path, frames) {
                switch seg {
                case .anyIndex:
                    if frame.isObject { continue outer }
                case .index(let n):
                    if frame.isObject || frame.index != n { continue outer }
                case .key(let key):
                    guard frame.isObject, frame.keyEnd - frame.keyStart == key.count else { continue outer }
                    for (a, b) in zip(key, keys[frame.keyStart..<frame.keyEnd]) where a != b { continue outer }
                }
            }
            return true
        }
        return false
    }
}
