import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// RFC 3339 UTC timestamps with milliseconds. The `YYYY-MM-DDTHH:MM:SS` part is formatted once a
/// second per loop; each line only appends the milliseconds.
struct TimestampCache {
    private var cachedSecond: Int64 = -1
    private var cachedPrefix: [UInt8] = []

    mutating func write(_ instant: WallClock.Instant, into buffer: inout ByteBuffer) {
        buffer.writeBytes(prefix(for: instant))
        let millis = Int((instant.nanosecondsSinceEpoch / 1_000_000) % 1000)
        buffer.writeInteger(UInt8(ascii: "."))
        buffer.writeInteger(UInt8(48 + millis / 100))
        buffer.writeInteger(UInt8(48 + (millis / 10) % 10))
        buffer.writeInteger(UInt8(48 + millis % 10))
        buffer.writeInteger(UInt8(ascii: "Z"))
    }

    /// `YYYY-MM-DDTHH:MM:SS` of the instant's second, formatted once per second.
    mutating func prefix(for instant: WallClock.Instant) -> [UInt8] {
        let second = instant.seconds
        if second != cachedSecond {
            cachedSecond = second
            var time = time_t(second)
            var parts = tm()
            gmtime_r(&time, &parts)
            func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
            let text =
                "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
                + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
            cachedPrefix = Array(text.utf8)
        }
        return cachedPrefix
    }
}
