import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// RFC 3339 UTC timestamps with milliseconds. The `YYYY-MM-DDTHH:MM:SS` part is formatted once a
/// second per loop; each line only rewrites the three digits of the milliseconds.
struct TimestampCache {
    private var cachedSecond: Int64 = -1
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` of the last instant asked for.
    private var text: [UInt8] = []

    mutating func write(_ instant: WallClock.Instant, into buffer: inout ByteBuffer) {
        withText(instant) { _ = buffer.writeBytes($0) }
    }

    /// The instant's timestamp, handed to `body` (valid only inside it).
    mutating func withText<Result>(_ instant: WallClock.Instant, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        let second = instant.seconds
        if second != cachedSecond {
            cachedSecond = second
            var time = time_t(second)
            var parts = tm()
            gmtime_r(&time, &parts)
            func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
            let formatted =
                "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
                + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).000Z"
            text = Array(formatted.utf8)
        }
        let millis = Int((instant.nanosecondsSinceEpoch / 1_000_000) % 1000)
        let digits = text.count - 4
        text[digits] = UInt8(48 + millis / 100)
        text[digits + 1] = UInt8(48 + (millis / 10) % 10)
        text[digits + 2] = UInt8(48 + millis % 10)
        return text.withUnsafeBytes(body)
    }
}
