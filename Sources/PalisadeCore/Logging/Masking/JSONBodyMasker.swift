/// JSON body masking. Values under `fields` (see `JSONFieldSelector`) and under keys that are
/// secret names (class `secret_query`) are replaced whole by `"[masked]"` — a string, a number or a
/// whole object/array alike (`null` is kept: an absent value discloses nothing). Every other string
/// (keys included) is unescaped, run through the masker and, only if something was masked,
/// re-escaped; a number the masker changes (a card number written as a number) becomes a string.
///
/// The log keeps only the first `max_bytes` of a body, so input that simply ends early is
/// normal: what was parsed is kept, masked; of a cut-off string the last (cut) word is dropped,
/// and a number running into the cut is dropped, since a partial value matches no rule.
/// Input that is not JSON (a syntax error, nesting deeper than 512) is masked as free text.
struct JSONBodyMasker: Sendable {
    static let maxDepth = 512

    let masker: PIIMasker
    let selector: JSONFieldSelector

    init(masker: PIIMasker, fields: [String]) {
        self.masker = masker
        self.selector = JSONFieldSelector(fields: fields)
    }

    func mask(_ body: UnsafeRawBufferPointer) -> [UInt8] {
        var out: [UInt8] = []
        guard let raw = body.baseAddress, body.count > 0 else { return out }
        out.reserveCapacity(body.count + 64)
        var parser = JSONMaskingParser(
            p: raw.assumingMemoryBound(to: UInt8.self), n: body.count, masker: masker, selector: selector)
        if !parser.run(into: &out) {
            out.removeAll(keepingCapacity: true)
            masker.maskBytes(body, into: &out)
        }
        return out
    }
}

/// A single-pass, non-recursive JSON reader that writes the masked document as it goes. Deep
/// nesting costs a frame in an array, never stack.
struct JSONMaskingParser {
    enum Expect { case value, firstValueOrEnd, firstKeyOrEnd, key, colon, commaOrEnd, done }

    let p: UnsafePointer<UInt8>
    let n: Int
    let masker: PIIMasker
    let selector: JSONFieldSelector
    var i = 0
    var frames: [JSONFrame] = []
    var keys: [UInt8] = []
    var decoded: [UInt8] = []
    var masked: [UInt8] = []

    init(p: UnsafePointer<UInt8>, n: Int, masker: PIIMasker, selector: JSONFieldSelector) {
        self.p = p
        self.n = n
        self.masker = masker
        self.selector = selector
    }

    /// False when the input is not JSON; true when it is, or is a prefix of some JSON document.
    mutating func run(into out: inout [UInt8]) -> Bool {
        var expect = Expect.value
        var maskNext = false
        while true {
            while i < n && (p[i] == 0x20 || p[i] == 0x0A || p[i] == 0x0D || p[i] == 0x09) {
                out.append(p[i])
                i += 1
            }
            guard i < n else { return true }
            let c = p[i]
            switch expect {
            case .done:
                return false
            case .colon:
                guard c == UInt8(ascii: ":") else { return false }
                out.append(c)
                i += 1
                expect = .value
            case .firstValueOrEnd where c == UInt8(ascii: "]"), .firstKeyOrEnd where c == UInt8(ascii: "}"):
                out.append(c)
                i += 1
                pop()
                expect = frames.isEmpty ? .done : .commaOrEnd
            case .firstValueOrEnd:
                expect = .value
                maskNext = selector.matchesPath(frames, keys: keys)
            case .firstKeyOrEnd, .key:
                guard c == UInt8(ascii: "\"") else { return false }
                guard readString(into: &out, isKey: true) else { return false }
                maskNext = keyIsMasked() || selector.matchesPath(frames, keys: keys)
                expect = .colon
            case .commaOrEnd:
                let top = frames[frames.count - 1]
                if c == UInt8(ascii: ",") {
                    out.append(c)
                    i += 1
                    if top.isObject {
                        expect = .key
                    } else {
                        frames[frames.count - 1].index += 1
                        expect = .value
                        maskNext = selector.matchesPath(frames, keys: keys)
                    }
                } else if (c == UInt8(ascii: "}") && top.isObject) || (c == UInt8(ascii: "]") && !top.isObject) {
                    out.append(c)
                    i += 1
                    pop()
                    expect = frames.isEmpty ? .done : .commaOrEnd
                } else {
                    return false
                }
            case .value:
                if maskNext && c != UInt8(ascii: "n") {
                    guard skipValue() else { return false }
                    out.append("\"[masked]\"")
                    maskNext = false
                    expect = frames.isEmpty ? .done : .commaOrEnd
                    continue
                }
                maskNext = false
                switch c {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    guard frames.count < JSONBodyMasker.maxDepth else { return false }
                    out.append(c)
                    i += 1
                    let isObject = c == UInt8(ascii: "{")
                    frames.append(JSONFrame(isObject: isObject, keyStart: keys.count, keyEnd: keys.count, index: 0))
                    expect = isObject ? .firstKeyOrEnd : .firstValueOrEnd
                    continue
                case UInt8(ascii: "\""):
                    guard readString(into: &out, isKey: false) else { return false }
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    readNumber(into: &out)
                case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
                    guard readLiteral(into: &out) else { return false }
                default:
                    return false
                }
                expect = frames.isEmpty ? .done : .commaOrEnd
            }
        }
    }

