import NIOCore
import NIOHTTP1

/// Respond: the app's answer streams back to the client. Its head is rewritten once (hop-by-hop
/// fields, the request id, the policy's and the guards' response headers, framing for the
/// client's version); body parts are coalesced and flushed once per read of the app connection.
/// A 101 to a WebSocket upgrade turns the connection into a tunnel.
///
/// These are the calls `UpstreamHandler` makes on the exchange it is leased to.
extension ExchangeHandler {
    func upstreamHead(_ head: UpstreamResponseHead) {
        guard context != nil, let plan = exchange.plan else { return }
        exchange.upstreamStatus = head.status
        exchange.upstreamFirstByte = clocks.lastActivity
        if request.captureLimit > 0 { request.capture(head: head) }
        if let logging = exchange.route?.bodyLogging, head.contentLength != 0, let kind = logging.kind(of: head.contentType) {
            exchange.responseBody = CapturedBody(kind: kind, limit: logging.maxBytes, allocator: loop.allocator)
        }
        // After an upgrade request the app's parser state is unknown unless it switched: never reuse.
        exchange.upstreamReusable = !head.connectionClose && !exchange.facts.isWebSocketUpgrade
        let upgrading = exchange.facts.isWebSocketUpgrade && head.status == 101
        if head.status == 101 && !upgrading {
            // A switch nobody asked for: the bytes after it are not HTTP.
            upstreamFailed(.protocolError, connection: upstream!)
            return
        }
        // An upgrade the app declined leaves the request decoder stopped: the connection cannot carry more.
        let closeAfter = machine.closesAfterAppAnswer(
            draining: loop.isDraining, parserStopsAfterRequest: exchange.facts.parserStopsAfterRequest && !upgrading
        )
        let code = head.status
        let bodyless = exchange.method == .HEAD || code == 204 || code == 304 || (code >= 100 && code < 200)
        let guardHeaders = request.responseAdditions
        let closeDelimited = writer.proxiedHead(
            head,
            .init(
                requestID: exchange.requestID,
                clientVersion: exchange.version,
                closeAfter: closeAfter,
                isWebSocketUpgrade: upgrading,
                extraHeaders: ResponseFieldEdits.combined(plan.responseHeaders, guardHeaders),
                bodyless: bodyless
            ),
            allocator: loop.allocator
        )
        machine.appAnswerStarted(close: closeAfter || closeDelimited)
        exchange.status = code
        // The tunnel starts once this read burst is parsed, so bytes after the 101 are kept.
        if upgrading { exchange.upgrading = true }
    }

    func upstreamBody(_ buffer: ByteBuffer) {
        guard let context else { return }
        exchange.bytesOut += buffer.readableBytes
        if request.captureLimit > 0 { request.capture(body: buffer) }
        if exchange.responseBody != nil { exchange.responseBody!.append(buffer) }
        writer.body(buffer, context: context)
    }

    func upstreamEnd() {
        guard let context, let connection = upstream, !exchange.upgrading else { return }
        upstream = nil
        let pooled = connection.finish(
            reusable: exchange.upstreamReusable && machine.requestComplete && !loop.isDraining)
        machine.appAnswerEnded()
        // Complete before the last write: with a close, the write can complete (and the channel
        // go inactive) synchronously, and the exchange must already count as done by then.
        let closing = machine.closeAfterResponse
        complete(status: exchange.status, at: clocks.lastActivity)
        if closing {
            writer.end(context: context, needsCompletion: true)?.assumeIsolatedUnsafeUnchecked().whenComplete { _ in
                context.close(promise: nil)
            }
        } else {
            _ = writer.end(context: context, needsCompletion: false)
            // A closed app connection sends no read-complete that would flush this answer.
            if !pooled { context.flush() }
        }
    }

    /// The app's connection has bytes: one clock read for everything this read event does.
    func upstreamReadBegan() { clocks.lastActivity = .now() }

    func upstreamReadComplete() {
        guard let context else { return }
        if exchange.upgrading, machine.state == .forwarding, let connection = upstream {
            startTunnel(context: context, upstream: connection)
            return
        }
        writer.writePending(context: context)
        context.flush()
    }

    private func startTunnel(context: ChannelHandlerContext, upstream connection: UpstreamHandler) {
        machine.tunnelStarted()
        upstream = nil
        writer.writePending(context: context)
        context.flush()
        complete(status: 101)
        // Bytes the client sent after its upgrade request were not parsed; they go to the app.
        let early = inbound
        inbound = nil
        TunnelSplicer.splice(client: context, exchangeHandler: self, upstream: connection, clientBytes: early)
    }
}
