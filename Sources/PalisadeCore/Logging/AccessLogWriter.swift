import NIOCore

/// Collects one event loop's access lines and hands them to the sink once per loop tick, so a busy
/// loop makes one write(2) for many requests instead of one per request.
final class AccessLogWriter {
    private let eventLoop: any EventLoop
    private let sink: any AccessLogSink
    let securityEvents: SecurityEventLog
    /// Security events this loop wrote, by `SecurityEventType.index`: counted here, without a
    /// lock, since a flood of refusals is counted on every loop at once; merged at scrape.
    private(set) var securityCounts = [Int](repeating: 0, count: SecurityEventType.allCases.count)
    /// When each rotation's old secret was last reported from this loop: one event a minute per
    /// secret, not one per request that still uses it.
    private var rotationReported: [String: Int64] = [:]
    private var buffer: ByteBuffer
    private var encoder = AccessLogEncoder()
    private var flushScheduled = false
    /// Set once the loop is stopping: lines are written at once, as the loop may not run another tick.
    var writesImmediately = false
    /// Lines above this much pending are written at once rather than waiting for the tick to end.
    private let highWater = 64 * 1024

    init(eventLoop: any EventLoop, sink: any AccessLogSink, securityEvents: SecurityEventLog) {
        self.eventLoop = eventLoop
        self.sink = sink
        self.securityEvents = securityEvents
        self.buffer = ByteBufferAllocator().buffer(capacity: 16 * 1024)
    }

    func append(_ line: borrowing AccessLogLine, masking: LogMasking) {
        encoder.encode(line, masking: masking, into: &buffer)
        scheduleFlush()
    }

    /// A security event from the request path (a refusal), batched with the access lines.
    func append(_ event: SecurityEvent, at time: WallClock.Instant) {
        encoder.encode(event, at: time, into: &buffer)
        securityCounts[event.type.index] &+= 1
        if event.type == .refusal { securityEvents.noteRefusal(event) }
        scheduleFlush()
    }

    /// `secret=<name>#<n>` with n > 1: a signature verified with an older secret of a rotation.
    func noteSecretInUse(_ detail: String, route: String?, guardKind: String) {
        guard let mark = detail.lastIndex(of: "#"), let position = Int(detail[detail.index(after: mark)...]), position > 1,
            detail.hasPrefix("secret=")
        else { return }
        let time = WallClock.now()
        let second = time.seconds
        if let last = rotationReported[detail], second - last < 60 { return }
        rotationReported[detail] = second
        var event = SecurityEvent(type: .secretRotation, route: route, guardKind: guardKind)
        event.details = [("secret", String(detail.dropFirst("secret=".count)))]
        append(event, at: time)
    }

    private func scheduleFlush() {
        if buffer.readableBytes >= highWater || writesImmediately {
            flush()
        } else if !flushScheduled {
            flushScheduled = true
            eventLoop.assumeIsolatedUnsafeUnchecked().execute { self.flush() }
        }
    }

    func flush() {
        flushScheduled = false
        guard buffer.readableBytes > 0 else { return }
        buffer.withUnsafeReadableBytes { sink.write($0) }
        buffer.clear()
    }
}

@available(*, unavailable)
extension AccessLogWriter: Sendable {}
