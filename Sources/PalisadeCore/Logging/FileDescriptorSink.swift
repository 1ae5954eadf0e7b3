import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Access lines to a file descriptor (stdout by default). Each event loop hands over a batch of
/// whole lines at a time; the lock is taken once per batch, not per request, and keeps batches
/// from different loops from interleaving mid-line.
public final class FileDescriptorSink: AccessLogSink {
    private let fd: Int32
    private let lock = NIOLock()

    public init(fileDescriptor: Int32 = 1) { self.fd = fileDescriptor }

    public static let stdout = FileDescriptorSink(fileDescriptor: 1)

    public func write(_ bytes: UnsafeRawBufferPointer) {
        guard var base = bytes.baseAddress else { return }
        var remaining = bytes.count
        lock.withLock {
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
                    // stdout gone (closed pipe): access lines are best effort, the proxy keeps serving.
                    return
                }
                remaining -= written
                base += written
            }
        }
    }
}
