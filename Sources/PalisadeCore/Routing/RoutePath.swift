/// The path as routes see it: percent-encoded unreserved characters (RFC 3986 2.3: `%61` is `a`)
/// decoded, so `/%61dmin/` matches a route for `/admin/` exactly as the app will read it. Paths
/// without `%` (nearly all) are returned as they are, without allocating.
enum RoutePath {
    /// The path of a request target, without its query: origin-form as is, absolute-form without
    /// scheme and authority, and `*` (OPTIONS) as `/`.
    static func path(of uri: String) -> Substring {
        // `OPTIONS *` asks about the server as a whole; it is routed like the root path.
        let utf8 = uri.utf8
        if utf8.count == 1 && utf8.first == UInt8(ascii: "*") { return "/" }
        var target = Substring(uri)
        if utf8.first != UInt8(ascii: "/") {
            // absolute-form: drop scheme and authority
            if let schemeEnd = target.range(of: "://") {
                let afterScheme = target[schemeEnd.upperBound...]
                target = afterScheme.firstIndex(of: "/").map { afterScheme[$0...] } ?? "/"
            }
        }
        if let query = target.utf8.firstIndex(of: UInt8(ascii: "?")) { return target[..<query] }
        return target
    }

    static func forMatching(_ path: Substring) -> Substring {
        guard path.utf8.contains(UInt8(ascii: "%")) else { return path }
        var out: [UInt8] = []
        out.reserveCapacity(path.utf8.count)
        let bytes = Array(path.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count, let high = hex(bytes[i + 1]), let low = hex(bytes[i + 2]) {
                let decoded = high << 4 | low
                if isUnreserved(decoded) {
                    out.append(decoded)
                    i += 3
                    continue
                }
            }
            out.append(bytes[i])
            i += 1
        }
        return Substring(String(decoding: out, as: UTF8.self))
    }

    private static func hex(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - 0x30
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - 0x61 + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - 0x41 + 10
        default: return nil
        }
    }

    private static func isUnreserved(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b == 0x2d || b == 0x2e
            || b == 0x5f || b == 0x7e
    }
}
