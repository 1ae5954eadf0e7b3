import NIOCore

/// The only handler of a connection to the app. It writes request bytes that `RequestWriter`
/// encoded and parses the answer with `UpstreamResponseParser`, handing each event straight to
/// the exchange that leased it (same event loop, a plain method call). While idle in the pool it
/// only watches for the app closing the connection; bytes arriving then mean it cannot be trusted.
final class UpstreamHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private(set) var context: ChannelHandlerContext?
    private(set) var exchange: ExchangeHandler?
    /// The exchange whose response ended during this read burst; it still needs the flush that
    /// `channelReadComplete` gives, although it no longer owns the connection.
    private var finishedExchange: ExchangeHandler?
    // Strong: a weak reference moves the pool's refcount to a side table, which made every
    // retain of it on the request path take the slow path. Pools are per loop and outlive this.
    private let pool: UpstreamPool
    private var parser = UpstreamResponseParser()
    /// Bytes received but not yet parsed (an incomplete line), or bytes after a 101.
    private var inbound: ByteBuffer?
    private var readPending = false
    private(set) var isActive = false
    /// Set once the connection has served a request; a failure on a reused connection before any
    /// response byte may be retried on a fresh one.
    var requestsServed = 0
    /// When the response head is due, for the loop's deadline sweep.
    var responseDeadline: NIODeadline?

    init(pool: UpstreamPool) { self.pool = pool }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.isActive = context.channel.isActive
    }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelActive(context: ChannelHandlerContext) {
        isActive = true
        context.fireChannelActive()
    }

    func lease(to exchange: ExchangeHandler, expectingHeadResponse: Bool) {
        self.exchange = exchange
        parser.expectResponse(toHEAD: expectingHeadResponse)
    }

    /// Detaches the exchange; returns the connection to the pool if it can carry another request.
    /// Returns whether the connection was kept. A connection that is closed instead gives no
    /// `channelReadComplete` for this read (NIO fires none once the channel is closed, and the
    /// pool may also close it when full), so the exchange must flush its client itself.
    @discardableResult
    func finish(reusable: Bool) -> Bool {
        let finished = exchange
        exchange = nil
        responseDeadline = nil
        requestsServed += 1
        if reusable, isActive, parser.isIdle, pool.release(self) {
            finishedExchange = finished
            return true
        }
        close()
        return false
    }

    func close() {
        outgoing = nil
        exchange = nil
        finishedExchange = nil
        responseDeadline = nil
        context?.close(promise: nil)
    }

    /// Kept from writability events (see `ExchangeHandler.clientIsWritable`).
    private var writable = true
    var isWritable: Bool { writable && context != nil }

    /// Request bytes gathered until the next flush: a head and a small body leave as one buffer
    /// (one iovec), and the client's receive buffer is not pinned by a slice of it.
    private var outgoing: ByteBuffer?
    private static let coalesceLimit = 8 * 1024

    func write(_ bytes: ByteBuffer) {
        guard bytes.readableBytes <= Self.coalesceLimit else {
            writeOutgoing()
            context?.write(wrapOutboundOut(bytes), promise: nil)
            return
        }
        if outgoing == nil {
            // The head buffer was sized for a small body already (RequestWriter): no copy here.
            outgoing = bytes
        } else {
            var copy = bytes
            outgoing!.writeBuffer(&copy)
        }
    }

    private func writeOutgoing() {
        if let buffer = outgoing {
            outgoing = nil
            context?.write(wrapOutboundOut(buffer), promise: nil)
        }
    }

    func flush() {
        writeOutgoing()
        context?.flush()
    }

    /// Bytes that followed a 101 response: the first bytes of the tunnel.
    func takeTunnelBytes() -> ByteBuffer? {
        defer { inbound = nil }
        return inbound
    }

    /// Restarts reading from the app once the client can take more bytes.
    func resumeReading() {
        guard readPending, let context else { return }
        readPending = false
        context.read()
    }

    func read(context: ChannelHandlerContext) {
        if let exchange, !exchange.clientIsWritable {
            readPending = true
            return
        }
        context.read()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if var pending = inbound {
            pending.writeBuffer(&bytes)
            bytes = pending
        }
        guard exchange != nil || parser.isUpgraded else {
            // An idle connection must stay silent; anything else means it cannot be trusted.
            inbound = nil
            close()
            return
        }
        inbound = nil
        exchange?.upstreamReadBegan()
        do {
            while let event = try parser.next(&bytes) {
                guard let exchange else {
                    throw UpstreamResponseParser.ParseError.malformed("response after the exchange ended")
                }
                switch event {
                case .head(let head):
                    responseDeadline = nil
                    exchange.upstreamHead(head)
                case .body(let buffer):
                    exchange.upstreamBody(buffer)
                case .end:
                    exchange.upstreamEnd()
                }
            }
            inbound = bytes.readableBytes > 0 ? bytes : nil
        } catch {
            pool.remove(self)
            fail(.protocolError)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let finished = finishedExchange {
            finishedExchange = nil
            finished.upstreamReadComplete()
        }
        exchange?.upstreamReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writable = context.channel.isWritable
        if writable { exchange?.upstreamBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        isActive = false
        pool.remove(self)
        if let exchange {
            if parser.connectionClosed() {
                // The body was delimited by the close: the response is complete.
                exchange.upstreamEnd()
                exchange.upstreamReadComplete()
            } else {
                self.exchange = nil
                exchange.upstreamFailed(.connectionLost, connection: self)
            }
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(.connectionLost)
    }

    private func fail(_ failure: ProxyFailure) {
        if let exchange {
            self.exchange = nil
            exchange.upstreamFailed(failure, connection: self)
        }
        context?.close(promise: nil)
    }

    /// Called by the loop's sweep; fails the exchange when the app is too slow to answer.
    func checkDeadline(now: NIODeadline) {
        guard let deadline = responseDeadline, deadline <= now, let exchange else { return }
        self.exchange = nil
        responseDeadline = nil
        exchange.upstreamFailed(.responseTimeout, connection: self)
        context?.close(promise: nil)
    }
}

@available(*, unavailable)
extension UpstreamHandler: Sendable {}
