import NIOCore

/// What waits for a reply in a connection's FIFO: a guard's operation (`RedisOperation`), or a
/// collector of several replies (handshake, admin scans). Called on the connection's loop only.
protocol RedisReplyReceiver: AnyObject {
    /// When the caller stops waiting; `.distantFuture` for work bounded elsewhere.
    var deadline: NIODeadline { get }
    func receive(_ reply: Result<RedisValue, StoreUnavailable>)
}

/// The last handler of a Redis connection's pipeline: feeds inbound bytes to hiredis's reader and
/// answers the waiting receivers in order. Redis answers a connection's commands in the order they
/// were sent, so one FIFO pairs them up however many are in flight (pipelining).
///
/// An entry whose caller gave up (its deadline passed) keeps its place with no receiver, so the
/// late reply still pairs with it and the replies behind it stay in step. The same goes for a
/// command whose reply nobody reads (ASKING, SCRIPT LOAD before a retried EVALSHA).
///
/// Writes do not pass through here as values: `RedisConnection` enqueues and writes the encoded
/// bytes on the same loop tick, so the FIFO's order is the wire's order.
final class RedisConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private struct Waiting {
        var receiver: (any RedisReplyReceiver)?
        let deadline: NIODeadline
    }

    private let reader = RedisReplyReader()
    private var waiting = CircularBuffer<Waiting>(initialCapacity: 16)
    /// False once the channel went inactive: a command enqueued after that would never be answered.
    private(set) var isOpen = true

    /// When the last reply came, or the first command was queued on an idle connection: the time
    /// from which a silent server counts as wedged.
    private(set) var lastProgress = NIODeadline.now()

    var inFlight: Int { waiting.count }

    /// Queues the reply slot of one command; a nil receiver discards its reply.
    func enqueue(_ receiver: (any RedisReplyReceiver)?, deadline: NIODeadline) {
        guard isOpen else {
            receiver?.receive(.failure(StoreUnavailable(.connection)))
            return
        }
        if waiting.isEmpty { lastProgress = .now() }
        waiting.append(Waiting(receiver: receiver, deadline: deadline))
    }

    /// Fails every receiver whose deadline has passed (keeping their places) and tells whether
    /// any did, and the earliest deadline still running.
    func expire(now: NIODeadline) -> (expired: Bool, next: NIODeadline?) {
        var expired: [any RedisReplyReceiver] = []
        var next: NIODeadline?
        for index in waiting.indices {
            guard let receiver = waiting[index].receiver else { continue }
            let deadline = waiting[index].deadline
            if deadline <= now {
                expired.append(receiver)
                waiting[index].receiver = nil
            } else if deadline != .distantFuture {
                next = min(next ?? deadline, deadline)
            }
        }
        // Answered after the walk: a receiver's callbacks may queue new commands here.
        for receiver in expired { receiver.receive(.failure(StoreUnavailable(.timeout))) }
        return (!expired.isEmpty, next)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do {
            try reader.feed(unwrapInboundIn(data))
            while let value = try reader.next() {
                lastProgress = .now()
                guard let entry = waiting.popFirst() else {
                    // A reply nobody asked for: the stream is out of step, so nothing after it can be trusted.
                    throw RedisReplyReader.ProtocolError()
                }
                entry.receiver?.receive(.success(value))
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
        while let entry = waiting.popFirst() { entry.receiver?.receive(.failure(StoreUnavailable(reason))) }
    }
}

/// Several replies for one caller, answered together once the last arrives (pipelined commands
/// on one connection: the handshake, a page of admin reads).
final class RedisReplyCollector: RedisReplyReceiver {
    let deadline = NIODeadline.distantFuture
    private let promise: EventLoopPromise<[RedisValue]>
    private let expected: Int
    private var replies: [RedisValue] = []
    private var failed = false

    init(expected: Int, promise: EventLoopPromise<[RedisValue]>) {
        self.expected = expected
        self.promise = promise
        replies.reserveCapacity(expected)
    }

    func receive(_ reply: Result<RedisValue, StoreUnavailable>) {
        guard !failed else { return }
        switch reply {
        case .success(let value):
            replies.append(value)
            if replies.count == expected { promise.succeed(replies) }
        case .failure(let error):
            failed = true
            promise.fail(error)
        }
    }
}

@available(*, unavailable)
extension RedisConnectionHandler: Sendable {}

@available(*, unavailable)
extension RedisReplyCollector: Sendable {}
