import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Palisade's own diagnostics (start, reloads, key-set fetches, store trouble) as one JSON object
/// per line on stderr, so the same shipper that reads the access stream can read these:
/// `{"ts":…,"level":"info","logger":"palisade","message":"…", <metadata>}`. Metadata keys and
/// values are strings chosen by Palisade's code; no request data is logged here.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let label: String
    private let fileDescriptor: Int32
    private static let lock = NIOLock()

    public init(label: String, fileDescriptor: Int32 = 2) {
        self.label = label
        self.fileDescriptor = fileDescriptor
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var buffer = ByteBufferAllocator().buffer(capacity: 256)
        var clock = TimestampCache()
        buffer.writeStaticString("{\"ts\":\"")
        clock.write(WallClock.now(), into: &buffer)
        buffer.writeStaticString("\",\"level\":")
        writeJSONString(event.level.rawValue, into: &buffer)
        buffer.writeStaticString(",\"logger\":")
        writeJSONString(label, into: &buffer)
        buffer.writeStaticString(",\"message\":")
        writeJSONString(event.message.description, into: &buffer)
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        for key in merged.keys.sorted() where !["ts", "level", "logger", "message"].contains(key) {
            buffer.writeStaticString(",")
            writeJSONString(key, into: &buffer)
            buffer.writeStaticString(":")
            writeJSONString(merged[key]!.description, into: &buffer)
        }
        buffer.writeStaticString("}\n")
        // One line at a time, whole: lines from several threads never interleave.
        Self.lock.withLock {
            buffer.withUnsafeReadableBytes { _ = FileDescriptorSink.writeAll(fileDescriptor, $0) }
        }
    }
}
