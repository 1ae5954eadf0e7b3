import NIOCore
import NIOHTTP1

/// Assembles a client connection's pipeline synchronously on its own loop:
/// decoder (header limit from the plan) and exchange, which encodes responses and sequences pipelined requests.
enum ClientPipeline {
    static func configure(channel: any Channel, loop: LoopContext) throws {
        let plan = loop.plan
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderListSize = plan.limits.maxHeaderBytes
        limits.maxHeaderFieldSize = plan.limits.maxHeaderBytes
        let sync = channel.pipeline.syncOperations
        // No HTTPResponseEncoder: ExchangeHandler writes response bytes itself (see ResponseWriter).
        try sync.addHandler(
            ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes, limitConfiguration: limits))
        )
        try sync.addHandler(ExchangeHandler(loop: loop, eventLoop: channel.eventLoop))
    }
}
