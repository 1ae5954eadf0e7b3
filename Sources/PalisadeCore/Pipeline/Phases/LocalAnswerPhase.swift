import NIOCore
import NIOHTTP1

/// Every answer Palisade makes itself goes out here: refusals and protocol errors (400, 404, 405,
/// 408, 413, 431, guard refusals), the app's failures (502, 504), a guard's kept answer (an
/// idempotent replay) and `100 Continue`. The connection stays open only when the whole request
/// has been read and the client wants keep-alive; the exchange then completes (CompletePhase).
extension ExchangeHandler {
    /// Answers with `{"error": CODE, "request_id": ID}` (LocalReply).
    func answer(_ code: RejectionCode, forceClose: Bool) {
        guard context != nil else { return }
        let isRefusal = code.status.code >= 400
        if isRefusal { loop.stats.count(rejection: code) }
        if exchange.error == nil && isRefusal { exchange.error = code.code }
        let body = LocalReply.body(for: code, requestID: exchange.requestID, allocator: loop.allocator)
        let close = beginAnswer(forceClose: forceClose, status: Int(code.status.code))
        let planHeaders = exchange.plan?.responseHeaders ?? loop.plan.responseHeaders
        let guardHeaders = request.responseAdditions
        let head = LocalReply.head(
            for: code,
            requestID: exchange.requestID,
            version: exchange.version,
            close: close,
            bodyLength: body.readableBytes,
            extraHeaders: ResponseFieldEdits.combined(planHeaders, guardHeaders)
        )
        writeAnswer(head, body: body, close: close)
    }

    /// Answers with a response a guard kept (an idempotent replay), marked as such.
    func answerStored(_ stored: StoredResponse) {
        guard context != nil else { return }
        let close = beginAnswer(forceClose: false, status: stored.status)
        var headers = HTTPHeaders(stored.headers)
        if stored.status != 204 && stored.status != 304 && stored.status >= 200 {
            headers.replaceOrAdd(name: "content-length", value: String(stored.body.count))
        }
        headers.replaceOrAdd(name: "idempotent-replayed", value: "true")
        for (name, value) in exchange.plan?.responseHeaders ?? [] { headers.replaceOrAdd(name: name, value: value) }
        for (name, value) in request.responseAdditions { headers.replaceOrAdd(name: name, value: value) }
        headers.replaceOrAdd(name: "x-request-id", value: exchange.requestID)
        if close { headers.replaceOrAdd(name: "connection", value: "close") }
        let version: HTTPVersion = exchange.version == .http1_0 ? .http1_0 : .http1_1
        writeAnswer(
            HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: stored.status), headers: headers),
            body: loop.allocator.buffer(bytes: stored.body), close: close
        )
    }

    /// `100 Continue`, once per request, when the client asked and the request is going ahead.
    func sendContinue() {
        guard let context, !exchange.continueSent else { return }
        exchange.continueSent = true
        context.writeAndFlush(wrapOutboundOut(ResponseWriter.interim(.continue, allocator: loop.allocator)), promise: nil)
    }

    /// Drops what was on its way to the app and decides whether the connection closes after.
    private func beginAnswer(forceClose: Bool, status: Int) -> Bool {
        pendingParts.removeAll()
        upstream?.close()
        upstream = nil
        let close = machine.localAnswer(forceClose: forceClose, draining: loop.isDraining)
        exchange.status = status
        if close { inbound = nil }
        return close
    }

    private func writeAnswer(_ head: HTTPResponseHead, body: ByteBuffer, close: Bool) {
        guard let context else { return }
        exchange.bytesOut += body.readableBytes
        writer.head(head, bodyless: exchange.method == .HEAD && !exchange.unparsed, chunked: false, allocator: loop.allocator)
        writer.body(body, context: context)
        if close {
            writer.end(context: context, needsCompletion: true)?.assumeIsolatedUnsafeUnchecked().whenComplete { _ in
                context.close(promise: nil)
            }
        } else {
            _ = writer.end(context: context, needsCompletion: false)
            context.flush()
        }
        complete(status: exchange.status)
    }
}
