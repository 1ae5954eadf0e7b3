import NIOCore
import NIOHTTP1

/// Encodes responses to the client straight into bytes, replacing NIO's HTTPResponseEncoder on the
/// client pipeline. Palisade already decides framing itself (Content-Length as the app sent it,
/// or chunked, or close-delimited), so the encoder had nothing left to decide; writing bytes here
/// saves a handler hop and an NIOAny per part, and lets a small answer's head and body leave in one
/// buffer, one iovec.
struct ResponseWriter {
    fileprivate(set) var chunked = false
    fileprivate(set) var suppressBody = false
    /// Head (and small body parts) not yet handed to the channel.
    fileprivate(set) var pending: ByteBuffer?
    private static let coalesceLimit = 8 * 1024

    /// Starts a response. `bodyless` responses (HEAD, 1xx, 204, 304) carry no body bytes at all.
    mutating func head(_ head: HTTPResponseHead, bodyless: Bool, chunked: Bool, allocator: ByteBufferAllocator) {
        let status = head.status.code
        suppressBody = bodyless
        self.chunked = !bodyless && chunked
        // Size the buffer exactly, so the head never reallocates while it is written.
        var size = 32 + head.status.reasonPhrase.utf8.count
        for (name, value) in head.headers { size += name.utf8.count + value.utf8.count + 4 }
        var buffer = pending ?? allocator.buffer(capacity: size + 512)
        buffer.writeStaticString(head.version == .http1_0 ? "HTTP/1.0 " : "HTTP/1.1 ")
        buffer.writeString(String(status))
        buffer.writeStaticString(" ")
        buffer.writeString(head.status.reasonPhrase)
        buffer.writeStaticString("\r\n")
        for (name, value) in head.headers {
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("\r\n")
        pending = buffer
    }

    /// Adds body bytes: small parts are copied behind the head, large ones go out as they are.
    mutating func body(_ part: ByteBuffer, context: ChannelHandlerContext) {
        guard !suppressBody, part.readableBytes > 0 else { return }
        if chunked {
            var frame = pending ?? context.channel.allocator.buffer(capacity: 16)
            frame.writeString(String(part.readableBytes, radix: 16))
            frame.writeStaticString("\r\n")
            if part.readableBytes <= Self.coalesceLimit {
                var copy = part
                frame.writeBuffer(&copy)
                frame.writeStaticString("\r\n")
                pending = frame
            } else {
                pending = nil
                context.write(NIOAny(frame), promise: nil)
                context.write(NIOAny(part), promise: nil)
                pending = context.channel.allocator.buffer(staticString: "\r\n")
            }
            return
        }
        if var buffer = pending, part.readableBytes <= Self.coalesceLimit {
            var copy = part
            buffer.writeBuffer(&copy)
            pending = buffer
        } else {
            writePending(context: context)
            context.write(NIOAny(part), promise: nil)
        }
    }

    /// Ends the response; returns the future of its last write when `needsCompletion` is set.
    mutating func end(context: ChannelHandlerContext, needsCompletion: Bool) -> EventLoopFuture<Void>? {
        if chunked && !suppressBody {
            var buffer = pending ?? context.channel.allocator.buffer(capacity: 5)
            buffer.writeStaticString("0\r\n\r\n")
            pending = buffer
        }
        chunked = false
        suppressBody = false
        guard let buffer = pending else {
            return needsCompletion ? context.writeAndFlush(NIOAny(context.channel.allocator.buffer(capacity: 0))) : nil
        }
        pending = nil
        if needsCompletion { return context.writeAndFlush(NIOAny(buffer)) }
        context.write(NIOAny(buffer), promise: nil)
        return nil
    }

    mutating func writePending(context: ChannelHandlerContext) {
        if let buffer = pending {
            pending = nil
            context.write(NIOAny(buffer), promise: nil)
        }
    }

    /// A whole interim response (`100 Continue`), written at once.
    static func interim(_ status: HTTPResponseStatus, allocator: ByteBufferAllocator) -> ByteBuffer {
        allocator.buffer(string: "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n\r\n")
    }
}

/// The fields Palisade sets on an answer: the policy's `response_headers`, then what the
/// route's guards added for this request (a `RateLimit`), later ones replacing earlier ones.
enum ResponseFieldEdits {
    /// Either list as it is when the other is empty (the usual case: no list is built per request).
    static func combined(_ policy: [(String, String)], _ guards: [(String, String)]) -> [(String, String)] {
        if guards.isEmpty { return policy }
        if policy.isEmpty { return guards }
        return policy + guards
    }
}

extension ResponseWriter {
    struct ProxiedContext {
        var requestID: String
        var clientVersion: HTTPVersion
        var closeAfter: Bool
        var isWebSocketUpgrade: Bool
        /// Policy `response_headers`: (lower-case name, value); they replace the app's own.
        var extraHeaders: [(String, String)]
        var bodyless: Bool
    }

