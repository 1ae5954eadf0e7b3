#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix

// Usage: nio-floor LISTEN_PORT UPSTREAM_PORT [THREADS]
// Each client connection gets its own connection to 127.0.0.1:UPSTREAM_PORT; bytes are copied
// both ways unparsed. Correct only for request/response traffic that never outruns the connect.

final class ClientSide: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let upstreamPort: Int
    var upstream: (any Channel)?
    var early: [ByteBuffer] = []
    var context: ChannelHandlerContext?

    init(upstreamPort: Int) { self.upstreamPort = upstreamPort }

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        let me = NIOLoopBound(self, eventLoop: context.eventLoop)
        ClientBootstrap(group: context.eventLoop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UpstreamSide(client: me.value))
                }
            }
            .connect(host: "127.0.0.1", port: upstreamPort)
            .assumeIsolatedUnsafeUnchecked()
            .whenComplete { result in
                guard case .success(let channel) = result else { return context.close(promise: nil) }
                me.value.upstream = channel
                for bytes in me.value.early { channel.write(bytes, promise: nil) }
                me.value.early = []
                channel.flush()
            }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        if let upstream { upstream.writeAndFlush(bytes, promise: nil) } else { early.append(bytes) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        upstream?.close(promise: nil)
        self.context = nil
    }
}

final class UpstreamSide: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let client: ClientSide

    init(client: ClientSide) { self.client = client }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        client.context?.writeAndFlush(data, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) { client.context?.close(promise: nil) }
}

let arguments = CommandLine.arguments
guard arguments.count >= 3, let listenPort = Int(arguments[1]), let upstreamPort = Int(arguments[2]) else {
    print("usage: nio-floor LISTEN_PORT UPSTREAM_PORT [THREADS]")
    exit(64)
}
let threads = arguments.count > 3 ? Int(arguments[3]) ?? 1 : 1
let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
let server = try ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 4096)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ClientSide(upstreamPort: upstreamPort))
        }
    }
    .bind(host: "127.0.0.1", port: listenPort).wait()
try server.closeFuture.wait()
