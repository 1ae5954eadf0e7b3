import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// An app that keeps the exact bytes of each request it receives, without an HTTP parser in
/// between (NIO's would refuse or normalise what a test wants to see as sent). It reads a head,
/// then as many body bytes as the head's first Content-Length value names, and answers
/// `200` with body `ok`.
public final class RawRecordingUpstream: Sendable {
    private let channel: any Channel
    private let recorded: NIOLockedValueBox<[[UInt8]]>
    public let port: Int

    public static func start(group: any EventLoopGroup) async throws -> RawRecordingUpstream {
        let recorded = NIOLockedValueBox<[[UInt8]]>([])
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Handler(recorded: recorded))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return RawRecordingUpstream(channel: channel, recorded: recorded)
    }

    private init(channel: any Channel, recorded: NIOLockedValueBox<[[UInt8]]>) {
        self.channel = channel
        self.recorded = recorded
        self.port = channel.localAddress?.port ?? 0
    }

    /// Each complete request as it arrived: head and body bytes.
    public var requests: [[UInt8]] { recorded.withLockedValue { $0 } }

    public func stop() async { try? await channel.close() }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        private let recorded: NIOLockedValueBox<[[UInt8]]>
        private var bytes: [UInt8] = []

        init(recorded: NIOLockedValueBox<[[UInt8]]>) { self.recorded = recorded }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            bytes += buffer.readBytes(length: buffer.readableBytes) ?? []
            while let length = Self.completeRequestLength(bytes) {
                let request = Array(bytes[..<length])
                bytes.removeFirst(length)
                recorded.withLockedValue { $0.append(request) }
                context.writeAndFlush(
                    wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")), promise: nil
                )
            }
        }

        /// Head plus the body its first Content-Length value announces, once all of it is here.
        static func completeRequestLength(_ bytes: [UInt8]) -> Int? {
            let text = String(decoding: bytes, as: UTF8.self)
            guard let end = text.range(of: "\r\n\r\n") else { return nil }
            let head = text[..<end.lowerBound]
            let headLength = text.utf8.distance(from: text.startIndex, to: end.upperBound)
            var bodyLength = 0
            for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
                let value = line.dropFirst("content-length:".count).prefix { $0 != "," }
                bodyLength = Int(value.trimmingCharacters(in: .whitespaces)) ?? 0
                break
            }
            return bytes.count >= headLength + bodyLength ? headLength + bodyLength : nil
        }
    }
}
