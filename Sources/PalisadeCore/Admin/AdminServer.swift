import NIOCore
import NIOHTTP1
import NIOPosix

/// The admin listener: `/healthz` (the process serves), `/readyz` (a policy is loaded and the
/// proxy is not draining), `/metrics` (Prometheus text). Kept off the proxy port so probes and
/// scrapes never mix with app traffic and can be bound to another interface.
enum AdminServer {
    static func bind(runtime: ProxyRuntime, host: String, port: Int) async throws -> any Channel {
        try await ServerBootstrap(group: runtime.group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptPauseHandler())
                }
            }
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(runtime: runtime))
                }
            }
            .bind(host: host, port: port)
            .get()
    }
}

final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let runtime: ProxyRuntime
    private var current: HTTPRequestHead?
    /// The body of an `/admin/*` request, up to `AdminBansAPI.maxBodyBytes`.
    private var body: ByteBuffer?
    private var bodyTooLarge = false

    init(runtime: ProxyRuntime) { self.runtime = runtime }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            current = head
            body = nil
            bodyTooLarge = false
        case .body(var part):
            if (body?.readableBytes ?? 0) + part.readableBytes > AdminBansAPI.maxBodyBytes {
                bodyTooLarge = true
            } else if body == nil {
                body = part
            } else {
                body!.writeBuffer(&part)
            }
        case .end:
            guard let head = current else { return }
            current = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        if path == "/admin" || path.hasPrefix("/admin/") {
            guard !bodyTooLarge else {
                write(context, head, .payloadTooLarge, "application/json", #"{"error":"body_too_large"}"#)
                return
            }
            let api = AdminBansAPI(
                plan: runtime.currentPlan, logger: runtime.logger, securityEvents: runtime.securityEvents, loop: context.eventLoop)
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            api.handle(method: head.method, path: path, authorization: head.headers.first(name: "authorization"), body: body)
                .whenComplete { result in
                    let (handler, context) = loopBound.value
                    switch result {
                    case .success(let answer):
                        handler.write(context, head, answer.status, "application/json", answer.body, extraHeaders: answer.headers)
                    case .failure:
                        handler.write(context, head, .serviceUnavailable, "application/json", #"{"error":"store_unavailable"}"#)
                    }
                }
            return
        }
        guard head.method == .GET || head.method == .HEAD else {
            write(context, head, .methodNotAllowed, "application/json", #"{"error":"method_not_allowed"}"#)
            return
        }
        switch path {
        case "/healthz":
            write(context, head, .ok, "application/json", #"{"status":"ok"}"#)
        case "/readyz":
            if runtime.isDraining {
                write(context, head, .serviceUnavailable, "application/json", #"{"status":"draining"}"#)
            } else {
                let plan = runtime.currentPlan
                // Routes that verify tokens against a JWKS URL cannot serve until its keys are in.
                let usedURLs = Set(plan.usedRemoteKeys.map(\.url))
                let keySets = plan.remoteKeys.statuses.filter { usedURLs.contains($0.url) }
                let missing = keySets.filter { !$0.loaded }
                let jwks = keySets.map { status in
                    var fields = [#""url":\#(JSONText.quoted(status.url))"#, #""loaded":\#(status.loaded)"#, #""keys":\#(status.keys)"#]
                    if let age = status.ageSeconds { fields.append(#""age_seconds":\#(age)"#) }
                    if let error = status.lastError { fields.append(#""last_error":\#(JSONText.quoted(error))"#) }
                    return "{" + fields.joined(separator: ",") + "}"
                }
                // A shared store that is down is shown, not made a readiness failure: every replica
                // shares it, so failing readiness would take them all out of service at once, and
                // store.redis.on_error already says what requests get meanwhile.
                let store = plan.store.statistics.backend.map { b in
                    #","store":{"kind":"\#(b.kind)","up":\#(b.up),"on_error":"\#(b.onErrorMode.rawValue)","errors":\#(b.errors)}"#
                }
                let body =
                    #"{"status":"\#(missing.isEmpty ? "ready" : "keys_not_loaded")","policy_generation":\#(plan.generation)"#
                    + (jwks.isEmpty ? "" : #","jwks":[\#(jwks.joined(separator: ","))]"#) + (store ?? "") + "}"
                write(context, head, missing.isEmpty ? .ok : .serviceUnavailable, "application/json", body)
            }
        case "/metrics":
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let runtime = self.runtime
            let promise = context.eventLoop.makePromise(of: String.self)
            promise.completeWithTask { await runtime.metricsText() }
            promise.futureResult.whenSuccess { text in
                let (handler, context) = loopBound.value
                handler.write(context, head, .ok, "text/plain; version=0.0.4; charset=utf-8", text)
            }
        default:
            write(context, head, .notFound, "application/json", #"{"error":"not_found"}"#)
        }
    }

    private func write(
        _ context: ChannelHandlerContext, _ request: HTTPRequestHead, _ status: HTTPResponseStatus,
        _ contentType: String, _ body: String, extraHeaders: [(String, String)] = []
    ) {
        var headers = HTTPHeaders(extraHeaders)
        headers.add(name: "content-type", value: contentType)
        headers.add(name: "content-length", value: String(body.utf8.count))
        headers.add(name: "cache-control", value: "no-store")
        if !request.isKeepAlive { headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        if request.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        }
        let keepAlive = request.isKeepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }
}

@available(*, unavailable)
extension AdminHandler: Sendable {}
