/// `application/x-www-form-urlencoded` text (a query string or a form body), shared by
/// `PIIMasker.maskQuery` and `FormBodyMasker`.
///
/// Per `name=value` parameter: a secret name (class `secret_query`) or a listed field has its value
/// replaced whole by `[masked]`; any other value is percent-decoded for detection (`a%40b.com` is an
/// email) and, only if something in it was masked, written back re-encoded; otherwise the original
/// bytes are kept as they were.
struct URLEncodedMasking {
    let masker: PIIMasker
    /// Extra names whose values are replaced whole regardless of classes (form `fields`).
    let fields: SecretNameSet?

    func mask(_ text: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        guard let raw = text.baseAddress, text.count > 0 else { return }
        let p = raw.assumingMemoryBound(to: UInt8.self)
        let n = text.count
        out.reserveCapacity(out.count + n)
        var decoded: [UInt8] = []
        var masked: [UInt8] = []
        var s = 0
        while s <= n {
            var e = s
            while e < n && p[e] != UInt8(ascii: "&") { e += 1 }
            var eq = s
            while eq < e && p[eq] != UInt8(ascii: "=") { eq += 1 }
            if eq < e {
                out.append(contentsOf: UnsafeBufferPointer(start: p + s, count: eq + 1 - s))
                let rawName = UnsafeBufferPointer(start: p + s, count: eq - s)
                let whole: Bool
                if Self.isPlain(rawName) {
                    whole = isWhollyMasked(rawName)
                } else {
                    Self.percentDecode(rawName, into: &decoded)
                    whole = decoded.withUnsafeBufferPointer { isWhollyMasked($0) }
                }
                if whole && e > eq + 1 {
                    out.append("[masked]")
                } else {
                    maskValue(UnsafeBufferPointer(start: p + eq + 1, count: e - eq - 1), &decoded, &masked, into: &out)
                }
            } else {
                maskValue(UnsafeBufferPointer(start: p + s, count: e - s), &decoded, &masked, into: &out)
            }
            if e < n { out.append(UInt8(ascii: "&")) }
            s = e + 1
        }
    }

    private func maskValue(
        _ value: UnsafeBufferPointer<UInt8>, _ decoded: inout [UInt8], _ masked: inout [UInt8], into out: inout [UInt8]
    ) {
        guard !value.isEmpty else { return }
        if Self.isPlain(value) {
            // Nothing to decode and nothing the masker keeps would need encoding: masked in place.
            masker.maskBytes(UnsafeRawBufferPointer(value), into: &out)
            return
        }
        Self.percentDecode(value, into: &decoded)
        masked.removeAll(keepingCapacity: true)
        let changed = decoded.withUnsafeBytes { masker.maskBytes($0, into: &masked) }
        if changed {
            Self.percentEncode(masked, into: &out)
        } else {
            out.append(contentsOf: value)
        }
    }

    private func isWhollyMasked(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        (masker.enabled.has(.secretQuery) && masker.secretNames.contains(name)) || (fields?.contains(name) ?? false)
    }

    /// True when `s` decodes to itself and holds no byte `percentEncode` would change: the
    /// masker can then read it, and write into the output, as it is.
    static func isPlain(_ s: UnsafeBufferPointer<UInt8>) -> Bool {
        // `%` and `+` are among the encoded bytes, so a plain value also decodes to itself.
        for b in s where isEncoded(b) { return false }
        return true
    }

    /// The bytes `percentEncode` writes as `%XX`: anything that would change how a parameter
    /// parses, plus space, controls and non-ASCII.
    @inline(__always)
    static func isEncoded(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "&"), UInt8(ascii: "="), UInt8(ascii: "%"), UInt8(ascii: "#"), UInt8(ascii: "+"),
            UInt8(ascii: " "), 0..<0x20, 0x7F...0xFF:
            return true
        default:
            return false
        }
    }

    /// `%XX` → byte (malformed escapes kept literally); `+` → space, except a `+` that starts a
    /// number (`phone=+15551234567`, where clients often leave the plus unencoded).
    static func percentDecode(_ s: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        var k = 0
        while k < s.count {
            let b = s[k]
            if b == UInt8(ascii: "%"), k + 2 < s.count, let h = MaskASCII.hexValue(s[k + 1]), let l = MaskASCII.hexValue(s[k + 2]) {
                out.append(h << 4 | l)
                k += 3
                continue
            }
            if b == UInt8(ascii: "+") {
                let startsNumber = k + 1 < s.count && MaskASCII.isDigit(s[k + 1]) && (out.last.map { !MaskASCII.isAlnum($0) } ?? true)
                out.append(startsNumber ? b : UInt8(ascii: " "))
            } else {
                out.append(b)
            }
            k += 1
        }
    }

    /// Re-encodes masked output: the `isEncoded` bytes as `%XX`, the rest as they are.
    static func percentEncode(_ s: [UInt8], into out: inout [UInt8]) {
        let hex: StaticString = "0123456789ABCDEF"
        for b in s {
            if isEncoded(b) {
                out.append(UInt8(ascii: "%"))
                out.append(hex.utf8Start[Int(b >> 4)])
                out.append(hex.utf8Start[Int(b & 0xF)])
            } else {
                out.append(b)
            }
        }
    }
}

extension PIIMasker {
    /// Masks a query string (`a=1&token=xyz&email=a@b.com`): a parameter whose name is a secret
    /// name has its value replaced whole; every other value goes through `mask`.
    func maskQuery(_ query: String) -> String {
        var q = query
        var out: [UInt8] = []
        q.withUTF8 { URLEncodedMasking(masker: self, fields: nil).mask(UnsafeRawBufferPointer($0), into: &out) }
        return String(decoding: out, as: UTF8.self)
    }
}

/// `application/x-www-form-urlencoded` bodies: like `maskQuery`, plus `fields` names (compared
/// like secret names; a path field `$.payer.document` also matches `payer.document` and
/// `payer[document]`) whose values are replaced whole.
struct FormBodyMasker: Sendable {
    let masker: PIIMasker
    private let fieldNames: SecretNameSet

    init(masker: PIIMasker, fields: [String]) {
        self.masker = masker
        var names: [String] = []
        for f in fields {
            guard f.hasPrefix("$") else {
                names.append(f)
                continue
            }
            // `$.a.b` → `a.b` and `a[b]`; `[*]` segments cannot be expressed in a flat form.
            let dotted = f.drop(while: { $0 == "$" || $0 == "." })
            guard !dotted.contains("[") else { continue }
            let parts = dotted.split(separator: ".")
            names.append(String(dotted))
            if let head = parts.first {
                names.append(head + parts.dropFirst().map { "[\($0)]" }.joined())
            }
        }
        self.fieldNames = SecretNameSet(names)
    }

    func mask(_ body: UnsafeRawBufferPointer) -> [UInt8] {
        var out: [UInt8] = []
        URLEncodedMasking(masker: masker, fields: fieldNames.isEmpty ? nil : fieldNames).mask(body, into: &out)
        return out
    }
}
