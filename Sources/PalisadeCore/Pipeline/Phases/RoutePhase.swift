import NIOCore
import NIOHTTP1

/// Route: the admitted request is matched to a route (404 `no_route`, or 405 with `Allow` when
/// only the method is wrong, under `default: deny`), and the body is read first when one of the
/// route's guards needs it.
extension ExchangeHandler {
    func route() {
        guard let plan = exchange.plan else { return }
        let head = request.head
        guard let route = plan.routes.match(method: head.method, path: request.path, headers: head.headers) else {
            if plan.defaultAction == .deny {
                if let allowed = plan.routes.allowedMethods(path: request.path, headers: head.headers) {
                    answer(.methodNotAllowed(allowing: allowed), forceClose: false)
                } else {
                    answer(.noRoute, forceClose: false)
                }
            } else {
                forwardToApp()
            }
            return
        }
        exchange.route = route
        if let logging = route.bodyLogging, exchange.facts.contentLength != 0,
            let kind = logging.kind(of: head.headers.first(name: "content-type")?[...])
        {
            exchange.requestBody = CapturedBody(kind: kind, limit: logging.maxBytes, allocator: loop.allocator)
        }
        exchange.routeStats = loop.routeStats[route.index]

        if route.bodyNeed == .raw {
            if let length = exchange.facts.contentLength, length > plan.limits.maxBodyBytes {
                answer(.bodyTooLarge, forceClose: true)
                return
            }
            machine.bufferBody()
            if exchange.facts.expectsContinue { sendContinue() }
            // Parts that arrived while an admit guard was deciding are the start of that body.
            if !pendingParts.isEmpty {
                var ended = false
                while let part = pendingParts.popFirst() {
                    switch part {
                    case .body(let buffer): if !bufferForGuards(buffer) { return }
                    case .end: ended = true
                    case .head: break
                    }
                }
                if ended { runGuards(.route, from: 0) }
            }
            return
        }
        runGuards(.route, from: 0)
    }

    /// A part of the request's body arrived.
    func receivedBody(_ buffer: ByteBuffer) {
        exchange.bytesIn += buffer.readableBytes
        if exchange.requestBody != nil { exchange.requestBody!.append(buffer) }
        switch machine.bodyArrived() {
        case .forward:
            writeBodyUpstream(buffer)
            upstreamNeedsFlush = true
        case .hold:
            pendingParts.append(.body(buffer))
        case .buffer:
            _ = bufferForGuards(buffer)
        case .discard:
            break
        }
    }

    /// Adds a part to the body the route's guards read; false when that body outgrew
    /// `limits.max_body_bytes` and the request was refused.
    private func bufferForGuards(_ buffer: ByteBuffer) -> Bool {
        let limit = exchange.plan?.limits.maxBodyBytes ?? 0
        if (request.body?.readableBytes ?? 0) + buffer.readableBytes > limit {
            answer(.bodyTooLarge, forceClose: true)
            return false
        }
        if request.body == nil {
            request.body = buffer
        } else {
            var copy = buffer
            request.body!.writeBuffer(&copy)
        }
        return true
    }

    /// The request's last byte arrived.
    func receivedEnd() {
        switch machine.requestEnded() {
        case .forwardEnd:
            writeEndUpstream()
            upstreamNeedsFlush = true
            armResponseDeadline(from: clocks.lastActivity)
        case .hold:
            pendingParts.append(.end(nil))
        case .runGuards:
            runGuards(.route, from: 0)
        case .completeAnswered:
            complete(status: exchange.status)
        case .ignore:
            break
        }
    }
}
