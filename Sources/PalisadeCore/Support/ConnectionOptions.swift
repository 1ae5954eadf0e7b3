/// Reads the comma-separated options of a `Connection` field value in place (RFC 9110 7.6.1),
/// without lowercasing or splitting it into new strings.
enum ConnectionOptions {
    /// Calls `body` with each non-empty option, trimmed of spaces and tabs, in order, until it
    /// returns false.
    static func forEach(_ value: String, _ body: (Substring) -> Bool) {
        var rest = Substring(value)
        while !rest.isEmpty {
            let comma = rest.utf8.firstIndex(of: UInt8(ascii: ",")) ?? rest.endIndex
            let option = rest[..<comma].trimmingASCIISpaces()
            rest = comma == rest.endIndex ? "" : rest[rest.index(after: comma)...]
            if !option.isEmpty, !body(option) { return }
        }
    }

    /// True when `value` lists `option` (compared ignoring ASCII case; `option` is lower case).
    static func contains(_ value: String, _ option: StaticString) -> Bool {
        var found = false
        forEach(value) { listed in
            found = ASCII.equalsLowercased(listed, option)
            return !found
        }
        return found
    }
}