    private mutating func pop() {
        let f = frames.removeLast()
        if f.isObject { keys.removeLast(keys.count - f.keyStart) }
    }

    /// The key just read (in `decoded`) is a secret name or a listed field name.
    private func keyIsMasked() -> Bool {
        decoded.withUnsafeBufferPointer { name in
            (masker.enabled.has(.secretQuery) && masker.secretNames.contains(name)) || selector.names.contains(name)
        }
    }

    /// Reads the string at `i` (an opening quote), unescaping into `decoded`. Values and keys go
    /// through the masker; a key also becomes the top frame's current key. False on a bad escape.
    private mutating func readString(into out: inout [UInt8], isKey: Bool) -> Bool {
        let start = i
        // The usual string has no escape and closes before the cut: its bytes are its text, so
        // they are masked straight from the input into `out` (a replacement never needs an
        // escape, and what the masker keeps is the input as it was). Only a key is copied, for
        // the field rules.
        var end = i + 1
        while end < n && p[end] != UInt8(ascii: "\"") && p[end] != UInt8(ascii: "\\") { end += 1 }
        if end < n && p[end] == UInt8(ascii: "\"") {
            let text = UnsafeRawBufferPointer(start: p + start + 1, count: end - start - 1)
            i = end + 1
            if isKey {
                decoded.removeAll(keepingCapacity: true)
                decoded.append(contentsOf: text)
                noteKey()
            }
            out.append(UInt8(ascii: "\""))
            masker.maskBytes(text, into: &out)
            out.append(UInt8(ascii: "\""))
            return true
        }
        i += 1
        decoded.removeAll(keepingCapacity: true)
        var closed = false
        while i < n {
            // A run of plain bytes is copied whole: most of a string is such a run.
            let runStart = i
            while i < n && p[i] != UInt8(ascii: "\"") && p[i] != UInt8(ascii: "\\") { i += 1 }
            if i > runStart { decoded.append(contentsOf: UnsafeBufferPointer(start: p + runStart, count: i - runStart)) }
            guard i < n else { break }
            if p[i] == UInt8(ascii: "\"") {
                i += 1
                closed = true
                break
            }
            guard i + 1 < n else {
                i = n
                break
            }
            let e = p[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(e)
            case UInt8(ascii: "b"): decoded.append(0x08)
            case UInt8(ascii: "f"): decoded.append(0x0C)
            case UInt8(ascii: "n"): decoded.append(0x0A)
            case UInt8(ascii: "r"): decoded.append(0x0D)
            case UInt8(ascii: "t"): decoded.append(0x09)
            case UInt8(ascii: "u"):
                guard let unit = hex4(at: i) else {
                    if i + 4 > n {  // cut off inside the escape
                        i = n
                        break
                    }
                    return false
                }
                i += 4
                var scalar = UInt32(unit)
                if (0xD800..<0xDC00).contains(unit), i + 6 <= n, p[i] == UInt8(ascii: "\\"), p[i + 1] == UInt8(ascii: "u"),
                    let low = hex4(at: i + 2), (0xDC00..<0xE000).contains(low)
                {
                    scalar = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                    i += 6
                }
                appendUTF8(Unicode.Scalar(scalar) ?? "\u{FFFD}")
            default:
                return false
            }
        }
        if isKey { noteKey() }
        masked.removeAll(keepingCapacity: true)
        let changed = decoded.withUnsafeBytes { masker.maskBytes($0, into: &masked) }
        if !closed {
            // Cut off by the log's size limit: the last word may be the front of an address or
            // number that no rule can recognise yet (`alice@exa`), so it is dropped.
            Self.dropCutWord(&masked)
            out.append(UInt8(ascii: "\""))
            JSONEscaping.append(masked, to: &out)
        } else if changed {
            out.append(UInt8(ascii: "\""))
            JSONEscaping.append(masked, to: &out)
            out.append(UInt8(ascii: "\""))
        } else {
            out.append(contentsOf: UnsafeBufferPointer(start: p + start, count: i - start))
        }
        return true
    }

