import Foundation
import NIOConcurrencyHelpers
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Access lines to a file descriptor (stdout by default), written by a thread of its own so that
/// a slow reader (a blocked pipe, a stalled log shipper) never blocks an event loop.
///
/// Each loop hands over a batch of whole lines once per tick (`AccessLogWriter`); the batch is
/// queued whole or, past `maxQueuedBytes`, dropped whole and counted. One thread writes the queue
/// in order, each batch to its end before the next, so lines are never cut or interleaved, however
/// many loops log at once. `palisade_log_dropped_lines_total{stream="access"}` shows the drops.
public final class FileDescriptorSink: AccessLogSink, @unchecked Sendable {
    private struct Queue {
        var batches: [[UInt8]] = []
        var bytes = 0
        var stopping = false
    }

    private let fd: Int32
    private let maxQueuedBytes: Int
    /// 1 while batches wait; the writer thread sleeps on 0.
    private let queue = ConditionLock(value: 0)
    /// Guarded by `queue`'s lock (hence `@unchecked Sendable`): ConditionLock holds only the
    /// wake-up value, not the queue itself.
    private var pending = Queue()
    private let droppedLinesCount = Atomic<Int>(0)
    private let writtenLinesCount = Atomic<Int>(0)
    private let idle = ConditionLock(value: 1)

    /// `maxQueuedBytes`: how much may wait for the reader before batches are dropped (4 MiB by
    /// default: seconds of lines at tens of thousands of requests per second).
    public init(fileDescriptor: Int32 = 1, maxQueuedBytes: Int = 4 << 20) {
        self.fd = fileDescriptor
        self.maxQueuedBytes = maxQueuedBytes
        let thread = Thread { [unowned self] in self.run() }
        thread.name = "palisade-log"
        thread.start()
    }

    public static let stdout = FileDescriptorSink(fileDescriptor: 1)

    /// Lines dropped because the reader fell behind by more than `maxQueuedBytes`.
    public var droppedLines: Int { droppedLinesCount.load(ordering: .relaxed) }

    public func write(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        queue.lock()
        guard pending.bytes + bytes.count <= maxQueuedBytes, !pending.stopping else {
            queue.unlock(withValue: pending.batches.isEmpty ? 0 : 1)
            var lines = 0
            for byte in bytes where byte == UInt8(ascii: "\n") { lines += 1 }
            droppedLinesCount.add(lines, ordering: .relaxed)
            return
        }
        pending.batches.append(Array(bytes))
        pending.bytes += bytes.count
        queue.unlock(withValue: 1)
    }

    /// Waits up to `timeout` until every queued line is written (shutdown).
    public func drain(timeout: TimeInterval = 2) {
        if idle.lock(whenValue: 1, timeoutSeconds: timeout) { idle.unlock() }
    }

    private func run() {
        while true {
            queue.lock(whenValue: 1)
            let batches = pending.batches
            pending.batches.removeAll(keepingCapacity: true)
            pending.bytes = 0
            idle.lock()
            idle.unlock(withValue: 0)
            queue.unlock(withValue: 0)
            for batch in batches { writeWhole(batch) }
            queue.lock()
            let empty = pending.batches.isEmpty
            queue.unlock(withValue: empty ? 0 : 1)
            if empty {
                idle.lock()
                idle.unlock(withValue: 1)
            }
        }
    }

    private func writeWhole(_ batch: [UInt8]) {
        batch.withUnsafeBytes { bytes in
            guard var base = bytes.baseAddress else { return }
            var remaining = bytes.count
            while remaining > 0 {
                #if canImport(Glibc)
                let written = Glibc.write(fd, base, remaining)
                #elseif canImport(Musl)
                let written = Musl.write(fd, base, remaining)
                #else
                let written = Darwin.write(fd, base, remaining)
                #endif
                if written < 0 {
                    if errno == EINTR { continue }
                    if errno == EAGAIN {
                        // A non-blocking descriptor (set so by whoever shares it): wait until
                        // it takes bytes again rather than spin.
                        var waiting = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                        _ = poll(&waiting, 1, 100)
                        continue
                    }
                    // stdout gone (closed pipe): what is left of the batch is dropped, counted.
                    var lines = 0
                    for byte in UnsafeRawBufferPointer(start: base, count: remaining) where byte == UInt8(ascii: "\n") { lines += 1 }
                    droppedLinesCount.add(lines, ordering: .relaxed)
                    return
                }
                remaining -= written
                base += written
            }
        }
    }
}
