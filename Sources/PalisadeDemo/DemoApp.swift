import NIOCore
import NIOHTTP1
import NIOPosix

/// The small app `palisade demo` puts behind the proxy: `/health` and an echo of what reached it
/// under `/api/`, so the forwarded headers (X-Request-ID, X-Forwarded-For) can be seen.
public enum DemoApp {
    public static func bind(group: any EventLoopGroup, host: String, port: Int) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(DemoAppHandler())
                }
            }
            .bind(host: host, port: port)
            .get()
    }
}

final class DemoAppHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private var head: HTTPRequestHead?
    private var bodyBytes = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            bodyBytes = 0
        case .body(let b):
            bodyBytes += b.readableBytes
        case .end:
            guard let head else { return }
            var body = context.channel.allocator.buffer(capacity: 256)
            let status: HTTPResponseStatus
            if head.uri == "/health" {
                status = .ok
                body.writeString(#"{"status":"ok"}"#)
            } else if head.uri.hasPrefix("/api/") {
                status = .ok
                body.writeStaticString("{\"app\":\"demo\",\"method\":")
                writeJSONString(head.method.rawValue, into: &body)
                body.writeStaticString(",\"path\":")
                writeJSONString(head.uri, into: &body)
                body.writeStaticString(",\"x_request_id\":")
                writeJSONString(head.headers.first(name: "x-request-id") ?? "", into: &body)
                body.writeStaticString(",\"x_forwarded_for\":")
                writeJSONString(head.headers.first(name: "x-forwarded-for") ?? "", into: &body)
                body.writeString(",\"body_bytes\":\(bodyBytes)}")
            } else {
                status = .notFound
                body.writeString(#"{"error":"not_found"}"#)
            }
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: "application/json")
            headers.add(name: "content-length", value: String(body.readableBytes))
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            self.head = nil
        }
    }
}

@available(*, unavailable)
extension DemoAppHandler: Sendable {}

/// A JSON string literal of `value`: quotes, backslashes and control characters escaped.
private func writeJSONString(_ value: String, into buffer: inout ByteBuffer) {
    buffer.writeInteger(UInt8(ascii: "\""))
    for byte in value.utf8 {
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"):
            buffer.writeInteger(UInt8(ascii: "\\"))
            buffer.writeInteger(byte)
        case 0..<0x20:
            let hex = Array("0123456789abcdef".utf8)
            buffer.writeString("\\u00")
            buffer.writeInteger(hex[Int(byte >> 4)])
            buffer.writeInteger(hex[Int(byte & 0xf)])
        default:
            buffer.writeInteger(byte)
        }
    }
    buffer.writeInteger(UInt8(ascii: "\""))
}
