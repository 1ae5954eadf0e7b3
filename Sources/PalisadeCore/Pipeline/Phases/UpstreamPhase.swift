import NIOCore
import NIOHTTP1

/// Upstream: the admitted request goes to the app, on a pooled connection or a fresh one. The
/// head is rewritten once (forwarding headers, the guards' edits); body parts that arrive before
/// the connection is ready wait in order. A kept-alive connection the app had closed is retried
/// once on a fresh one when nothing of the request can have reached the app; any other failure
/// is answered 502/504 (LocalAnswer) or, once the answer has started, cuts the connection.
extension ExchangeHandler {
    func forwardToApp() {
        guard let plan = exchange.plan else { return }
        let facts = exchange.facts
        if machine.state == .bufferingBody {
            // The body was read for a guard; send exactly those bytes on.
            if let body = request.body { pendingParts.append(.body(body)) }
            if machine.requestComplete { pendingParts.append(.end(nil)) }
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
            loop.stats.upstreamReused &+= 1
            attach(connection, at: clocks.lastActivity)
        } else {
            connectFresh(pool: pool)
        }
    }

    private func connectFresh(pool: UpstreamPool) {
        machine.connectStarted()
        exchange.connectAttempts += 1
        pool.connect { result in
            guard case .connecting = self.machine.state else {
                // The exchange ended while connecting; the fresh connection is still good to pool.
                if case .success(let connection) = result { pool.release(connection) }
                return
            }
            switch result {
            case .success(let connection):
                self.loop.stats.upstreamOpened &+= 1
                self.attach(connection, at: .now())
            case .failure(let failure):
                self.appUnavailable(failure)
            }
        }
    }

    private func attach(_ connection: UpstreamHandler, at now: NIODeadline) {
        upstream = connection
        connection.lease(to: self, expectingHeadResponse: exchange.method == .HEAD)
        machine.appAttached()
        exchange.upstreamStart = now
        if let head = exchange.upstreamHead { connection.write(head) }
        while let part = pendingParts.popFirst() {
            switch part {
            case .body(let buffer): writeBodyUpstream(buffer)
            case .end: writeEndUpstream()
            case .head: break
            }
        }
        if machine.requestComplete { armResponseDeadline(from: now) }
        if inReadBurst {
            // More of this request (a body) may be in the same read: one write at read-complete.
            upstreamNeedsFlush = true
        } else {
            connection.flush()
        }
        resumeClientReads()
    }

    func writeBodyUpstream(_ buffer: ByteBuffer) {
        guard let upstream, buffer.readableBytes > 0 else { return }
        exchange.bodyBytesForwarded += buffer.readableBytes
        let (first, second) = RequestWriter.body(buffer, chunked: exchange.facts.isChunked, allocator: loop.allocator)
        upstream.write(first)
        if let second {
            upstream.write(second)
            upstream.write(ByteBuffer(staticString: "\r\n"))
        }
    }

    func writeEndUpstream() {
        if exchange.facts.isChunked { upstream?.write(ByteBuffer(staticString: "0\r\n\r\n")) }
    }

    /// The whole request is with the app: its answer is due within `response_timeout`.
    func armResponseDeadline(from now: NIODeadline) {
        guard let upstream, let plan = exchange.plan, !machine.responseStarted else { return }
        upstream.responseDeadline = now + plan.upstream.responseTimeout
    }

    func upstreamBecameWritable() { resumeClientReads() }

    func upstreamFailed(_ failure: ProxyFailure, connection: UpstreamHandler) {
        guard connection === upstream else { return }
        upstream = nil
        loop.stats.count(upstreamFailure: failure)
        exchange.error = failure.metricLabel
        if machine.responseStarted {
            // Part of the answer is already with the client; ending it normally would pass off a
            // truncated body as complete, so the connection is cut instead.
            machine.answerBrokenOff()
            request.invalidateCapture()
            complete(status: exchange.status)
            context?.close(promise: nil)
            return
        }
        let nothingSent =
            exchange.bodyBytesForwarded == 0 && (exchange.facts.contentLength ?? 0) == 0
            && !exchange.facts.isChunked
        if failure == .connectionLost, connection.requestsServed > 0, nothingSent, exchange.connectAttempts < 2 {
            // A kept-alive connection the app had already closed: safe to try once on a fresh one.
            if machine.requestComplete { pendingParts.append(.end(nil)) }
            connectFresh(pool: loop.pool)
            return
        }
        answer(failure.rejection, forceClose: !machine.requestComplete)
    }

    private func appUnavailable(_ failure: ProxyFailure) {
        loop.stats.count(upstreamFailure: failure)
        exchange.error = failure.metricLabel
        pendingParts.removeAll()
        answer(failure.rejection, forceClose: !machine.requestComplete)
    }
}
