/// Masks personal data and secrets in access-log text.
///
/// One pass over the bytes, left to right. Most bytes cannot start anything we detect; the scanner
/// skips those with one table load each (`triggers`), skips the rest of a letter/digit run in
/// which nothing matched, and copies untouched spans in bulk only when a replacement is made, so
/// text without candidates costs about a memcpy. At a trigger byte the
/// detectors for the enabled classes look at a bounded window around it (see each detector for its
/// bound); when one matches, the span is replaced and scanning resumes after it. No detector
/// re-reads more than a constant number of times any byte, so time is linear in the input.
///
/// Works on bytes, never on `String`/`Character`: invalid UTF-8 passes through untouched.
struct PIIMasker: Sendable {
    static let defaultSecretNames: [String] = [
        "token", "key", "api_key", "apikey", "x_api_key", "access_token", "refresh_token", "id_token",
        "auth_token", "session_token", "password", "passwd", "pwd", "passcode", "secret", "client_secret",
        "api_secret", "secret_key", "access_key", "private_key", "signature", "sig", "auth", "authorization",
        "session", "sessionid", "code", "otp", "pin", "ssn", "credit_card", "card_number", "cvv", "cvv2",
        "cvc", "security_code", "jwt",
    ]

    let classes: Set<MaskClass>
    let enabled: MaskClassBits
    let secretNames: SecretNameSet
    /// Bytes at which some enabled detector can start (or, for '@' and '=', anchor a look-back),
    /// as a 256-entry table: one load per byte on the fast path.
    let triggers: [Bool]

    init(classes: Set<MaskClass>, secretNames: [String] = PIIMasker.defaultSecretNames) {
        self.classes = classes
        self.enabled = MaskClassBits(classes)
        self.secretNames = SecretNameSet(secretNames)
        var t = ByteSet()
        if classes.contains(.email) { t.insert("@") }
        if classes.contains(.secretQuery) { t.insert("=") }
        if classes.contains(.phone) { t.insert("+(") }
        if !classes.isDisjoint(with: [.card, .phone, .ssn]) { t.insert("0123456789") }
        if classes.contains(.bearer) { t.insert("Bb") }
        if classes.contains(.jwt) { t.insert("e") }
        if classes.contains(.apiKey) { t.insert("srpgxwA") }
        if classes.contains(.iban) { t.insert("ABCDEFGHIJKLMNOPQRSTUVWXYZ") }
        self.triggers = (0..<256).map { t.contains(UInt8($0)) }
    }

    func isSecretName(_ name: some StringProtocol) -> Bool {
        var s = String(name)
        return s.withUTF8 { secretNames.contains($0) }
    }

    /// Masks free text (a path, a header value, a JSON string value): appends the masked bytes to `out`.
    func mask(_ text: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        _ = maskBytes(text, into: &out)
    }

    func mask(_ text: String) -> String {
        var s = text
        var out: [UInt8] = []
        s.withUTF8 { _ = maskBytes(UnsafeRawBufferPointer($0), into: &out) }
        return String(decoding: out, as: UTF8.self)
    }

    /// The scanner. Returns whether anything was replaced, so callers that must re-encode the
    /// result (query values, JSON strings) can keep the original bytes when nothing was.
    @discardableResult
    func maskBytes(_ text: UnsafeRawBufferPointer, into out: inout [UInt8]) -> Bool {
        guard let raw = text.baseAddress, text.count > 0 else { return false }
        let v = ByteView(base: raw.assumingMemoryBound(to: UInt8.self), count: text.count)
        // The loop lives in its own function so its counters are plain locals, not variables
        // captured by this closure (which would be kept in memory on every byte).
        return triggers.withUnsafeBufferPointer { scan(v, isTrigger: $0, into: &out) }
    }

    private func scan(_ v: ByteView, isTrigger: UnsafeBufferPointer<Bool>, into out: inout [UInt8]) -> Bool {
        let n = v.count
        var i = 0
        var pending = 0  // input[pending..<i] is unchanged and not yet copied to `out`
        var changed = false
        while i < n {
            // The fast path: bytes that cannot start a detection.
            while i < n && !isTrigger[Int(v.base[i])] { i += 1 }
            guard i < n else { break }
            let b = v.base[i]
            guard let m = detect(v, at: i, byte: b, pending: pending) else {
                // Nothing starts inside a letter/digit run (letters need a token start, numbers
                // a non-alphanumeric byte before them), so the rest of the run is skipped at once.
                i += 1
                if MaskASCII.isAlnum(b) {
                    while i < n && MaskASCII.isAlnum(v.base[i]) { i += 1 }
                }
                continue
            }
            if !changed { out.reserveCapacity(out.count + n + 16) }
            out.append(contentsOf: UnsafeBufferPointer(start: v.base + pending, count: m.start - pending))
            switch m.replacement {
            case .token(let t): out.append(t)
            case .cardLast4(let start):
                out.append("****")
                var j = start
                while j < m.end {
                    if MaskASCII.isDigit(v[j]) { out.append(v[j]) }
                    j += 1
                }
            }
            pending = m.end
            i = m.resume
            changed = true
        }
        out.append(contentsOf: UnsafeBufferPointer(start: v.base + pending, count: n - pending))
        return changed
    }
}

/// One detection: `input[start..<end]` becomes `replacement`; `input[end..<resume]` is kept
/// verbatim but not scanned again (the domain of an email).
struct MaskMatch {
    enum Replacement {
        case token(StaticString)
        /// `****` then the digits found from this input position to `end` (the last four).
        case cardLast4(from: Int)
    }

    var start: Int
    var end: Int
    var resume: Int
    var replacement: Replacement

    init(_ start: Int, _ end: Int, resume: Int? = nil, _ replacement: Replacement) {
        self.start = start
        self.end = end
        self.resume = resume ?? end
        self.replacement = replacement
    }
}
