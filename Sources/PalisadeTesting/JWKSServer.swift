import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A real HTTP server on 127.0.0.1 serving a JWKS document that a test can swap (key rotation),
/// start down and bring up (an issuer out at start) or stop (an outage). Counts the fetches it
/// answers.
public final class JWKSServer: Sendable {
    /// How the server answers: the document, another status, or nothing at all (a hung issuer).
    public enum Behaviour: Sendable {
        case document
        case status(Int)
        case stall
    }

    fileprivate struct State {
        var document: String
        var behaviour = Behaviour.document
        var fetches = 0
        /// While down, every connection is closed as soon as it is accepted, so fetches fail.
        var down: Bool
    }

    private let state: NIOLockedValueBox<State>
    private let channel: NIOLockedValueBox<(any Channel)?>
    public let port: Int

    public var url: String { "http://127.0.0.1:\(port)/.well-known/jwks.json" }
    public var fetches: Int { state.withLockedValue { $0.fetches } }

    /// Listens at once, even when the test wants the issuer down from the start: the server keeps
    /// its port from start to stop, so no other test can be given it in between.
    public static func start(document: String, group: any EventLoopGroup, serving: Bool = true) async throws -> JWKSServer {
        let state = NIOLockedValueBox(State(document: document, down: !serving))
        let handlerState = state
        let channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Thrown, the accept handler closes the connection unanswered.
                    if handlerState.withLockedValue({ $0.down }) { throw ChannelError.inputClosed }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(JWKSHandler(state: handlerState))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return JWKSServer(state: state, channel: channel)
    }

    private init(state: NIOLockedValueBox<State>, channel: any Channel) {
        self.state = state
        self.channel = NIOLockedValueBox(channel)
        self.port = channel.localAddress?.port ?? 0
    }

    public func serve(_ document: String) {
        state.withLockedValue {
            $0.document = document
            $0.behaviour = .document
        }
    }

    public func behave(_ behaviour: Behaviour) { state.withLockedValue { $0.behaviour = behaviour } }

    /// Answers again after a start with `serving: false`.
    public func resume() { state.withLockedValue { $0.down = false } }

    /// Stops listening for good: fetches fail with connection refused.
    public func stop() async {
        let channel = self.channel.withLockedValue { current -> (any Channel)? in
            defer { current = nil }
            return current
        }
        try? await channel?.close()
    }
}

private final class JWKSHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    private let state: NIOLockedValueBox<JWKSServer.State>

    init(state: NIOLockedValueBox<JWKSServer.State>) { self.state = state }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        let (behaviour, document) = state.withLockedValue { s in
            s.fetches += 1
            return (s.behaviour, s.document)
        }
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
