/// Reads the comma-separated options of a `Connection` field value in place (RFC 9110 7.6.1),
/// without lowercasing or splitting it into new strings.
enum ConnectionOptions {
    /// True when `value` lists `option` (compared ignoring ASCII case; `option` is lower case).
    static func contains(_ value: String, _ option: StaticString) -> Bool {
        let wanted = UnsafeRawBufferPointer(start: option.utf8Start, count: option.utf8CodeUnitCount)
        var rest = Substring(value)
        while !rest.isEmpty {
            let comma = rest.utf8.firstIndex(of: UInt8(ascii: ",")) ?? rest.endIndex
            let element = rest[..<comma].trimmingASCIISpaces()
            if element.utf8.count == wanted.count,
                zip(element.utf8, wanted).allSatisfy({ ($0 >= 0x41 && $0 <= 0x5a ? $0 | 0x20 : $0) == $1 })
            {
                return true
            }
            rest = comma == rest.endIndex ? "" : rest[rest.index(after: comma)...]
        }
        return false
    }
}
