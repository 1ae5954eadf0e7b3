import NIOCore

/// Assembles a client connection's pipeline synchronously on its own loop: one handler, which
/// parses requests (`ClientRequestParser`), encodes responses (`ResponseWriter`) and sequences
/// pipelined requests itself.
enum ClientPipeline {
    static func configure(channel: any Channel, loop: LoopContext) throws {
        try channel.pipeline.syncOperations.addHandler(ExchangeHandler(loop: loop, eventLoop: channel.eventLoop))
    }
}
