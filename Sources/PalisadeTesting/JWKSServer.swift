import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A real HTTP server on 127.0.0.1 serving a JWKS document that a test can swap (key rotation),
/// take down (issuer outage) and bring back on the same port. Counts the fetches it answers.
public final class JWKSServer: Sendable {
    /// How the server answers: the document, another status, or nothing at all (a hung issuer).
    public enum Behaviour: Sendable {
        case document
        case status(Int)
        case stall
    }

    private struct State {
        var document: String
        var behaviour = Behaviour.document
        var fetches = 0
        var channel: (any Channel)?
    }

    private let state: NIOLockedValueBox<State>
    private let group: any EventLoopGroup
    public let port: Int

    public var url: String { "http://127.0.0.1:\(port)/.well-known/jwks.json" }
    public var fetches: Int { state.withLockedValue { $0.fetches } }

    /// Binds first, so the port is known even when the test wants the issuer down from the start.
    public static func start(document: String, group: any EventLoopGroup, serving: Bool = true) async throws -> JWKSServer {
        let probe = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let port = probe.localAddress?.port ?? 0
        try await probe.close()
        let server = JWKSServer(document: document, group: group, port: port)
        if serving { try await server.resume() }
        return server
    }

    private init(document: String, group: any EventLoopGroup, port: Int) {
        self.state = NIOLockedValueBox(State(document: document))
        self.group = group
        self.port = port
    }

    public func serve(_ document: String) {
        state.withLockedValue {
            $0.document = document
            $0.behaviour = .document
        }
    }

    public func behave(_ behaviour: Behaviour) { state.withLockedValue { $0.behaviour = behaviour } }

    /// Starts answering again on the same port.
    public func resume() async throws {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(JWKSHandler(server: self))
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        state.withLockedValue { $0.channel = channel }
    }

    /// Stops listening: fetches fail with connection refused.
    public func stop() async {
        let channel = state.withLockedValue { s -> (any Channel)? in
            defer { s.channel = nil }
            return s.channel
        }
        try? await channel?.close()
    }

    fileprivate func answer() -> (Behaviour, String) {
        state.withLockedValue { s in
            s.fetches += 1
            return (s.behaviour, s.document)
        }
    }
}

private final class JWKSHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let server: JWKSServer

    init(server: JWKSServer) { self.server = server }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        let (behaviour, document) = server.answer()
        let status: HTTPResponseStatus
        let body: String
        switch behaviour {
        case .stall: return
        case .status(let code): (status, body) = (HTTPResponseStatus(statusCode: code), #"{"error":"test"}"#)
        case .document: (status, body) = (.ok, document)
        }
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(body.utf8.count))
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
