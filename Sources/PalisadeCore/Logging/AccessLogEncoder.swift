import NIOCore

/// Writes access lines as JSON straight into a per-loop buffer: no dictionary, no JSONEncoder,
/// no intermediate String per field. Every value a client chose (path, query, request id, logged
/// header values) goes through the plan's masker on the way (`LogMasking`); credential headers
/// are refused by the policy decoder and never reach a line.
///
/// A line is written in two steps. First every client-chosen value is masked into one arena and
/// the line's worst-case size is added up (each text byte may become six when escaped). Then the
/// whole line is written with one ByteBuffer call, through a pointer (`AccessLineCursor`): its two dozen
/// pieces pay no capacity or uniqueness check each, which was most of a plain line's cost.
struct AccessLogEncoder {
    private var clock = TimestampCache()
    /// Masked bytes of the line's client-chosen values, kept between lines so masking allocates
    /// nothing per request.
    private var arena: [UInt8] = []
    /// Where each masked value lies in `arena`, in the order the line writes them.
    private var spans: [Range<Int>] = []

    init() {
        arena.reserveCapacity(1024)
        spans.reserveCapacity(8)
    }

    mutating func encode(_ event: SecurityEvent, at time: WallClock.Instant, into buffer: inout ByteBuffer) {
        event.encode(at: time, clock: &clock, into: &buffer)
    }

    mutating func encode(_ r: borrowing AccessLogLine, masking: LogMasking, into buffer: inout ByteBuffer) {
        // Step one: masked values into the arena, and the bound of what the line can take.
        arena.removeAll(keepingCapacity: true)
        spans.removeAll(keepingCapacity: true)
        var plain = 0  // bytes of text written as it is (escaped, not masked)
        mask(r.requestID, masking)
        plain += Self.length(r.clientIP) + Self.length(r.method) + Self.length(r.route) + Self.length(r.error)
        if let path = r.path { mask(path, masking) }
        if let query = r.query { mask(query, masking) }
        for note in r.guards {
            plain += note.guardKind.utf8.count + note.outcome.utf8.count + (note.detail?.utf8.count ?? 0) + 48
        }
        for (name, value) in r.headers {
            plain += name.utf8.count + 6
            if masking.hidesHeader(name) {
                // Replaced whole, whatever it holds: the replacement takes the value's place.
                let start = arena.count
                arena.append(contentsOf: LogMasking.replacement.utf8)
                spans.append(start..<arena.count)
            } else {
                mask(LoggedText(.headerValue, value), masking)
            }
        }
        var requestBody: [UInt8]?
        var responseBody: [UInt8]?
        if let logging = r.bodyLogging {
            requestBody = Self.masked(r.requestBody, logging)
            responseBody = Self.masked(r.responseBody, logging)
            plain += (requestBody?.count ?? 0) + (responseBody?.count ?? 0) + 96
        }
        let bound = Self.fixedBytes + JSONEscaping.maxGrowth * (arena.count + plain) + 2 * spans.count

        // Step two: the line, in one reservation.
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { target in
            var line = AccessLineCursor(target)
            line.literal("{\"ts\":\"")
            clock.withText(r.startWall) { line.bytes($0) }
            line.literal("\",\"type\":\"access\",\"request_id\":")
            var masked = 0
            func nextMasked(_ line: inout AccessLineCursor) {
                arena.withUnsafeBufferPointer { line.jsonString(UnsafeBufferPointer(rebasing: $0[spans[masked]])) }
                masked += 1
            }
            nextMasked(&line)
            line.literal(",\"client_ip\":")
            line.jsonString(r.clientIP.text)
            line.literal(",\"method\":")
            line.jsonString(r.method?.text)
            line.literal(",\"path\":")
            if r.path != nil { nextMasked(&line) } else { line.literal("null") }
            if r.query != nil {
                line.literal(",\"query\":")
                nextMasked(&line)
            }
            line.literal(",\"route\":")
            line.jsonString(r.route?.text)
            line.literal(",\"status\":")
            line.decimal(Int64(r.status))
            line.literal(",\"upstream_status\":")
            if let upstream = r.upstreamStatus { line.decimal(Int64(upstream)) } else { line.literal("null") }
            line.literal(",\"duration_ms\":")
            line.milliseconds(r.durationNanos)
            line.literal(",\"upstream_ms\":")
            if let upstream = r.upstreamNanos { line.milliseconds(upstream) } else { line.literal("null") }
            line.literal(",\"bytes_in\":")
            line.decimal(Int64(r.bytesIn))
            line.literal(",\"bytes_out\":")
            line.decimal(Int64(r.bytesOut))
            if let error = r.error {
                line.literal(",\"error\":")
                line.jsonString(error.text)
            }
            line.literal(",\"guards\":[")
            for (index, note) in r.guards.enumerated() {
                if index > 0 { line.literal(",") }
                line.literal("{\"guard\":")
                line.jsonString(note.guardKind[...])
                line.literal(",\"outcome\":")
                line.jsonString(note.outcome[...])
                if note.reportOnly { line.literal(",\"mode\":\"report\"") }
                if let detail = note.detail {
                    line.literal(",\"detail\":")
                    line.jsonString(detail[...])
                }
                line.literal("}")
            }
            line.literal("]")
            if !r.headers.isEmpty {
                line.literal(",\"headers\":{")
                for (index, (name, _)) in r.headers.enumerated() {
                    if index > 0 { line.literal(",") }
                    line.jsonString(name[...])
                    line.literal(":")
                    nextMasked(&line)
                }
                line.literal("}")
            }
            if let requestBody { line.body(requestBody, named: "request_body", truncated: r.requestBody?.truncated == true) }
            if let responseBody { line.body(responseBody, named: "response_body", truncated: r.responseBody?.truncated == true) }
            line.literal("}\n")
            return line.count
        }
    }