    /// The key just read (in `decoded`) becomes the top frame's current key.
    private mutating func noteKey() {
        guard !frames.isEmpty else { return }
        let top = frames.count - 1
        keys.removeLast(keys.count - frames[top].keyStart)
        JSONFieldSelector.normalize(decoded, into: &keys)
        frames[top].keyEnd = keys.count
    }

    private func hex4(at k: Int) -> UInt16? {
        guard k + 4 <= n else { return nil }
        var v: UInt16 = 0
        for j in k..<k + 4 {
            guard let h = MaskASCII.hexValue(p[j]) else { return nil }
            v = v << 4 | UInt16(h)
        }
        return v
    }

    private mutating func appendUTF8(_ s: Unicode.Scalar) {
        for u in UTF8.encode(s)! { decoded.append(u) }
    }

    /// Numbers are read loosely (digits, sign, point, exponent) and masked as text; one the
    /// masker changes is written as a string so the document stays JSON.
    private mutating func readNumber(into out: inout [UInt8]) {
        let start = i
        while i < n {
            switch p[i] {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
                UInt8(ascii: "e"), UInt8(ascii: "E"):
                i += 1
                continue
            default: break
            }
            break
        }
        // A number running into the end of a cut document may be the front of a longer one
        // (a card number as digits): it is dropped, like the last word of a cut string.
        if i == n && !frames.isEmpty { return }
        masked.removeAll(keepingCapacity: true)
        let raw = UnsafeRawBufferPointer(start: p + start, count: i - start)
        if masker.maskBytes(raw, into: &masked) {
            out.append(UInt8(ascii: "\""))
            JSONEscaping.append(masked, to: &out)
            out.append(UInt8(ascii: "\""))
        } else {
            out.append(contentsOf: UnsafeBufferPointer(start: p + start, count: i - start))
        }
    }

    private mutating func readLiteral(into out: inout [UInt8]) -> Bool {
        for lit: StaticString in ["true", "false", "null"] {
            let len = lit.utf8CodeUnitCount
            let avail = min(len, n - i)
            guard memcmpEqual(lit.utf8Start, p + i, avail) else { continue }
            guard avail == len || i + avail == n else { return false }
            out.append(contentsOf: UnsafeBufferPointer(start: p + i, count: avail))
            i += avail
            return true
        }
        return false
    }

    private func memcmpEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
        for k in 0..<count where a[k] != b[k] { return false }
        return true
    }

    /// Skips the value at `i` without writing it (it is replaced whole). Containers are skipped by
    /// depth counting, strings by escape-aware scanning; a cut-off value is skipped to the end.
    private mutating func skipValue() -> Bool {
        let c = p[i]
        switch c {
        case UInt8(ascii: "\""):
            skipString()
            return true
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            while i < n {
                let b = p[i]
                if b == UInt8(ascii: "\"") {
                    skipString()
                    continue
                }
                if b == UInt8(ascii: "{") || b == UInt8(ascii: "[") { depth += 1 }
                if b == UInt8(ascii: "}") || b == UInt8(ascii: "]") {
                    depth -= 1
                    if depth == 0 {
                        i += 1
                        return true
                    }
                }
                i += 1
            }
            return true
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "t"), UInt8(ascii: "f"):
            while i < n {
                switch p[i] {
                case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x0A, 0x0D, 0x09: return true
                default: i += 1
                }
            }
            return true
        default:
            return false
        }
    }

    private mutating func skipString() {
        i += 1
        while i < n {
            let b = p[i]
            if b == UInt8(ascii: "\\") {
                i += 2
                continue
            }
            i += 1
            if b == UInt8(ascii: "\"") { return }
        }
        i = min(i, n)
    }

    /// Removes the trailing run of bytes that could belong to a personal value (letters, digits,
    /// `@ . + - _ % ( )`), i.e. the word the cut went through.
    static func dropCutWord(_ s: inout [UInt8]) {
        while let last = s.last {
            switch last {
            case UInt8(ascii: "@"), UInt8(ascii: "."), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "_"),
                UInt8(ascii: "%"), UInt8(ascii: "("), UInt8(ascii: ")"):
                s.removeLast()
            case _ where MaskASCII.isAlnum(last) || last >= 0x80:
                s.removeLast()
            default:
                return
            }
        }
    }
}
