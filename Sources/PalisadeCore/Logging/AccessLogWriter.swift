import NIOCore

/// Collects one event loop's access lines and hands them to the sink once per loop tick, so a busy
/// loop makes one write(2) for many requests instead of one per request.
final class AccessLogWriter {
    private let eventLoop: any EventLoop
    private let sink: any AccessLogSink
    private var buffer: ByteBuffer
    private var encoder = AccessLogEncoder()
    private var flushScheduled = false
    /// Set once the loop is stopping: lines are written at once, as the loop may not run another tick.
    var writesImmediately = false
    /// Lines above this much pending are written at once rather than waiting for the tick to end.
    private let highWater = 64 * 1024

    init(eventLoop: any EventLoop, sink: any AccessLogSink) {
        self.eventLoop = eventLoop
        self.sink = sink
        self.buffer = ByteBufferAllocator().buffer(capacity: 16 * 1024)
    }

    func append(_ line: borrowing AccessLogLine) {
        encoder.encode(line, into: &buffer)
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