    /// What the line's literals, numbers and timestamp take at most: its keys and punctuation
    /// (about 200 bytes), the timestamp (24) and five numbers of at most 20 digits, with room to spare.
    private static let fixedBytes = 512

    private static func length(_ value: LoggedText?) -> Int { value.map { $0.text.utf8.count } ?? 0 }

    /// A captured body's masked text; nil when there is none (no body, or an empty one).
    private static func masked(_ body: CapturedBody?, _ logging: BodyLogging) -> [UInt8]? {
        guard let body, body.bytes.readableBytes > 0 else { return nil }
        return logging.masked(body.bytes, as: body.kind)
    }

    /// A client-chosen value masked into the arena, by kind.
    private mutating func mask(_ value: LoggedText, _ masking: LogMasking) {
        let start = arena.count
        var text = value.text
        text.withUTF8 { bytes in
            let raw = UnsafeRawBufferPointer(bytes)
            switch value.kind {
            case .query: masking.query.mask(raw, into: &arena)
            default: masking.masker.mask(raw, into: &arena)
            }
        }
        spans.append(start..<arena.count)
    }
}

/// Writes one line through a pointer into a region reserved for its worst case. Every write
/// checks the region's end: a bound computed wrong stops the process rather than write past it.
struct AccessLineCursor {
    private let base: UnsafeMutablePointer<UInt8>
    private let capacity: Int
    private(set) var count = 0

    init(_ region: UnsafeMutableRawBufferPointer) {
        base = region.baseAddress!.assumingMemoryBound(to: UInt8.self)
        capacity = region.count
    }

    @inline(__always)
    private func room(_ bytes: Int) {
        precondition(count + bytes <= capacity, "access line bound too small")
    }

    @inline(__always)
    mutating func literal(_ text: StaticString) {
        let n = text.utf8CodeUnitCount
        room(n)
        (base + count).update(from: text.utf8Start, count: n)
        count += n
    }

    mutating func bytes(_ bytes: UnsafeRawBufferPointer) {
        room(bytes.count)
        if let source = bytes.baseAddress { UnsafeMutableRawPointer(base + count).copyMemory(from: source, byteCount: bytes.count) }
        count += bytes.count
    }

    /// `"…"`, escaped.
    mutating func jsonString(_ text: UnsafeBufferPointer<UInt8>) {
        room(2 + text.count * JSONEscaping.maxGrowth)
        base[count] = UInt8(ascii: "\"")
        count += 1
        if text.count > 0 { count += JSONEscaping.escape(text, to: base + count) }
        base[count] = UInt8(ascii: "\"")
        count += 1
    }

    mutating func jsonString(_ text: Substring) {
        var text = text
        text.withUTF8 { jsonString($0) }
    }

    /// The text as a JSON string, or `null`.
    mutating func jsonString(_ text: Substring?) {
        if let text { jsonString(text) } else { literal("null") }
    }

    mutating func decimal(_ value: Int64) {
        room(ASCII.maxDecimalBytes)
        count = ASCII.writeDecimal(value, into: UnsafeMutableRawBufferPointer(start: base, count: capacity), at: count)
    }

    /// `,"<name>":"<text>"`, and `,"<name>_truncated":true` when it was cut.
    mutating func body(_ text: [UInt8], named name: StaticString, truncated: Bool) {
        literal(",\"")
        literal(name)
        literal("\":")
        text.withUnsafeBufferPointer { jsonString($0) }
        if truncated {
            literal(",\"")
            literal(name)
            literal("_truncated\":true")
        }
    }

    /// Nanoseconds as milliseconds with three decimals (`1.500`).
    mutating func milliseconds(_ nanos: Int64) {
        let micros = max(nanos, 0) / 1000
        decimal(micros / 1000)
        let fraction = micros % 1000
        room(4)
        base[count] = UInt8(ascii: ".")
        base[count + 1] = UInt8(ascii: "0") + UInt8(fraction / 100)
        base[count + 2] = UInt8(ascii: "0") + UInt8(fraction / 10 % 10)
        base[count + 3] = UInt8(ascii: "0") + UInt8(fraction % 10)
        count += 4
    }
}
