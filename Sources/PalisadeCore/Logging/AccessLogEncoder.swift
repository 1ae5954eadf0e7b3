import NIOCore

/// Writes access lines as JSON straight into a per-loop buffer: no dictionary, no JSONEncoder,
/// no intermediate String per field. Every value a client chose (path, query, request id, logged
/// header values) goes through the plan's masker on the way (`LogMasking`); credential headers
/// are refused by the policy decoder and never reach a line.
struct AccessLogEncoder {
    private var clock = TimestampCache()
    /// Masked bytes of one value, kept between values so masking allocates nothing per request.
    private var scratch: [UInt8] = []

    init() { scratch.reserveCapacity(512) }

    mutating func encode(_ event: SecurityEvent, at time: WallClock.Instant, into buffer: inout ByteBuffer) {
        event.encode(at: time, clock: &clock, into: &buffer)
    }

    mutating func encode(_ r: borrowing AccessLogLine, masking: LogMasking, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("{\"ts\":\"")
        clock.write(r.startWall, into: &buffer)
        buffer.writeStaticString("\",\"type\":\"access\",\"request_id\":")
        write(r.requestID, masking: masking, into: &buffer)
        buffer.writeStaticString(",\"client_ip\":")
        write(r.clientIP, into: &buffer)
        buffer.writeStaticString(",\"method\":")
        write(r.method, into: &buffer)
        buffer.writeStaticString(",\"path\":")
        write(r.path, masking: masking, into: &buffer)
        if let query = r.query {
            buffer.writeStaticString(",\"query\":")
            write(query, masking: masking, into: &buffer)
        }
        buffer.writeStaticString(",\"route\":")
        write(r.route, into: &buffer)
        buffer.writeStaticString(",\"status\":")
        writeDecimal(Int64(r.status), into: &buffer)
        buffer.writeStaticString(",\"upstream_status\":")
        if let upstream = r.upstreamStatus { writeDecimal(Int64(upstream), into: &buffer) } else { buffer.writeStaticString("null") }
        buffer.writeStaticString(",\"duration_ms\":")
        writeMillis(r.durationNanos, into: &buffer)
        buffer.writeStaticString(",\"upstream_ms\":")
        if let upstream = r.upstreamNanos { writeMillis(upstream, into: &buffer) } else { buffer.writeStaticString("null") }
        buffer.writeStaticString(",\"bytes_in\":")
        writeDecimal(Int64(r.bytesIn), into: &buffer)
        buffer.writeStaticString(",\"bytes_out\":")
        writeDecimal(Int64(r.bytesOut), into: &buffer)
        if let error = r.error {
            buffer.writeStaticString(",\"error\":")
            write(error, into: &buffer)
        }
        buffer.writeStaticString(",\"guards\":[")
        for (index, note) in r.guards.enumerated() {
            if index > 0 { buffer.writeStaticString(",") }
            buffer.writeStaticString("{\"guard\":")
            write(LoggedText(.guardKind, note.guardKind), into: &buffer)
            buffer.writeStaticString(",\"outcome\":")
            write(LoggedText(.guardOutcome, note.outcome), into: &buffer)
            if note.reportOnly { buffer.writeStaticString(",\"mode\":\"report\"") }
            if let detail = note.detail {
                buffer.writeStaticString(",\"detail\":")
                write(LoggedText(.identifier, detail), into: &buffer)
            }
            buffer.writeStaticString("}")
        }
        buffer.writeStaticString("]")
        if !r.headers.isEmpty {
            buffer.writeStaticString(",\"headers\":{")
            for (index, (name, value)) in r.headers.enumerated() {
                if index > 0 { buffer.writeStaticString(",") }
                write(LoggedText(.headerName, name), into: &buffer)
                buffer.writeStaticString(":")
                if masking.hidesHeader(name) {
                    writeJSONString(LogMasking.replacement, into: &buffer)
                } else {
                    write(LoggedText(.headerValue, value), masking: masking, into: &buffer)
                }
            }
            buffer.writeStaticString("}")
        }
        if let logging = r.bodyLogging {
            write(body: r.requestBody, named: "request_body", logging: logging, into: &buffer)
            write(body: r.responseBody, named: "response_body", logging: logging, into: &buffer)
        }
        buffer.writeStaticString("}\n")
    }

    /// A body as a JSON string of its masked text, and `<name>_truncated` when it was longer.
    private func write(body: CapturedBody?, named name: StaticString, logging: BodyLogging, into buffer: inout ByteBuffer) {
        guard let body, body.bytes.readableBytes > 0 else { return }
        buffer.writeStaticString(",\"")
        buffer.writeStaticString(name)
        buffer.writeStaticString("\":")
        writeJSONString(bytes: logging.masked(body.bytes, as: body.kind), into: &buffer)
        if body.truncated {
            buffer.writeStaticString(",\"")
            buffer.writeStaticString(name)
            buffer.writeStaticString("_truncated\":true")
        }
    }

    /// Every text value of a line is written here, by kind: what a client chose is masked, what
    /// Palisade or the policy chose (method, route, codes, guard kinds, header names, key ids) is
    /// written as is.
    private mutating func write(_ value: LoggedText, masking: LogMasking, into buffer: inout ByteBuffer) {
        switch value.kind {
        case .clientAddress, .method, .route, .errorCode, .guardKind, .guardOutcome, .identifier, .headerName:
            writeJSONString(value.text, into: &buffer)
        case .path, .requestID, .headerValue:
            masked(value.text, into: &buffer) { masking.masker.mask($0, into: &$1) }
        case .query:
            masked(value.text, into: &buffer) { masking.query.mask($0, into: &$1) }
        }
    }

    /// Values that are never a client's choice; they need no masker.
    private func write(_ value: LoggedText, into buffer: inout ByteBuffer) {
        writeJSONString(value.text, into: &buffer)
    }

    private mutating func masked(
        _ text: Substring, into buffer: inout ByteBuffer, _ mask: (UnsafeRawBufferPointer, inout [UInt8]) -> Void
    ) {
        scratch.removeAll(keepingCapacity: true)
        var text = text
        text.withUTF8 { mask(UnsafeRawBufferPointer($0), &scratch) }
        writeJSONString(bytes: scratch, into: &buffer)
    }

    private func write(_ value: LoggedText?, into buffer: inout ByteBuffer) {
        if let value { write(value, into: &buffer) } else { buffer.writeStaticString("null") }
    }

    private mutating func write(_ value: LoggedText?, masking: LogMasking, into buffer: inout ByteBuffer) {
        if let value { write(value, masking: masking, into: &buffer) } else { buffer.writeStaticString("null") }
    }

    private func writeMillis(_ nanos: Int64, into buffer: inout ByteBuffer) {
        let micros = max(nanos, 0) / 1000
        writeDecimal(micros / 1000, into: &buffer)
        let fraction = micros % 1000
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 4) { out in
            out[0] = UInt8(ascii: ".")
            out[1] = UInt8(ascii: "0") + UInt8(fraction / 100)
            out[2] = UInt8(ascii: "0") + UInt8(fraction / 10 % 10)
            out[3] = UInt8(ascii: "0") + UInt8(fraction % 10)
            return 4
        }
    }

    /// A number's digits written in place (no String made for it).
    private func writeDecimal(_ value: Int64, into buffer: inout ByteBuffer) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: ASCII.maxDecimalBytes) { out in
            ASCII.writeDecimal(value, into: out, at: 0)
        }
    }
}
