import NIOCore
import NIOHTTP1

/// Drives one client connection through the phases of each request: admit, route, guard, forward,
/// respond, complete, log. All on the connection's event loop; the only future is the upstream
/// connect (and, later, store answers). Reads from the client are withheld while the request
/// cannot move on (connecting, app not writable), which is all the backpressure needed.
final class ExchangeHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum State {
        /// Waiting for a request head.
        case idle
        /// Reading the body a guard needs before deciding.
        case bufferingBody
        /// Waiting for a guard that asked the store.
        case awaitingGuard
        /// Guards passed; waiting for a connection to the app.
        case connecting
        /// The request is with the app and its answer streams back.
        case forwarding
        /// Palisade answered itself; the rest of the request is discarded and the connection closes.
        case replied
        /// A WebSocket tunnel replaced the HTTP handlers.
        case tunnelling
    }

    let loop: LoopContext
    private var context: ChannelHandlerContext?
    private(set) var state: State = .idle
    private let request: GuardRequest
    private var exchange = Exchange()
    private var upstream: UpstreamHandler?
    /// Request parts that arrived while no upstream connection was ready.
    private var pendingParts = CircularBuffer<HTTPServerRequestPart>(initialCapacity: 0)
    private var readPending = false
    private var writer = ResponseWriter()
    private var parser: ClientRequestParser
    /// Bytes read from the client and not yet parsed. Parsing stops at the end of a request
    /// until its exchange is finished, so pipelined requests simply wait here, in order, and a
    /// malformed one is only noticed once those before it are answered. Unlike NIO's
    /// HTTPServerPipelineHandler, reads are not paused for every response (that costs two
    /// epoll_ctl calls per request), only when more than `maxBufferedInput` bytes wait.
    private var inbound: ByteBuffer?
    private var isDrainingInbound = false
    private static let maxBufferedInput = 64 * 1024
    private static let noBytes = ByteBuffer()
    /// Set by a quiesce event (SIGTERM drain): close once the current response is complete.
    private var quiescing = false
    private var upstreamNeedsFlush = false
    private var peerAddress = IPAddressBytes(ipv4: 0)
    private var peerText = "0.0.0.0"
    // Connection timing for the loop's sweep.
    private var clocks = ConnectionClocks(now: .now())
    private var headSeenThisRead = false
    /// Between channelRead and channelReadComplete: writes to the app can wait for the flush there.
    private var inReadBurst = false

    init(loop: LoopContext, eventLoop: any EventLoop) {
        self.loop = loop
        self.request = GuardRequest(eventLoop: eventLoop, jwtCache: loop.jwtCache)
        self.parser = ClientRequestParser(maxHeadBytes: loop.plan.limits.maxHeaderBytes)
    }

    /// When this connection last became idle (no request in progress, no bytes of the next one
    /// read), or nil while it is busy: what `limits.max_connections` closes first.
    var idleSince: NIODeadline? {
        guard state == .idle, clocks.headStartedAt == nil, (inbound?.readableBytes ?? 0) == 0 else { return nil }
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
        switch state {
        case .forwarding, .connecting, .bufferingBody, .awaitingGuard:
            // The client left mid-exchange: the app's answer has nowhere to go.
            exchange.error = "client_closed"
            upstream?.close()
            upstream = nil
            finishExchange(status: 499)
        case .tunnelling, .idle, .replied:
            break
        }
        loop.unregister(self)
        context.fireChannelInactive()
    }

    /// Kept from writability events, so the app side can ask on every read without reaching
    /// through the channel (each `context.channel` costs a retain and a release).
    private(set) var clientIsWritable = true

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        clientIsWritable = context.channel.isWritable
        if clientIsWritable { upstream?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if (inbound?.readableBytes ?? 0) >= Self.maxBufferedInput {
            readPending = true
            return
        }
        switch state {
        case .connecting, .awaitingGuard:
            readPending = true
        case .forwarding where !(upstream?.isWritable ?? true):
            readPending = true
        default:
            context.read()
        }
    }

    private func resumeClientReads() {
        guard readPending, let context else { return }
        readPending = false
        context.read()
    }

    // MARK: request from the client

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

    /// True once the current request has been read in full but its exchange is not finished: what
    /// arrives now belongs to the next request and waits its turn.
    private var nextRequestWaits: Bool {
        switch state {
        case .idle: return false
        case .replied: return exchange.requestComplete
        case .tunnelling: return false
        default: return exchange.requestComplete
        }
    }

    /// Parses buffered bytes into request events for as long as the connection can take them.
    private func drainInbound() {
        guard !isDrainingInbound, context != nil else { return }
        isDrainingInbound = true
        defer { isDrainingInbound = false }
        while true {
            if state == .tunnelling || nextRequestWaits { break }
            if state == .replied && exchange.closeAfterResponse {
                // The connection closes after this answer: nothing more from it is parsed.
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
            case .head(let head):
                receivedHead(head)
            case .body(let part):
                receivedBody(part)
            case .end:
                receivedEnd()
            }
        }
        if readPending, let context, (inbound?.readableBytes ?? 0) < Self.maxBufferedInput {
            readPending = false
            read(context: context)
        }
    }

    /// A parse error: the bytes cannot be resynchronised, so the connection ends after the answer.
    private func parserFailed(_ error: HTTPParserError) {
        inbound = nil
        if state == .replied && exchange.closeAfterResponse {
            // Already answered (a refusal that closes the connection): no second answer.
            return
        }
        if state != .idle && state != .replied {
            // The request being handled is itself malformed (a bad chunk in its body, say): the app
            // must not see the rest, and the client gets its answer now.
            // Head already accepted, so the fault is in the body; name it for chunked bodies.
            let code = exchange.facts.isChunked
                ? RejectionCode("invalid_chunked_body", status: .badRequest) : ProtocolErrorCodes.code(for: error)
            failCurrentRequest(code)
        } else {
            protocolError(error)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.fireErrorCaught(error)
    }

    /// The parser cannot resynchronise: answer 400 (431 for oversized heads) and close.
    private func protocolError(_ error: HTTPParserError) {
        guard context != nil else { return }
        if state == .replied && !exchange.responseComplete {
            context?.close(promise: nil)
            return
        }
        beginUnparsedExchange()
        reply(ProtocolErrorCodes.code(for: error), forceClose: true)
    }

    /// Bookkeeping for a refusal that has no parsed request behind it (parse error, header timeout).
    private func beginUnparsedExchange() {
        exchange = Exchange()
        exchange.plan = loop.plan
        exchange.start = clocks.lastActivity
        exchange.startWall = WallClock.now()
        exchange.clientIPText = peerText
        exchange.keepAlive = false
        exchange.requestComplete = true
        exchange.unparsed = true
        exchange.requestID = loop.requestIDs.make()
    }

    /// A request whose body turned out malformed mid-way: the app connection is dropped (it saw a
    /// partial request) and the client is answered if nothing was sent yet, then disconnected.
    private func failCurrentRequest(_ code: RejectionCode) {
        upstream?.close()
        upstream = nil
        if exchange.responseStarted {
            exchange.error = code.code
            finishExchange(status: exchange.status)
            context?.close(promise: nil)
        } else {
            exchange.requestComplete = false
            reply(code, forceClose: true)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            quiescing = true
            if state == .idle && inbound == nil && clocks.headStartedAt == nil { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        inReadBurst = false
        if upstreamNeedsFlush {
            upstreamNeedsFlush = false
            upstream?.flush()
        }
        // Bytes arrived but no whole head came of them: the header-read clock starts now.
        if state == .idle, clocks.headStartedAt == nil, !headSeenThisRead, (inbound?.readableBytes ?? 0) > 0 {
            clocks.headStartedAt = clocks.lastActivity
        }
        headSeenThisRead = false
        context.fireChannelReadComplete()
    }

    private func receivedHead(_ head: HTTPRequestHead) {
        let plan = loop.plan
        headSeenThisRead = true
        clocks.headStartedAt = nil
        exchange = Exchange()
        exchange.plan = plan
        exchange.start = clocks.lastActivity
        exchange.startWall = loop.wallTime(at: clocks.lastActivity)
        exchange.keepAlive = head.isKeepAlive
        exchange.version = head.version
        exchange.method = head.method
        exchange.uri = head.uri

        let clientID = head.headers.first(name: "x-request-id")
        let requestID = clientID.flatMap { RequestIDGenerator.isValid($0) ? $0 : nil } ?? loop.requestIDs.make()
        exchange.requestID = requestID
        request.head = head
        request.requestID = requestID
        request.now = exchange.startWall
        request.body = nil
        if !request.heldKeys.isEmpty { request.heldKeys = [] }
        if request.captureLimit > 0 { request.resetCapture() }
        request.resetUpstreamEdits()
        request.verifiedSignature = nil
        request.clientIP = plan.clientIP.resolve(peer: peerAddress, headers: head.headers)
        exchange.clientIPText = request.clientIP == peerAddress ? peerText : request.clientIP.description

        let facts: RequestValidator.Facts
        switch RequestValidator.validate(head) {
        case .success(let validated):
            facts = validated
        case .failure(let problem):
            exchange.requestComplete = false
            reply(problem.rejection, forceClose: true)
            return
        }
        exchange.facts = facts
        exchange.requestComplete = false
        exchange.bodyless = !facts.isChunked && (facts.contentLength ?? 0) == 0
        switch PathNormalizer.normalize(facts.originForm ?? head.uri) {
        case .success(let target):
            request.path = target.path
            if let rewritten = target.rewritten { exchange.facts.originForm = rewritten }  // the app reads what was routed
        case .failure(let code):
            reply(code, forceClose: true)
            return
        }

        guard let route = plan.routes.match(method: head.method, path: request.path, headers: head.headers) else {
            if plan.defaultAction == .deny {
                if let allowed = plan.routes.allowedMethods(path: request.path, headers: head.headers) {
                    reply(.methodNotAllowed(allowing: allowed), forceClose: false)
                } else {
                    reply(.noRoute, forceClose: false)
                }
            } else {
                proceedToUpstream()
            }
            return
        }
        exchange.route = route
        exchange.routeStats = loop.routeStats[route.index]

        if route.bodyNeed == .raw {
            if let length = facts.contentLength, length > plan.limits.maxBodyBytes {
                reply(.bodyTooLarge, forceClose: true)
                return
            }
            state = .bufferingBody
            if facts.expectsContinue { sendContinue() }
            return
        }
        runGuards(from: 0)
    }

    private func receivedBody(_ buffer: ByteBuffer) {
        exchange.bytesIn += buffer.readableBytes
        switch state {
        case .forwarding:
            writeBodyUpstream(buffer)
            upstreamNeedsFlush = true
            exchange.bodyBytesForwarded += buffer.readableBytes
        case .connecting, .awaitingGuard:
            pendingParts.append(.body(buffer))
        case .bufferingBody:
            let limit = exchange.plan?.limits.maxBodyBytes ?? 0
            if (request.body?.readableBytes ?? 0) + buffer.readableBytes > limit {
                reply(.bodyTooLarge, forceClose: true)
                return
            }
            if request.body == nil {
                request.body = buffer
            } else {
                var copy = buffer
                request.body!.writeBuffer(&copy)
            }
        case .idle, .replied, .tunnelling:
            break
        }
    }

    private func receivedEnd() {
        exchange.requestComplete = true
        switch state {
        case .forwarding:
            writeEndUpstream()
            upstreamNeedsFlush = true
            armResponseDeadline(from: clocks.lastActivity)
        case .connecting, .awaitingGuard:
            pendingParts.append(.end(nil))
        case .bufferingBody:
            runGuards(from: 0)
        case .replied:
            if exchange.responseComplete { finishExchange(status: exchange.status) }
        case .idle, .tunnelling:
            break
        }
    }

    // MARK: guards

    /// Runs the route's guards in file order from `index`; a pending guard resumes here when it answers.
    private func runGuards(from index: Int) {
        guard let route = exchange.route else { return }
        var i = index
        while i < route.guards.count {
            exchange.guardsRun = i + 1
            guard apply(route.guards[i].check(request), guardIndex: i, route: route) else { return }
            i += 1
        }
        proceedToUpstream()
    }

    /// Acts on one guard's decision; returns whether the next guard should run now.
    private func apply(_ decision: GuardDecision, guardIndex i: Int, route: CompiledRoute) -> Bool {
        let kind = route.guards[i].kind
        switch decision {
        case .allow:
            exchange.note(GuardNote(guardKind: kind, outcome: "ok", reportOnly: false))
            return true
        case .allowDetailed(let detail):
            exchange.note(GuardNote(guardKind: kind, outcome: "ok", reportOnly: false, detail: detail))
            return true
        case .reject(let code):
            let reportOnly = route.guardReportOnly[i]
            exchange.note(GuardNote(guardKind: kind, outcome: code.code, reportOnly: reportOnly))
            if reportOnly { return true }
            reply(code, forceClose: !(exchange.requestComplete || exchange.bodyless))
            return false
        case .respond(let stored):
            let reportOnly = route.guardReportOnly[i]
            exchange.note(GuardNote(guardKind: kind, outcome: "replayed", reportOnly: reportOnly))
            // A report-only guard never answers in the app's place: the request goes on.
            if reportOnly { return true }
            replyStored(stored)
            return false
        case .pending(let future):
            let previous = state
            state = .awaitingGuard
            future.hop(to: request.eventLoop).assumeIsolatedUnsafeUnchecked().whenComplete { result in
                guard case .awaitingGuard = self.state, let route = self.exchange.route else { return }
                self.state = previous
                switch result {
                case .success(let resolved):
                    if self.apply(resolved, guardIndex: i, route: route) { self.runGuards(from: i + 1) }
                case .failure:
                    let unavailable = RejectionCode("guard_unavailable", status: .serviceUnavailable)
                    if route.guardReportOnly[i] {
                        self.exchange.note(GuardNote(guardKind: route.guards[i].kind, outcome: unavailable.code, reportOnly: true))
                        self.runGuards(from: i + 1)
                    } else {
                        self.reply(unavailable, forceClose: true)
                    }
                }
            }
            return false
        }
    }

    /// Answers with a response a guard kept (an idempotent replay), marked as such.
    private func replyStored(_ stored: StoredResponse) {
        guard let context else { return }
        pendingParts.removeAll()
        let requestRead = exchange.requestComplete || exchange.bodyless
        let close = !exchange.keepAlive || !requestRead || loop.isDraining || quiescing
        var headers = HTTPHeaders(stored.headers)
        if stored.status != 204 && stored.status != 304 && stored.status >= 200 {
            headers.replaceOrAdd(name: "content-length", value: String(stored.body.count))
        }
        headers.replaceOrAdd(name: "idempotent-replayed", value: "true")
        for (name, value) in exchange.plan?.responseHeaders ?? [] { headers.replaceOrAdd(name: name, value: value) }
        headers.replaceOrAdd(name: "x-request-id", value: exchange.requestID)
        if close { headers.replaceOrAdd(name: "connection", value: "close") }
        let version: HTTPVersion = exchange.version == .http1_0 ? .http1_0 : .http1_1
        exchange.status = stored.status
        exchange.bytesOut += stored.body.count
        exchange.closeAfterResponse = close
        exchange.responseComplete = true
        state = .replied
        writer.head(
            HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: stored.status), headers: headers),
            bodyless: exchange.method == .HEAD, chunked: false, allocator: loop.allocator
        )
        writer.body(loop.allocator.buffer(bytes: stored.body), context: context)
        if close {
            inbound = nil
            finishExchange(status: stored.status)
            writer.end(context: context, needsCompletion: true)?.assumeIsolatedUnsafeUnchecked().whenComplete { _ in
                context.close(promise: nil)
            }
        } else {
            _ = writer.end(context: context, needsCompletion: false)
            context.flush()
            finishExchange(status: stored.status)
        }
    }

    // MARK: upstream

    private func proceedToUpstream() {
        guard let plan = exchange.plan else { return }
        let facts = exchange.facts
        if state == .bufferingBody, let body = request.body {
            // The body was read for a guard; send exactly those bytes on.
            pendingParts.append(.body(body))
            if exchange.requestComplete { pendingParts.append(.end(nil)) }
        } else if state == .bufferingBody {
            if exchange.requestComplete { pendingParts.append(.end(nil)) }
        } else if facts.expectsContinue {
            sendContinue()
        }
        exchange.upstreamHead = RequestWriter.head(
            request.head,
            target: facts.originForm ?? (request.head.uri == "*" ? "*" : request.head.uri),
            defaultHost: facts.authority ?? plan.upstream.endpoint,
            .init(
                requestID: exchange.requestID,
                clientAddress: peerText,
                peerIsTrustedProxy: plan.clientIP.isTrustedProxy(peerAddress),
                isChunked: facts.isChunked,
                isWebSocketUpgrade: facts.isWebSocketUpgrade,
                contentLength: facts.contentLength
            ),
            bodyHint: facts.isChunked ? 1024 : (facts.contentLength ?? 0),
            removals: request.upstreamRemovals, additions: request.upstreamAdditions,
            allocator: loop.allocator
        )
        let pool = loop.pool
        if let connection = pool.takeIdle() {
            attach(connection, at: clocks.lastActivity)
        } else {
            connectFresh(pool: pool)
        }
    }

    private func connectFresh(pool: UpstreamPool) {
        state = .connecting
        exchange.connectAttempts += 1
        pool.connect { result in
            guard case .connecting = self.state else {
                // The exchange ended while connecting; the fresh connection is still good to pool.
                if case .success(let connection) = result { pool.release(connection) }
                return
            }
            switch result {
            case .success(let connection):
                self.attach(connection, at: .now())
            case .failure(let failure):
                self.upstreamUnavailable(failure)
            }
        }
    }

    private func attach(_ connection: UpstreamHandler, at now: NIODeadline) {
        upstream = connection
        connection.lease(to: self, expectingHeadResponse: exchange.method == .HEAD)
        state = .forwarding
        exchange.upstreamStart = now
        if let head = exchange.upstreamHead { connection.write(head) }
        while let part = pendingParts.popFirst() {
            switch part {
            case .body(let buffer):
                writeBodyUpstream(buffer)
            case .end:
                writeEndUpstream()
            case .head:
                break
            }
        }
        if exchange.requestComplete { armResponseDeadline(from: now) }
        if inReadBurst {
            // More of this request (a body) may be in the same read: one write at read-complete.
            upstreamNeedsFlush = true
        } else {
            connection.flush()
        }
        resumeClientReads()
    }

    private func writeBodyUpstream(_ buffer: ByteBuffer) {
        guard let upstream, buffer.readableBytes > 0 else { return }
        exchange.bodyBytesForwarded += buffer.readableBytes
        let (first, second) = RequestWriter.body(buffer, chunked: exchange.facts.isChunked, allocator: loop.allocator)
        upstream.write(first)
        if let second {
            upstream.write(second)
            upstream.write(ByteBuffer(staticString: "\r\n"))
        }
    }

    private func writeEndUpstream() {
        if exchange.facts.isChunked { upstream?.write(ByteBuffer(staticString: "0\r\n\r\n")) }
    }

    private func armResponseDeadline(from now: NIODeadline) {
        exchange.endWritten = true
        guard let upstream, let plan = exchange.plan, !exchange.responseStarted else { return }
        upstream.responseDeadline = now + plan.upstream.responseTimeout
    }

    func upstreamBecameWritable() { resumeClientReads() }

    func upstreamHead(_ head: UpstreamResponseHead) {
        guard context != nil, let plan = exchange.plan else { return }
        exchange.responseStarted = true
        exchange.upstreamStatus = head.status
        exchange.upstreamFirstByte = clocks.lastActivity
        if request.captureLimit > 0 { request.capture(head: head) }
        // After an upgrade request the app's parser state is unknown unless it switched: never reuse.
        exchange.upstreamReusable = !head.connectionClose && !exchange.facts.isWebSocketUpgrade
        let upgrading = exchange.facts.isWebSocketUpgrade && head.status == 101
        if head.status == 101 && !upgrading {
            // A switch nobody asked for: the bytes after it are not HTTP.
            upstreamFailed(.protocolError, connection: upstream!)
            return
        }
        // An upgrade the app declined leaves the request decoder stopped: the connection cannot carry more.
        let closeAfter = !exchange.keepAlive || !exchange.requestComplete || loop.isDraining || quiescing
            || (exchange.facts.parserStopsAfterRequest && !upgrading)
        let code = head.status
        let bodyless = exchange.method == .HEAD || code == 204 || code == 304 || (code >= 100 && code < 200)
        let closeDelimited = writer.proxiedHead(
            head,
            .init(
                requestID: exchange.requestID,
                clientVersion: exchange.version,
                closeAfter: closeAfter,
                isWebSocketUpgrade: upgrading,
                extraHeaders: plan.responseHeaders,
                bodyless: bodyless
            ),
            allocator: loop.allocator
        )
        exchange.closeAfterResponse = closeAfter || closeDelimited
        exchange.status = code
        // The tunnel starts once this read burst is parsed, so bytes after the 101 are kept.
        if upgrading { exchange.upgrading = true }
    }

    func upstreamBody(_ buffer: ByteBuffer) {
        guard let context else { return }
        exchange.bytesOut += buffer.readableBytes
        if request.captureLimit > 0 { request.capture(body: buffer) }
        writer.body(buffer, context: context)
    }

    func upstreamEnd() {
        guard let context, let connection = upstream, !exchange.upgrading else { return }
        upstream = nil
        let pooled = connection.finish(
            reusable: exchange.upstreamReusable && exchange.requestComplete && !loop.isDraining)
        exchange.responseComplete = true
        // Finish before the last write: with a close, the write can complete (and the channel go
        // inactive) synchronously, and the exchange must already count as done by then.
        finishExchange(status: exchange.status, at: clocks.lastActivity)
        if exchange.closeAfterResponse {
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
        if exchange.upgrading, state == .forwarding, let connection = upstream {
            startTunnel(context: context, upstream: connection)
            return
        }
        writer.writePending(context: context)
        context.flush()
    }

    func upstreamFailed(_ failure: ProxyFailure, connection: UpstreamHandler) {
        guard connection === upstream else { return }
        upstream = nil
        loop.stats.count(upstreamFailure: failure)
        exchange.error = failure.metricLabel
        if exchange.responseStarted {
            // Part of the answer is already with the client; ending it normally would pass off a
            // truncated body as complete, so the connection is cut instead.
            exchange.closeAfterResponse = true
            request.invalidateCapture()
            finishExchange(status: exchange.status)
            context?.close(promise: nil)
            return
        }
        let nothingSent = exchange.bodyBytesForwarded == 0 && (exchange.facts.contentLength ?? 0) == 0
            && !exchange.facts.isChunked
        if failure == .connectionLost, connection.requestsServed > 0, nothingSent, exchange.connectAttempts < 2 {
            // A kept-alive connection the app had already closed: safe to try once on a fresh one.
            exchange.endWritten = false
            if exchange.requestComplete { pendingParts.append(.end(nil)) }
            connectFresh(pool: loop.pool)
            return
        }
        state = .connecting  // so reply() closes without waiting on the request
        reply(failure.rejection, forceClose: !exchange.requestComplete)
    }

    private func upstreamUnavailable(_ failure: ProxyFailure) {
        loop.stats.count(upstreamFailure: failure)
        exchange.error = failure.metricLabel
        pendingParts.removeAll()
        reply(failure.rejection, forceClose: !exchange.requestComplete)
    }

    // MARK: replies written by Palisade

    private func sendContinue() {
        guard let context, !exchange.continueSent else { return }
        exchange.continueSent = true
        context.writeAndFlush(wrapOutboundOut(ResponseWriter.interim(.continue, allocator: loop.allocator)), promise: nil)
    }

    /// Answers with a JSON rejection. The connection stays open only when the whole request has
    /// been read and the client wants keep-alive; otherwise it closes once the reply is written.
    private func reply(_ code: RejectionCode, forceClose: Bool) {
        guard let context else { return }
        pendingParts.removeAll()
        upstream?.close()
        upstream = nil
        let isRefusal = code.status.code >= 400
        if isRefusal { loop.stats.count(rejection: code) }
        let requestRead = exchange.requestComplete || exchange.bodyless
        let close = forceClose || !exchange.keepAlive || !requestRead || loop.isDraining || quiescing
        let body = LocalReply.body(for: code, requestID: exchange.requestID, allocator: loop.allocator)
        let head = LocalReply.head(
            for: code,
            requestID: exchange.requestID,
            version: exchange.version,
            close: close,
            bodyLength: body.readableBytes,
            extraHeaders: exchange.plan?.responseHeaders ?? loop.plan.responseHeaders
        )
        exchange.status = Int(code.status.code)
        exchange.bytesOut += body.readableBytes
        if exchange.error == nil && isRefusal { exchange.error = code.code }
        exchange.closeAfterResponse = close
        exchange.responseComplete = true
        state = .replied
        if close { inbound = nil }
        writer.head(head, bodyless: exchange.method == .HEAD, chunked: false, allocator: loop.allocator)
        writer.body(body, context: context)
        if close {
            writer.end(context: context, needsCompletion: true)?.assumeIsolatedUnsafeUnchecked().whenComplete { _ in
                context.close(promise: nil)
            }
            finishExchange(status: exchange.status)
        } else {
            _ = writer.end(context: context, needsCompletion: false)
            context.flush()
            finishExchange(status: exchange.status)
        }
    }

    // MARK: completion

    /// Runs exactly once per request on every path: after-response hooks, counters, access line.
    private func finishExchange(status: Int, at time: NIODeadline? = nil) {
        guard !exchange.finished else { return }
        exchange.finished = true
        let now = time ?? NIODeadline.now()
        let duration = (now - exchange.start).nanoseconds
        if let route = exchange.route, exchange.guardsRun > 0 {
            let responseStatus = HTTPResponseStatus(statusCode: status)
            for guardItem in route.guards.prefix(exchange.guardsRun) {
                guardItem.afterResponse(request, status: responseStatus)
            }
        }
        let stats = exchange.routeStats ?? loop.unroutedStats
        stats.record(status: status, durationNanos: duration)
        if !exchange.guardNotes.isEmpty { stats.record(guardNotes: exchange.guardNotes) }
        if let plan = exchange.plan, plan.accessLogEnabled {
            var logged: [(String, String)] = []
            for name in plan.loggedHeaders {
                if let value = request.head.headers.first(name: name) { logged.append((name, value)) }
            }
            loop.accessLog.append(exchange.accessLine(status: status, durationNanos: duration, headers: logged))
        }
        clocks.idleSince = now
        if state != .tunnelling { state = exchange.closeAfterResponse ? .replied : .idle }
        if state == .idle {
            if quiescing {
                state = .replied
                context?.close(promise: nil)
                return
            }
            // Reads withheld while connecting or waiting on a guard resume here, whatever ended the
            // exchange (a 502 after a failed connect among them); otherwise the connection wedges.
            if readPending, let context {
                readPending = false
                read(context: context)
            }
            if inbound != nil && !isDrainingInbound {
                // The next pipelined request is parsed after this reply's writes are issued, not
                // in the middle of them.
                let bound = NIOLoopBound(self, eventLoop: request.eventLoop)
                request.eventLoop.execute { bound.value.drainInbound() }
            }
        }
    }

    // MARK: WebSocket tunnel

    private func startTunnel(context: ChannelHandlerContext, upstream connection: UpstreamHandler) {
        state = .tunnelling
        upstream = nil
        exchange.responseComplete = true
        writer.writePending(context: context)
        context.flush()
        finishExchange(status: 101)
        // Bytes the client sent after its upgrade request were not parsed; they go to the app.
        let early = inbound
        inbound = nil
        TunnelSplicer.splice(client: context, exchangeHandler: self, upstream: connection, clientBytes: early)
    }

    // MARK: timeouts

    func checkDeadlines(now: NIODeadline) {
        guard let plan = exchange.plan ?? Optional(loop.plan) else { return }
        let phase: ConnectionClocks.Phase
        switch state {
        case .idle: phase = .idle
        case .forwarding: phase = .forwarding
        case .bufferingBody, .awaitingGuard, .connecting: phase = .waiting
        case .replied, .tunnelling: phase = .settled
        }
        let verdict = clocks.verdict(
            now: now, phase: phase, responseDeadline: upstream?.responseDeadline,
            headerReadTimeout: plan.limits.headerReadTimeout, idleTimeout: plan.limits.idleTimeout
        )
        switch verdict {
        case .none:
            break
        case .headerReadTimeout:
            headerReadTimedOut(plan: plan)
        case .closeIdle:
            context?.close(promise: nil)
        case .responseOverdue:
            upstream?.checkDeadline(now: now)
        case .exchangeStalled:
            exchange.error = "idle_timeout"
            request.invalidateCapture()
            upstream?.close()
            upstream = nil
            exchange.closeAfterResponse = true
            finishExchange(status: exchange.responseStarted ? exchange.status : 408)
            context?.close(promise: nil)
        }
    }

    /// A head that never finished arriving: answer 408 and close.
    private func headerReadTimedOut(plan: RuntimePlan) {
        guard let context else { return }
        let code = RejectionCode.headerReadTimeout
        beginUnparsedExchange()
        exchange.start = clocks.headStartedAt ?? clocks.lastActivity
        exchange.error = code.code
        exchange.closeAfterResponse = true
        state = .replied
        loop.stats.count(rejection: code)
        finishExchange(status: 408)
        let body = LocalReply.body(for: code, requestID: "", allocator: loop.allocator)
        var bytes = loop.allocator.buffer(capacity: 256)
        bytes.writeString("HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\ncache-control: no-store\r\n")
        bytes.writeString("content-length: \(body.readableBytes)\r\nconnection: close\r\n")
        for (name, value) in plan.responseHeaders { bytes.writeString("\(name): \(value)\r\n") }
        bytes.writeString("\r\n")
        var bodyCopy = body
        bytes.writeBuffer(&bodyCopy)
        context.writeAndFlush(wrapOutboundOut(bytes)).assumeIsolatedUnsafeUnchecked().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension ExchangeHandler: Sendable {}
