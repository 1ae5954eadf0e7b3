import NIOCore
import NIOHTTP1

/// The per-request record of one exchange (what it is, when, how big, how it ended) for the log,
/// the metrics and the completion hooks; reset for each request on a kept-alive connection. The
/// exchange's control state is the `ExchangeStateMachine`'s.
struct Exchange {
    var plan: RuntimePlan?
    var route: CompiledRoute?
    var routeStats: RouteStats?
    var facts = RequestValidator.Facts()
    var requestID = ""
    var clientIPText = ""
    var method: HTTPMethod = .GET
    var uri = "/"
    var version: HTTPVersion = .http1_1
    var start = NIODeadline.uptimeNanoseconds(0)
    var startWall = WallClock.Instant(nanosecondsSinceEpoch: 0)
    var upstreamStart: NIODeadline?
    var upstreamFirstByte: NIODeadline?
    var upstreamHead: ByteBuffer?
    var upstreamStatus: Int?
    var upstreamReusable = false
    var status = 0
    var bytesIn = 0
    var bytesOut = 0
    /// The starts of the request's and the answer's bodies, on routes with `log.body`.
    var requestBody: CapturedBody?
    var responseBody: CapturedBody?
    var bodyBytesForwarded = 0
    var connectAttempts = 0
    /// A refusal with no parsed request behind it: method and path are unknown.
    var unparsed = false
    /// How many of the route's guards ran (their afterResponse hooks run, the others' do not).
    var guardsRun = 0
    /// How many of the plan's admit guards ran.
    var admitGuardsRun = 0
    /// The kind of the guard whose refusal answered the request.
    var refusingGuard: String?
    var continueSent = false
    var upgrading = false
    var error: String?
    /// The route's guards' decisions, one per guard that ran, in the route's order (RouteStats
    /// counts them by position).
    var guardNotes: [GuardNote] = []
    /// The admit guards' decisions: logged, and counted as refusals when they refuse, but not
    /// under a route's guard counters.
    var admitNotes: [GuardNote] = []
}

extension Exchange {
    /// A fresh record for the next request on the connection. The guard-note lists keep their
    /// storage: a guarded route notes the same guards on every request, so its list is then
    /// allocated once per connection, not once per request.
    mutating func renew() {
        var guardNotes = self.guardNotes
        var admitNotes = self.admitNotes
        self = Exchange()
        guardNotes.removeAll(keepingCapacity: true)
        admitNotes.removeAll(keepingCapacity: true)
        self.guardNotes = guardNotes
        self.admitNotes = admitNotes
    }

    /// The access-log record of this exchange; `headers` are the `log.headers` the request carried.
    func accessLine(status: Int, durationNanos: Int64, headers: [(String, String)]) -> AccessLogLine {
        AccessLogLine(
            startWall: startWall,
            requestID: requestID,
            clientIP: clientIPText,
            method: unparsed ? nil : method.rawValue,
            path: unparsed ? nil : RoutePath.path(of: uri),
            query: unparsed ? nil : RoutePath.query(of: uri),
            route: route?.name,
            status: status,
            upstreamStatus: upstreamStatus,
            durationNanos: durationNanos,
            upstreamNanos: upstreamFirstByte.flatMap { end in upstreamStart.map { (end - $0).nanoseconds } },
            bytesIn: bytesIn,
            bytesOut: bytesOut,
            error: error,
            guards: admitNotes.isEmpty ? guardNotes : admitNotes + guardNotes,
            headers: headers,
            requestBody: requestBody, responseBody: responseBody, bodyLogging: route?.bodyLogging
        )
    }
}
