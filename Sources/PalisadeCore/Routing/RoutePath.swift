/// The path part of a request target. PathNormalizer brings it to the form routes match.
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

    /// The query of a request target, without its `?`; nil when it has none.
    static func query(of uri: String) -> Substring? {
        guard let mark = uri.utf8.firstIndex(of: UInt8(ascii: "?")) else { return nil }
        return Substring(uri)[uri.utf8.index(after: mark)...]
    }
}
