import NIOCore
import NIOHTTP1

/// Encodes responses to the client straight into bytes, replacing NIO's HTTPResponseEncoder on the
/// client pipeline. Palisade already decides framing itself (Content-Length as the app sent it,
/// or chunked, or close-delimited), so the encoder had nothing left to decide; writing bytes here
/// saves a handler hop and an NIOAny per part, and lets a small answer's head and body leave in one
/// buffer, one iovec.
struct ResponseWriter {
    private(set) var chunked = false
    private(set) var suppressBody = false
    /// Head (and small body parts) not yet handed to the channel.
    private var pending: ByteBuffer?
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
