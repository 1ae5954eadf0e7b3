import NIOCore

/// One guard's part in a request's fate, as logged.
struct GuardNote {
    var guardKind: String
    var outcome: String
    var reportOnly: Bool
    /// Extra, non-secret detail: which secret of a rotation matched (`secret=stripe#2`).
    var detail: String?
}

/// Writes access lines as JSON straight into a per-loop buffer: no dictionary, no JSONEncoder,
/// no intermediate String per field. Only fields that cannot carry secrets are written: the path
/// without its query, never query values, Authorization or cookies.
struct AccessLogEncoder {
    private var clock = TimestampCache()

    mutating func encode(_ r: borrowing AccessLogLine, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("{\"ts\":\"")
        clock.write(r.startWall, into: &buffer)
        buffer.writeStaticString("\",\"request_id\":")
        writeJSONString(r.requestID, into: &buffer)
        buffer.writeStaticString(",\"client_ip\":")
        writeJSONString(r.clientIP, into: &buffer)
        buffer.writeStaticString(",\"method\":")
        if let method = r.method { writeJSONString(method, into: &buffer) } else { buffer.writeStaticString("null") }
        buffer.writeStaticString(",\"path\":")
        if let path = r.path { writeJSONString(path, into: &buffer) } else { buffer.writeStaticString("null") }
        buffer.writeStaticString(",\"route\":")
        if let route = r.route { writeJSONString(route, into: &buffer) } else { buffer.writeStaticString("null") }
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
            writeJSONString(error, into: &buffer)
        }
        buffer.writeStaticString(",\"guards\":[")
        for (index, note) in r.guards.enumerated() {
            if index > 0 { buffer.writeStaticString(",") }
            buffer.writeStaticString("{\"guard\":")
            writeJSONString(note.guardKind, into: &buffer)
            buffer.writeStaticString(",\"outcome\":")
            writeJSONString(note.outcome, into: &buffer)
            if note.reportOnly { buffer.writeStaticString(",\"mode\":\"report\"") }
            if let detail = note.detail {
                buffer.writeStaticString(",\"detail\":")
                writeJSONString(detail, into: &buffer)
            }
            buffer.writeStaticString("}")
        }
        buffer.writeStaticString("]")
        if !r.headers.isEmpty {
            buffer.writeStaticString(",\"headers\":{")
            for (index, (name, value)) in r.headers.enumerated() {
                if index > 0 { buffer.writeStaticString(",") }
                writeJSONString(name, into: &buffer)
                buffer.writeStaticString(":")
                writeJSONString(value, into: &buffer)
            }
            buffer.writeStaticString("}")
        }
        buffer.writeStaticString("}\n")
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

/// The fields of one access line, gathered by the exchange as the request goes.
struct AccessLogLine {
    var startWall: WallClock.Instant
    var requestID: String
    var clientIP: String
    var method: String?
    var path: Substring?
    var route: String?
    var status: Int
    var upstreamStatus: Int?
    var durationNanos: Int64
    var upstreamNanos: Int64?
    var bytesIn: Int
    var bytesOut: Int
    var error: String?
    var guards: [GuardNote]
    var headers: [(String, String)]
}

/// JSON string escaping (RFC 8259): quotes, backslash and control characters; everything else as is.
func writeJSONString<S: StringProtocol>(_ value: S, into buffer: inout ByteBuffer) {
    buffer.writeStaticString("\"")
    var needsEscape = false
    for b in value.utf8 where b < 0x20 || b == 0x22 || b == 0x5c || b == 0x7f {
        needsEscape = true
        break
    }
    if !needsEscape {
        buffer.writeString(String(value))
    } else {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        for b in value.utf8 {
            switch b {
            case 0x22: buffer.writeStaticString("\\\"")
            case 0x5c: buffer.writeStaticString("\\\\")
            case 0x0a: buffer.writeStaticString("\\n")
            case 0x0d: buffer.writeStaticString("\\r")
            case 0x09: buffer.writeStaticString("\\t")
            case 0..<0x20, 0x7f:
                buffer.writeStaticString("\\u00")
                buffer.writeInteger(hex[Int(b >> 4)])
                buffer.writeInteger(hex[Int(b & 0xf)])
            default: buffer.writeInteger(b)
            }
        }
    }
    buffer.writeStaticString("\"")
}

/// A JSON string literal for small documents built as text (admin answers).
enum JSONText {
    static func quoted<S: StringProtocol>(_ value: S) -> String {
        var buffer = ByteBuffer()
        writeJSONString(value, into: &buffer)
        return String(buffer: buffer)
    }
}
