import NIOCore
import NIOHTTP1

/// One client connection, driven through the phases of each request's life, each in a file of
/// its own under Pipeline/Phases:
///
///     Admit → Route → Guards → Upstream → Respond → Complete
///
/// plus one writer for every answer Palisade makes itself (LocalAnswer) and the connection's
/// clocks (Deadlines). Every decision about reading, closing and sequencing pipelined requests
/// is the `ExchangeStateMachine`'s; this file holds the connection's lifecycle and its input.
/// All of it runs on the connection's event loop; the only futures are the app connect and
/// guards that ask the store. Reads from the client are withheld while the request cannot move
/// on (connecting, app not writable), which is all the backpressure needed.
final class ExchangeHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let loop: LoopContext
    var context: ChannelHandlerContext?
    var machine = ExchangeStateMachine()
    let request: GuardRequest
    var exchange = Exchange()
    /// The `log.headers` one request carried, gathered for its access line: kept between
    /// requests (the line is written before the next one starts), so gathering allocates nothing.
    var loggedHeaders: [(String, String)] = []
    var upstream: UpstreamHandler?
    /// Request parts that arrived while no upstream connection was ready.
    var pendingParts = CircularBuffer<HTTPServerRequestPart>(initialCapacity: 0)
    var writer = ResponseWriter()
    var parser: ClientRequestParser
    /// Bytes read from the client and not yet parsed. Parsing stops at the end of a request
    /// until its exchange is finished, so pipelined requests simply wait here, in order, and a
    /// malformed one is only noticed once those before it are answered. Unlike NIO's
    /// HTTPServerPipelineHandler, reads are not paused for every response (that costs two
    /// epoll_ctl calls per request), only when more than `maxBufferedInput` bytes wait.
    var inbound: ByteBuffer?
    var isDrainingInbound = false
    static let maxBufferedInput = 64 * 1024
    static let noBytes = ByteBuffer()
    var upstreamNeedsFlush = false
    var peerAddress = IPAddressBytes(ipv4: 0)
    var peerText = "0.0.0.0"
    /// Connection timing for the loop's sweep.
    var clocks = ConnectionClocks(now: .now())
    var headSeenThisRead = false
    /// Between channelRead and channelReadComplete: writes to the app can wait for the flush there.
    var inReadBurst = false
    /// Kept from writability events, so the app side can ask on every read without reaching
    /// through the channel (each `context.channel` costs a retain and a release).
    private(set) var clientIsWritable = true

    init(loop: LoopContext, eventLoop: any EventLoop) {
        self.loop = loop
        self.request = GuardRequest(
            eventLoop: eventLoop, jwtCache: loop.jwtCache, slots: loop.slots, securityEvents: loop.accessLog.securityEvents)
        self.parser = ClientRequestParser(maxHeadBytes: loop.plan.limits.maxHeaderBytes)
    }

    /// When this connection last became idle (no request in progress, no bytes of the next one
    /// read), or nil while it is busy: what `limits.max_connections` closes first.
    var idleSince: NIODeadline? {
        guard machine.state == .idle, clocks.headStartedAt == nil, (inbound?.readableBytes ?? 0) == 0 else { return nil }
        return clocks.idleSince
    }

    /// Closes an idle connection to make room for a new one (`limits.max_connections`).
    func closeForConnectionLimit() {
        context?.close(promise: nil)
    }

    // MARK: connection lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if let remote = context.channel.remoteAddress, let ip = remote.ipAddress,
            let parsed = IPAddressBytes(parsing: ip)
        {
            peerAddress = parsed
            peerText = parsed.description
        }
        loop.register(self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        loop.unregister(self)
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        if machine.clientClosed() == .abandonExchange {
            exchange.error = "client_closed"
            upstream?.close()
            upstream = nil
            complete(status: 499)
        }
        loop.unregister(self)
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        clientIsWritable = context.channel.isWritable
        if clientIsWritable { upstream?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        let backlog = (inbound?.readableBytes ?? 0) >= Self.maxBufferedInput
        if machine.readRequested(inputBacklogFull: backlog, appWritable: upstream?.isWritable ?? true) == .read {
            context.read()
        }
    }

    /// Asks again for a read the machine held back, now that the exchange may have moved on.
    func resumeClientReads() {
        guard let context, machine.takePendingRead() else { return }
        read(context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            let partial = inbound != nil || clocks.headStartedAt != nil
            if machine.quiesce(partialInput: partial) == .closeNow { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.fireErrorCaught(error)
    }

    // MARK: input from the client

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inReadBurst = true
        // One clock read per read event: the request start, the app's deadline and the idle
        // clocks all use it.
        clocks.lastActivity = .now()
        var bytes = unwrapInboundIn(data)
        if inbound == nil {
            inbound = bytes
        } else {
            inbound!.writeBuffer(&bytes)
        }
        drainInbound()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        inReadBurst = false
        if upstreamNeedsFlush {
            upstreamNeedsFlush = false
            upstream?.flush()
        }
        // Bytes arrived but no whole head came of them: the header-read clock starts now.
        if machine.state == .idle, clocks.headStartedAt == nil, !headSeenThisRead, (inbound?.readableBytes ?? 0) > 0 {
            clocks.headStartedAt = clocks.lastActivity
        }
        headSeenThisRead = false
        context.fireChannelReadComplete()
    }

    /// Parses buffered bytes into request events for as long as the current exchange can take them.
    func drainInbound() {
        guard !isDrainingInbound, context != nil else { return }
        isDrainingInbound = true
        defer { isDrainingInbound = false }
        while true {
            if machine.state == .tunnelling || machine.nextRequestWaits { break }
            if machine.discardsInput {
                inbound = nil
                break
            }
            // Taken out while parsing, so the slices handed on do not force a copy.
            var buffer = inbound ?? Self.noBytes
            inbound = nil
            let event: ClientRequestParser.Event?
            do {
                event = try parser.next(&buffer)
            } catch {
                parserFailed(error as? HTTPParserError ?? .unknown)
                break
            }
            if buffer.readableBytes > 0 { inbound = buffer }
            guard let event else { break }
            switch event {
            case .head(let head): admit(head)
            case .body(let part): receivedBody(part)
            case .end: receivedEnd()
            }
        }
        if (inbound?.readableBytes ?? 0) < Self.maxBufferedInput { resumeClientReads() }
    }

    /// A parse error: the bytes cannot be resynchronised, so the connection ends after the answer.
    private func parserFailed(_ error: HTTPParserError) {
        inbound = nil
        switch machine.parseFailed() {
        case .ignore:
            break
        case .failCurrent:
            // The head was accepted, so the fault is in the body; name it for chunked bodies.
            let code =
                exchange.facts.isChunked
                ? RejectionCode("invalid_chunked_body", status: .badRequest) : ProtocolErrorCodes.code(for: error)
            failCurrentRequest(code)
        case .closeNow:
            context?.close(promise: nil)
        case .answerAndClose:
            beginUnparsedExchange()
            answer(ProtocolErrorCodes.code(for: error), forceClose: true)
        }
    }

    /// A request whose body turned out malformed mid-way: the app connection is dropped (it saw a
    /// partial request) and the client is answered if nothing was sent yet, then disconnected.
    func failCurrentRequest(_ code: RejectionCode) {
        upstream?.close()
        upstream = nil
        if machine.responseStarted {
            exchange.error = code.code
            machine.answerBrokenOff()
            complete(status: exchange.status)
            context?.close(promise: nil)
        } else {
            answer(code, forceClose: true)
        }
    }
}

@available(*, unavailable)
extension ExchangeHandler: Sendable {}
