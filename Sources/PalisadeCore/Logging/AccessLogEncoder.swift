import NIOCore

/// Writes access lines as JSON straight into a per-loop buffer: no dictionary, no JSONEncoder,
/// no intermediate String per field. Only fields that cannot carry secrets are written: the path
/// without its query, never query values, Authorization or cookies.
struct AccessLogEncoder {
    private var clock = TimestampCache()

    mutating func encode(_ r: borrowing AccessLogLine, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("{\"ts\":\"")
        clock.write(r.startWall, into: &buffer)
        buffer.writeStaticString("\",\"request_id\":")
        write(r.requestID, into: &buffer)
        buffer.writeStaticString(",\"client_ip\":")
        write(r.clientIP, into: &buffer)
        buffer.writeStaticString(",\"method\":")
        write(r.method, into: &buffer)
        buffer.writeStaticString(",\"path\":")
        write(r.path, into: &buffer)
        buffer.writeStaticString(",\"route\":")
        write(r.route, into: &buffer)
        buffer.writeStaticString(",\"status\":")
        buffer.writeString(String(r.status))
        buffer.writeStaticString(",\"upstream_status\":")
        if let upstream = r.upstreamStatus { buffer.writeString(String(upstream)) } else { buffer.writeStaticString("null") }
        buffer.writeStaticString(",\"duration_ms\":")
        writeMillis(r.durationNanos, into: &buffer)
        buffer.writeStaticString(",\"upstream_ms\":")
        if let upstream = r.upstreamNanos { writeMillis(upstream, into: &buffer) } else { buffer.writeStaticString("null") }
        buffer.writeStaticString(",\"bytes_in\":")
        buffer.writeString(String(r.bytesIn))
        buffer.writeStaticString(",\"bytes_out\":")
        buffer.writeString(String(r.bytesOut))
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
                write(LoggedText(.headerValue, value), into: &buffer)
            }
            buffer.writeStaticString("}")
        }
        buffer.writeStaticString("}\n")
    }

    /// Every text value of a line is written here, by kind.
    private func write(_ value: LoggedText, into buffer: inout ByteBuffer) {
        switch value.kind {
        case .requestID, .clientAddress, .method, .path, .route, .errorCode, .guardKind, .guardOutcome, .identifier,
            .headerName, .headerValue:
            // No kind is masked yet: each is written as a JSON string, escaped.
            writeJSONString(value.text, into: &buffer)
        }
    }

    private func write(_ value: LoggedText?, into buffer: inout ByteBuffer) {
        if let value { write(value, into: &buffer) } else { buffer.writeStaticString("null") }
    }

    private func writeMillis(_ nanos: Int64, into buffer: inout ByteBuffer) {
        let micros = max(nanos, 0) / 1000
        buffer.writeString(String(micros / 1000))
        buffer.writeStaticString(".")
        let fraction = micros % 1000
        if fraction < 100 { buffer.writeStaticString("0") }
        if fraction < 10 { buffer.writeStaticString("0") }
        buffer.writeString(String(fraction))
    }
}
