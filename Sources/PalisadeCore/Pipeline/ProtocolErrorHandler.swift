import NIOCore
import NIOHTTP1

/// Answers a request the HTTP parser could not read with a JSON 400 (431 for oversized headers)
/// and lets the decoder close the connection. Nothing of such a request is ever forwarded.
final class ProtocolErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var responseInProgress = false
    private let onReject: (RejectionCode) -> Void

    /// `onReject` lets the connection count and log the refusal; it runs on the channel's loop.
    init(onReject: @escaping (RejectionCode) -> Void) { self.onReject = onReject }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        if !responseInProgress {
            let code: RejectionCode = parserError == .headerOverflow ? .headersTooLarge : Self.code(for: parserError)
            onReject(code)
            let body = LocalReply.body(for: code, requestID: "", allocator: context.channel.allocator)
            let head = LocalReply.head(
                for: code, requestID: "", version: .http1_1, close: true, bodyLength: body.readableBytes,
                extraHeaders: []
            )
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        // The decoder cannot resynchronise after a parse error; the connection must end.
        context.close(promise: nil)
    }

    /// Names the problem without echoing the bytes that caused it.
    static func code(for error: HTTPParserError) -> RejectionCode {
        let name: String
        switch error {
        case .invalidContentLength, .unexpectedContentLength: name = "invalid_content_length"
        case .invalidChunkSize, .invalidEOFState: name = "invalid_chunked_body"
        case .invalidHeaderToken: name = "invalid_header"
        case .invalidVersion: name = "unsupported_http_version"
        case .invalidMethod: name = "invalid_method"
        case .invalidURL: name = "invalid_request_target"
        case .lfExpected: name = "invalid_line_ending"
        default: name = "malformed_request"
        }
        return RejectionCode(name, status: error == .invalidVersion ? .httpVersionNotSupported : .badRequest)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.code >= 200 || head.status.code == 101:
            responseInProgress = true
        case .end:
            responseInProgress = false
        default:
            break
        }
        context.write(data, promise: promise)
    }
}

@available(*, unavailable)
extension ProtocolErrorHandler: Sendable {}
