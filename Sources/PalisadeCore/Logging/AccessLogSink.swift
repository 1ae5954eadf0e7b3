/// Where formatted access lines go. Each event loop's `AccessLogWriter` hands over a batch of
/// whole lines (JSON, each ending in a newline) once per loop tick, from that loop's thread, so an
/// implementation is called from several threads and must keep batches whole; it should return
/// quickly, as the loop serves nothing else meanwhile.
public protocol AccessLogSink: Sendable {
    func write(_ lines: UnsafeRawBufferPointer)
    var droppedLines: Int { get }
}

extension AccessLogSink {
    /// Lines this sink dropped (a reader that fell behind); 0 for a sink that never drops.
    public var droppedLines: Int { 0 }
}
