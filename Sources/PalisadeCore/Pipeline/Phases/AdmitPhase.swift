import NIOCore
import NIOHTTP1

/// Admit: a request head arrived. The exchange starts (request id, client address, principal),
/// the head is validated and its path put in normal form, and the plan's admit guards (bans,
/// deny lists, policy-wide limits) decide before any routing work is done.
extension ExchangeHandler {
    func admit(_ head: HTTPRequestHead) {
        let plan = loop.plan
        headSeenThisRead = true
        clocks.headStartedAt = nil
        exchange.renew()
        exchange.plan = plan
        exchange.start = clocks.lastActivity
        exchange.startWall = loop.wallTime(at: clocks.lastActivity)
        exchange.version = head.version
        exchange.method = head.method
        exchange.uri = head.uri

        let clientID = head.headers.first(name: "x-request-id")
        let requestID = clientID.flatMap { RequestIDGenerator.isValid($0) ? $0 : nil } ?? loop.requestIDs.make()
        exchange.requestID = requestID
        request.head = head
        request.requestID = requestID
        request.now = exchange.startWall
        request.reset(clientIP: plan.clientIP.resolve(peer: peerAddress, headers: head.headers))
        exchange.clientIPText = request.clientIP == peerAddress ? peerText : request.clientIP.description

        let facts: RequestValidator.Facts
        switch RequestValidator.validate(head) {
        case .success(let validated):
            facts = validated
        case .failure(let problem):
            machine.requestStarted(keepAlive: false, bodyless: false)
            answer(problem.rejection, forceClose: true)
            return
        }
        exchange.facts = facts
        machine.requestStarted(keepAlive: head.isKeepAlive, bodyless: !facts.isChunked && (facts.contentLength ?? 0) == 0)
        switch PathNormalizer.normalize(facts.originForm ?? head.uri) {
        case .success(let target):
            request.path = target.path
            if let rewritten = target.rewritten { exchange.facts.originForm = rewritten }  // the app reads what was routed
        case .failure(let code):
            answer(code, forceClose: true)
            return
        }
        if plan.admitGuards.isEmpty {
            route()
        } else {
            runGuards(.admit, from: 0)
        }
    }

    /// Bookkeeping for an answer with no parsed request behind it (a parse error, a head that
    /// never finished): the exchange still gets a request id, an access line and its completion.
    func beginUnparsedExchange() {
        exchange.renew()
        exchange.plan = loop.plan
        exchange.start = clocks.lastActivity
        exchange.startWall = loop.wallTime(at: clocks.lastActivity)
        exchange.clientIPText = peerText
        exchange.unparsed = true
        exchange.requestID = loop.requestIDs.make()
        request.head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
        request.path = "/"
        request.requestID = exchange.requestID
        request.now = exchange.startWall
        request.reset(clientIP: peerAddress)
        machine.unparsedStarted()
    }
}
