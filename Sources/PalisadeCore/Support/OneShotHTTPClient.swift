import NIOCore
import NIOPosix
import NIOSSL

/// One HTTP/1.1 request on a connection of its own, over SwiftNIO (TLS when given a context):
/// JWKS fetches and alert webhooks. The answer is read with the same strict parser as the app's
/// responses; anything but a complete answer that `accepts` of at most `maxBytes` is a failure
/// naming what went wrong.
enum OneShotHTTPClient {
    struct Answer: Sendable {
        var status: Int
        var body: [UInt8]
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// `1 MiB`, `64 KiB`: a limit as an operator reads it.
    static func size(_ bytes: Int) -> String {
        if bytes >= 1 << 20 && bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        if bytes >= 1 << 10 && bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
        return "\(bytes) bytes"
    }

    static func send(
        _ request: ByteBuffer, host: String, port: Int, tls: NIOSSLContext?, timeout: TimeAmount, timeoutText: String, maxBytes: Int,
        accepts: @escaping @Sendable (Int) -> Bool, on loop: any EventLoop
    ) -> EventLoopFuture<Answer> {
        let promise = loop.makePromise(of: Answer.self)
        let hostIsName = (try? SocketAddress(ipAddress: host, port: 0)) == nil
        let connect = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tls {
                        // SNI and certificate name checks need a host name; an IP URL is checked by address.
                        try sync.addHandler(NIOSSLClientHandler(context: tls, serverHostname: hostIsName ? host : nil))
                    }
                    try sync.addHandler(OneShotHandler(request: request, maxBytes: maxBytes, accepts: accepts, promise: promise))
                }
            }
            .connect(host: host, port: port)
        connect.whenFailure { error in promise.fail(Failure(description: "cannot connect: \(error)")) }
        let deadline = loop.scheduleTask(in: timeout) {
            promise.fail(Failure(description: "no complete answer within \(timeoutText)"))
        }
        promise.futureResult.whenComplete { _ in
            deadline.cancel()
            connect.whenSuccess { $0.close(promise: nil) }
        }
        return promise.futureResult
    }
}

/// Writes the request when the connection is up and collects the answer's body.
private final class OneShotHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let request: ByteBuffer
    private let promise: EventLoopPromise<OneShotHTTPClient.Answer>
    private let maxBytes: Int
    private let accepts: @Sendable (Int) -> Bool
    private var parser = UpstreamResponseParser()
    private var pending: ByteBuffer?
    private var status = 0
    private var body: [UInt8] = []
    private var done = false

    init(
        request: ByteBuffer, maxBytes: Int, accepts: @escaping @Sendable (Int) -> Bool,
        promise: EventLoopPromise<OneShotHTTPClient.Answer>
    ) {
        self.request = request
        self.maxBytes = maxBytes
        self.accepts = accepts
        self.promise = promise
        parser.expectResponse(toHEAD: false)
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(request), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        var bytes = unwrapInboundIn(data)
        if var earlier = pending {
            earlier.writeBuffer(&bytes)
            bytes = earlier
        }
        pending = nil
        do {
            while let event = try parser.next(&bytes) {
                switch event {
                case .head(let head):
                    status = head.status
                    guard accepts(status) else {
                        return finish(context, .failure(OneShotHTTPClient.Failure(description: "answered \(status)")))
                    }
                    if let length = head.contentLength, length > maxBytes {
                        return finish(
                            context,
                            .failure(OneShotHTTPClient.Failure(description: "answer larger than \(OneShotHTTPClient.size(maxBytes))")))
                    }
                case .body(let part):
                    guard body.count + part.readableBytes <= maxBytes else {
                        return finish(
                            context,
                            .failure(OneShotHTTPClient.Failure(description: "answer larger than \(OneShotHTTPClient.size(maxBytes))")))
                    }
                    part.withUnsafeReadableBytes { body.append(contentsOf: $0) }
                case .end:
                    return finish(context, .success(OneShotHTTPClient.Answer(status: status, body: body)))
                }
            }
            if bytes.readableBytes > 0 { pending = bytes }
        } catch {
            finish(context, .failure(OneShotHTTPClient.Failure(description: "malformed answer: \(error)")))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done, accepts(status), parser.connectionClosed() {
            finish(context, .success(OneShotHTTPClient.Answer(status: status, body: body)))
        } else {
            finish(context, .failure(OneShotHTTPClient.Failure(description: "connection closed before a complete answer")))
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(context, .failure(OneShotHTTPClient.Failure(description: "\(error)")))
    }

    private func finish(_ context: ChannelHandlerContext, _ result: Result<OneShotHTTPClient.Answer, any Error>) {
        guard !done else { return }
        done = true
        promise.completeWith(result)
        context.close(promise: nil)
    }
}
