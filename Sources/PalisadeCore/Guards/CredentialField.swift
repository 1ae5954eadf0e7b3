import NIOHTTP1

/// Reads a header that carries a credential, a signature or a delivery id, which must arrive in
/// exactly one field. With two (`Authorization` twice, or `authorization` and `AUTHORIZATION`),
/// a guard would verify one while the app, or a framework in front of it, might read the other:
/// the value checked must be the only value there is.
enum CredentialField {
    enum Lookup {
        case absent
        case one(String)
        case repeated
    }

    /// The single value of `name` (lower case), matched in any case.
    static func lookup(_ name: String, in headers: HTTPHeaders) -> Lookup {
        var found: String?
        for (fieldName, value) in headers where equalsIgnoringCase(fieldName, lowercase: name) {
            if found != nil { return .repeated }
            found = value
        }
        return found.map(Lookup.one) ?? .absent
    }

    /// Whether `name` (lower case) appears in more than one field.
    static func isRepeated(_ name: String, in headers: HTTPHeaders) -> Bool {
        if case .repeated = lookup(name, in: headers) { return true }
        return false
    }

    /// The first of `names` (lower case) that appears in more than one field.
    static func firstRepeated(_ names: [String], in headers: HTTPHeaders) -> String? {
        names.first { isRepeated($0, in: headers) }
    }

    /// ASCII case-insensitive equality against a lower-case name, without allocating.
    @inline(__always)
    static func equalsIgnoringCase(_ value: String, lowercase: String) -> Bool {
        guard value.utf8.count == lowercase.utf8.count else { return false }
        for (a, b) in zip(value.utf8, lowercase.utf8) where ((a >= 0x41 && a <= 0x5a) ? a | 0x20 : a) != b {
            return false
        }
        return true
    }
}
