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
/// appended whole to the queue or, past `maxQueuedBytes`, dropped whole and counted. One thread
/// takes the whole queue at once (swapping it for its emptied spare, so neither side allocates)
/// and writes it with one write(2) when the reader keeps up: lines are never cut or interleaved,
/// however many loops log at once, and a tick's few hundred bytes cost no syscall of their own. `palisade_log_dropped_lines_total{stream="access"}` shows the drops.
public final class FileDescriptorSink: AccessLogSink, @unchecked Sendable {
    private let fd: Int32
    private let maxQueuedBytes: Int
    /// 1 once enough waits that the writer should not sleep out its interval.
    private let queue = ConditionLock(value: 0)
    /// Guarded by `queue`'s lock (hence `@unchecked Sendable`): ConditionLock holds only the
    /// wake-up value, not the queue itself.
    private var pending: [UInt8] = []
    /// The writer's side of the double buffer; only the writer thread touches it.
    private var spare: [UInt8] = []
    private var writing = false
    private let droppedLinesCount = Atomic<Int>(0)

    /// The writer wakes this often to write what came, or sooner once `wakeBytes` wait: loops
    /// then hand over their batches without waking a thread each time (a futex wake and a context
    /// switch per loop tick cost more than the write itself). Lines reach the reader within it.
    static let flushInterval = 0.005
    static let wakeBytes = 64 << 10
    static let keptCapacity = 256 << 10

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
        guard pending.count + bytes.count <= maxQueuedBytes else {
            queue.unlock()
            droppedLinesCount.add(Self.lineCount(bytes), ordering: .relaxed)
            return
        }
        pending.append(contentsOf: bytes)
        if pending.count >= Self.wakeBytes {
            queue.unlock(withValue: 1)
        } else {
            queue.unlock()
        }
    }

    /// Waits up to `timeout` seconds until every queued line is written (shutdown).
    public func drain(timeout: Double = 2) {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while ContinuousClock.now < deadline {
            queue.lock()
            let done = pending.isEmpty && !writing
            queue.unlock()
            if done { return }
            usleep(2000)
        }
    }

    private func run() {
        while true {
            if !queue.lock(whenValue: 1, timeoutSeconds: Self.flushInterval) { queue.lock() }
            swap(&pending, &spare)
            writing = !spare.isEmpty
            queue.unlock(withValue: 0)
            guard !spare.isEmpty else { continue }
            writeWhole(spare)
            // A backlog's worth of capacity (up to `log.buffer`) is let go once written.
            spare.removeAll(keepingCapacity: spare.capacity <= Self.keptCapacity)
            queue.lock()
            writing = false
            queue.unlock()
        }
    }

    private func writeWhole(_ batch: [UInt8]) {
        batch.withUnsafeBytes { bytes in
            // stdout gone (closed pipe): what is left of the batch is dropped, counted.
            let unwritten = Self.writeAll(fd, bytes)
            guard !unwritten.isEmpty else { return }
            droppedLinesCount.add(Self.lineCount(unwritten), ordering: .relaxed)
        }
    }

    private static func lineCount(_ bytes: UnsafeRawBufferPointer) -> Int {
        var lines = 0
        for byte in bytes where byte == UInt8(ascii: "\n") { lines += 1 }
        return lines
    }

    /// Writes all of `bytes` to `fd` (blocking), through EINTR, and through EAGAIN on a
    /// descriptor someone made non-blocking (waiting until it takes bytes rather than spinning).
    /// Answers what could not be written: empty, or the rest after a hard error (a closed pipe).
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var offset = 0
        while offset < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            #if canImport(Glibc)
            let written = Glibc.write(fd, rest.baseAddress, rest.count)
            #elseif canImport(Musl)
            let written = Musl.write(fd, rest.baseAddress, rest.count)
            #else
            let written = Darwin.write(fd, rest.baseAddress, rest.count)
            #endif
            if written >= 0 {
                offset += written
            } else if errno == EINTR {
                continue
            } else if errno == EAGAIN {
                var waiting = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&waiting, 1, 100)
            } else {
                return rest
            }
        }
        return UnsafeRawBufferPointer(rebasing: bytes[bytes.count...])
    }
}
