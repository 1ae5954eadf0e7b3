import NIOCore
import NIOHTTP1

/// Turns an upgraded exchange into a byte tunnel: the HTTP handlers leave both pipelines and a
/// pair of `TunnelHandler`s copy bytes across, each reading only while its partner can write.
enum TunnelSplicer {
    static func splice(
        client: ChannelHandlerContext, exchangeHandler: ExchangeHandler, upstream: UpstreamHandler, clientBytes: ByteBuffer?
    ) {
        guard let upstreamContext = upstream.context else {
            client.close(promise: nil)
            return
        }
        let clientSide = TunnelHandler()
        let upstreamSide = TunnelHandler()
        clientSide.partner = upstreamSide
        upstreamSide.partner = clientSide
        do {
            let clientPipeline = client.pipeline.syncOperations
            try clientPipeline.addHandler(clientSide)
            clientPipeline.removeHandler(exchangeHandler, promise: nil)
            // Bytes the app sent right after its 101 belong to the tunnel.
            if let early = upstream.takeTunnelBytes() { client.writeAndFlush(NIOAny(early), promise: nil) }
            let upstreamPipeline = upstreamContext.pipeline.syncOperations
            try upstreamPipeline.addHandler(upstreamSide)
            upstreamPipeline.removeHandler(upstream, promise: nil)
            if let clientBytes, clientBytes.readableBytes > 0 {
                upstreamContext.channel.writeAndFlush(clientBytes, promise: nil)
            }
        } catch {
            client.close(promise: nil)
            upstreamContext.close(promise: nil)
        }
    }
}

/// One side of a tunnel: what it reads, its partner writes.
final class TunnelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    var partner: TunnelHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    fileprivate func partnerWrite(_ data: ByteBuffer) { context?.write(wrapOutboundOut(data), promise: nil) }
    fileprivate func partnerFlush() { context?.flush() }
    fileprivate func partnerClose() { context?.close(promise: nil) }
    fileprivate var isWritable: Bool { context?.channel.isWritable ?? false }

    fileprivate func partnerBecameWritable() {
        if pendingRead, let context {
            pendingRead = false
            context.read()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner?.partnerWrite(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) { partner?.partnerFlush() }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.partnerClose()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.partnerBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if let partner, !partner.isWritable {
            pendingRead = true
        } else {
            context.read()
        }
    }
}

@available(*, unavailable)
extension TunnelHandler: Sendable {}
