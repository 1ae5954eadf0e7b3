import NIOCore
import NIOHTTP1

/// The per-request bookkeeping of one exchange; reset for each request on a kept-alive connection.
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
    var keepAlive = true
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
    var bodyBytesForwarded = 0
    var connectAttempts = 0
    var requestComplete = false
    /// No body follows the head (no Content-Length, or 0, and not chunked).
    var bodyless = false
    /// A refusal with no parsed request behind it: method and path are unknown.
    var unparsed = false
    /// How many of the route's guards ran (their afterResponse hooks run, the others' do not).
    var guardsRun = 0
    var endWritten = false
    var responseStarted = false
    var responseComplete = false
    var closeAfterResponse = false
    var continueSent = false
    var upgrading = false
    var finished = false
    var error: String?
    var guardNotes: [GuardNote] = []

    mutating func note(_ note: GuardNote) { guardNotes.append(note) }
}

extension Exchange {
    /// The access-log record of this exchange; `headers` are the `log.headers` the request carried.
    func accessLine(status: Int, durationNanos: Int64, headers: [(String, String)]) -> AccessLogLine {
        AccessLogLine(
            startWall: startWall,
            requestID: requestID,
            clientIP: clientIPText,
            method: unparsed ? nil : method.rawValue,
            path: unparsed ? nil : RoutePath.path(of: uri),
            route: route?.name,
            status: status,
            upstreamStatus: upstreamStatus,
            durationNanos: durationNanos,
            upstreamNanos: upstreamFirstByte.flatMap { end in upstreamStart.map { (end - $0).nanoseconds } },
            bytesIn: bytesIn,
            bytesOut: bytesOut,
            error: error,
            guards: guardNotes,
            headers: headers
        )
    }
}
