import NIOCore
import NIOHTTP1

/// Assembles a client connection's pipeline synchronously on its own loop:
/// encoder, decoder (header limit from the plan), request pipelining, protocol errors, exchange.
enum ClientPipeline {
    static func configure(channel: any Channel, loop: LoopContext) throws {
        let plan = loop.plan
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderListSize = plan.limits.maxHeaderBytes
        limits.maxHeaderFieldSize = plan.limits.maxHeaderBytes
        var encoderConfiguration = HTTPResponseEncoder.Configuration()
        // Palisade sets Content-Length / Transfer-Encoding itself from what the app sent.
        encoderConfiguration.automaticallySetFramingHeaders = false
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(HTTPResponseEncoder(configuration: encoderConfiguration))
        try sync.addHandler(
            ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes, limitConfiguration: limits))
        )
        try sync.addHandler(HTTPServerPipelineHandler())
        let stats = loop.stats
        try sync.addHandler(ProtocolErrorHandler(onReject: { code in stats.rejections[code.code, default: 0] += 1 }))
        try sync.addHandler(ExchangeHandler(loop: loop, eventLoop: channel.eventLoop))
    }
}