    /// Writes the head of the app's response for the client: the app's field lines copied as they
    /// are, less hop-by-hop fields, fields named in its `Connection`, and the fields Palisade sets.
    /// Returns whether the body must be delimited by closing the connection (HTTP/1.0 client, no
    /// length known).
    mutating func proxiedHead(
        _ head: UpstreamResponseHead, _ c: ProxiedContext, allocator: ByteBufferAllocator
    ) -> Bool {
        let status = head.status
        let dropLength = status == 204 || (status >= 100 && status < 200)
        var closeDelimited = false
        var reChunk = false
        if !c.bodyless && head.contentLength == nil {
            if c.clientVersion == .http1_1 { reChunk = true } else { closeDelimited = true }
        }
        suppressBody = c.bodyless
        chunked = reChunk
        var headBound =
            head.headerBlock.readableBytes + head.reason.readableBytes
            + HeadBytes.fieldSize("x-request-id", c.requestID) + 96  // status line, framing and connection lines
        for (name, value) in c.extraHeaders { headBound += HeadBytes.fieldSize(name, value) }
        var buffer = pending ?? allocator.buffer(capacity: headBound + 512)
        buffer.writeHead(maxBytes: headBound) { w in
            w.append(c.clientVersion == .http1_0 ? "HTTP/1.0 " : "HTTP/1.1 ")
            w.append(decimal: status)
            w.append(" ")
            head.reason.withUnsafeReadableBytes { w.append($0) }
            w.append("\r\n")
            let replacesNone = c.extraHeaders.allSatisfy { !head.fieldNames.mayContain($0.0) }
            if head.connectionListed.isEmpty && replacesNone && !head.droppedLines.overflowed {
                // The common case: the parser already knows the lines to leave out.
                head.headerBlock.withUnsafeReadableBytes { block in
                    var from = block.startIndex
                    head.droppedLines.forEach { dropped in
                        w.append(block[from..<dropped.lowerBound])
                        from = dropped.upperBound
                    }
                    w.append(block[from...])
                }
            } else {
                Self.copyKeptLines(head, dropLength: dropLength, extraHeaders: c.extraHeaders, into: &w)
            }
            if reChunk { w.append("transfer-encoding: chunked\r\n") }
            if c.isWebSocketUpgrade && status == 101 {
                w.append("connection: upgrade\r\nupgrade: websocket\r\n")
            } else if c.closeAfter || closeDelimited {
                w.append("connection: close\r\n")
            } else if c.clientVersion == .http1_0 {
                w.append("connection: keep-alive\r\n")
            }
            for (name, value) in c.extraHeaders { w.appendField(name, value) }
            w.appendField("x-request-id", c.requestID)
            w.append("\r\n")
        }
        pending = buffer
        return closeDelimited
    }

    /// Walks the app's lines and copies those that go on, consecutive ones in a single copy.
    /// The block was validated when parsed; this pass only decides which lines to keep.
    private static func copyKeptLines(
        _ head: UpstreamResponseHead, dropLength: Bool, extraHeaders: [(String, String)], into w: inout HeadBytes
    ) {
        head.headerBlock.withUnsafeReadableBytes { block in
            var run = block.startIndex..<block.startIndex
            try? HeaderLines.forEach(block) { name, value in
                let line = name.startIndex..<(value.endIndex + 2)
                if keeps(name, head: head, dropLength: dropLength, extraHeaders: extraHeaders) {
                    if run.upperBound == line.lowerBound {
                        run = run.lowerBound..<line.upperBound
                    } else {
                        w.append(block[run])
                        run = line
                    }
                }
            }
            w.append(block[run])
        }
    }

    /// Whether one of the app's response fields goes on to the client as it is.
    @inline(__always)
    private static func keeps(
        _ name: HeaderLines.Bytes, head: UpstreamResponseHead, dropLength: Bool, extraHeaders: [(String, String)]
    ) -> Bool {
        if HeaderLines.isHopByHop(name) { return false }
        if name.count == 12 && HeaderLines.equals(name, "x-request-id") { return false }
        if dropLength && name.count == 14 && HeaderLines.equals(name, "content-length") { return false }
        if !head.connectionListed.isEmpty,
            head.connectionListed.contains(where: { HeaderLines.equals(name, ignoringCase: $0) })
        {
            return false
        }
        for (extra, _) in extraHeaders where extra.utf8.count == name.count {
            if HeaderLines.equals(name, ignoringCase: extra) { return false }
        }
        return true
    }
}
