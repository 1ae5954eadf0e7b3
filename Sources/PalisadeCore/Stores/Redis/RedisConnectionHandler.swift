import NIOCore

/// The last handler of a Redis connection's pipeline: feeds inbound bytes to hiredis's reader and
/// answers the waiting promises in order. Redis answers a connection's commands in the order they
/// were sent, so one FIFO pairs them up however many are in flight (pipelining).
///
/// Writes do not pass through here as values: `RedisConnection` appends the promise and writes the
/// encoded bytes on the same loop tick, so the FIFO's order is the wire's order.
final class RedisConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let reader = RedisReplyReader()
    private var waiting = CircularBuffer<EventLoopPromise<RedisValue>>(initialCapacity: 16)
    /// False once the channel went inactive: a command enqueued after that would never be answered.
    private(set) var isOpen = true

    /// When the last reply came, or the first command was queued on an idle connection: the time
    /// from which a silent server counts as wedged.
    private(set) var lastProgress = NIODeadline.now()

    var inFlight: Int { waiting.count }

    func enqueue(_ promise: EventLoopPromise<RedisValue>) {
        guard isOpen else {
            promise.fail(StoreUnavailable(.connection))
            return
        }
        if waiting.isEmpty { lastProgress = .now() }
        waiting.append(promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do {
            try reader.feed(unwrapInboundIn(data))
            while let value = try reader.next() {
                lastProgress = .now()
                guard let promise = waiting.popFirst() else {
                    // A reply nobody asked for: the stream is out of step, so nothing after it can be trusted.
                    throw RedisReplyReader.ProtocolError()
                }
                promise.succeed(value)
            }
        } catch {
            failAll(.reply)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(.connection)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(.connection)
        context.close(promise: nil)
    }

    private func failAll(_ reason: StoreUnavailable.Reason) {
        isOpen = false
        while let promise = waiting.popFirst() { promise.fail(StoreUnavailable(reason)) }
    }
}

@available(*, unavailable)
extension RedisConnectionHandler: Sendable {}
