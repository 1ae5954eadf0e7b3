/// The one reading of a request path that routes match, guards see and the app is sent.
///
/// Apps read paths in ways a byte-exact matcher does not: nginx merges `//`, Tomcat and Spring
/// drop `;params` (and read `..;` as `..`), some frameworks trim a trailing `.` or space from a
/// segment, all decode `%61` as `a`. Each of those lets a request that the app reads as
/// `/internal/x` miss a route for `/internal/`. So before routing the path is brought to a
/// single form, and when that form differs from what the client sent, the app is sent that form:
/// what was guarded is what the app reads. Readings that cannot be made unambiguous are refused.
///
/// The rules, in the spirit of Envoy's `normalize_path`, `merge_slashes` and
/// `path_with_escaped_slashes_action: REJECT_REQUEST`:
/// - `%XX` of an unreserved character (RFC 3986 2.3) is decoded; other escapes stay as sent;
/// - empty segments are merged (`//internal/x` is `/internal/x`); a trailing `/` is kept;
/// - refused with `path_parameter`: `;` or `%3B`, in any segment;
/// - refused with `invalid_path`: a `.` or `..` segment (also as `%2e`); `%2F`, `%5C`; an escaped
///   control character (`%00`-`%1F`, `%7F`); a `%` not followed by two hex digits;
/// - refused with `ambiguous_path_segment`: a segment ending in `.` (`/github.`), or starting or
///   ending with an escaped space (`/github%20`).
enum PathNormalizer {
    static let pathParameter = RejectionCode("path_parameter", status: .badRequest)
    static let invalidPath = RejectionCode("invalid_path", status: .badRequest)
    static let ambiguousSegment = RejectionCode("ambiguous_path_segment", status: .badRequest)

    struct Target: Equatable {
        /// The normal path, without the query: what routes match and guards see.
        var path: Substring
        /// The origin-form target to send the app when normalising changed the path (the query
        /// kept as sent); nil when the target goes on as the client sent it.
        var rewritten: String?
    }

    /// `target` is an origin-form target (`/p?q`), or `*`; absolute-form must have been turned
    /// into origin-form first (RequestValidator does).
    static func normalize(_ target: String) -> Result<Target, RejectionCode> {
        let path = RoutePath.path(of: target)
        // Fast path, by far the common case: one pass over the bytes, no allocation.
        guard needsWork(path.utf8) else { return .success(Target(path: path, rewritten: nil)) }
        switch normalizeSlowly(path.utf8) {
        case .failure(let code):
            return .failure(code)
        case .success(let normal):
            guard let normal else { return .success(Target(path: path, rewritten: nil)) }
            let normalPath = String(decoding: normal, as: UTF8.self)
            let query = target[path.endIndex...]
            return .success(Target(path: Substring(normalPath), rewritten: normalPath + query))
        }
    }

    /// False when the path is already normal: no `%`, no `;`, no `//`, and no segment ending in
    /// `.` (which covers `.` and `..` segments). Literal spaces, controls and `\` never get here:
    /// RequestValidator refuses them in the request target.
    @inline(__always)
    static func needsWork(_ utf8: Substring.UTF8View) -> Bool {
        var previous: UInt8 = 0
        for b in utf8 {
            switch b {
            case UInt8(ascii: "%"), UInt8(ascii: ";"):
                return true
            case UInt8(ascii: "/") where previous == UInt8(ascii: "/") || previous == UInt8(ascii: "."):
                return true
            default:
                break
            }
            previous = b
        }
        return previous == UInt8(ascii: ".")
    }

    /// The normal path's bytes, nil when they equal the input, or why the path is refused.
    static func normalizeSlowly(_ utf8: Substring.UTF8View) -> Result<[UInt8]?, RejectionCode> {
        let bytes = Array(utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var segment: [UInt8] = []
        var trailingSlash = false
        var start = 0
        // Segments are what lies between slashes; the bytes before the first `/` (none, in
        // origin-form) are read as a segment too.
        if bytes.first == UInt8(ascii: "/") { start = 1 }
        while start <= bytes.count {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "/")) ?? bytes.count
            if start == end {
                // An empty segment: merged, except that the last one is a trailing slash.
                trailingSlash = end == bytes.count
            } else {
                if case .failure(let code) = decodeSegment(bytes[start..<end], into: &segment) { return .failure(code) }
                out.append(UInt8(ascii: "/"))
                out.append(contentsOf: segment)
                trailingSlash = false
            }
            start = end + 1
        }
        if out.isEmpty || trailingSlash { out.append(UInt8(ascii: "/")) }
        return .success(out.elementsEqual(bytes) ? nil : out)
    }

    /// Decodes unreserved escapes of one non-empty segment into `segment`, then refuses the
    /// segment if some app could read it as another one.
    private static func decodeSegment(_ raw: ArraySlice<UInt8>, into segment: inout [UInt8]) -> Result<Void, RejectionCode> {
        segment.removeAll(keepingCapacity: true)
        var i = raw.startIndex
        while i < raw.endIndex {
            let b = raw[i]
            if b == UInt8(ascii: ";") { return .failure(pathParameter) }
            guard b == UInt8(ascii: "%") else {
                segment.append(b)
                i += 1
                continue
            }
            guard i + 2 < raw.endIndex, let high = hexValue(raw[i + 1]), let low = hexValue(raw[i + 2])
            else { return .failure(invalidPath) }
            let decoded = high << 4 | low
            switch decoded {
            case UInt8(ascii: ";"):
                return .failure(pathParameter)
            case UInt8(ascii: "/"), UInt8(ascii: "\\"), 0x00..<0x20, 0x7f:
                // An escaped separator is a segment boundary to some apps and not to others.
                return .failure(invalidPath)
            default:
                if isUnreserved(decoded) {
                    segment.append(decoded)
                } else {
                    segment.append(contentsOf: raw[i..<(i + 3)])
                }
            }
            i += 3
        }
        if segment.last == UInt8(ascii: ".") {
            // `.` and `..` are dot segments (RFC 3986 5.2.4); refusing them spares agreeing with the
            // app on how they combine with merged slashes. Any other trailing dot is trimmed by some
            // frameworks, so `/github.` would reach the app as `/github`.
            let isDotSegment = segment.count == 1 || (segment.count == 2 && segment.first == UInt8(ascii: "."))
            return .failure(isDotSegment ? invalidPath : ambiguousSegment)
        }
        // Frameworks that trim path tokens (Spring's trimTokens, IIS) read `/github%20` as `/github`.
        let space: [UInt8] = [UInt8(ascii: "%"), UInt8(ascii: "2"), UInt8(ascii: "0")]
        if segment.starts(with: space) || segment.suffix(3).elementsEqual(space) {
            return .failure(ambiguousSegment)
        }
        return .success(())
    }

    @inline(__always)
    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - 0x30
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - 0x61 + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - 0x41 + 10
        default: return nil
        }
    }

    /// RFC 3986 2.3: ALPHA, DIGIT, `-`, `.`, `_`, `~`.
    @inline(__always)
    private static func isUnreserved(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b == 0x2d || b == 0x2e
            || b == 0x5f || b == 0x7e
    }
}
