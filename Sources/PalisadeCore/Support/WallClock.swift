#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall-clock time read once per request (a vDSO call, no allocation) and handed to guards and the
/// access log. Monotonic time for timeouts comes from NIO's `NIODeadline` instead.
public enum WallClock {
    public struct Instant: Sendable, Hashable, Comparable {
        public var nanosecondsSinceEpoch: Int64
        public init(nanosecondsSinceEpoch: Int64) { self.nanosecondsSinceEpoch = nanosecondsSinceEpoch }
        public static func < (a: Instant, b: Instant) -> Bool { a.nanosecondsSinceEpoch < b.nanosecondsSinceEpoch }
        public var seconds: Int64 { nanosecondsSinceEpoch / 1_000_000_000 }
    }

    public static func now() -> Instant {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Instant(nanosecondsSinceEpoch: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    }
}
