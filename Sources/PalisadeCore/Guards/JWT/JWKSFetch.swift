import NIOCore
import NIOPosix
import NIOSSL

/// One `GET` of a JWKS document over SwiftNIO, TLS (with the system's trust roots, or a given CA
/// file) for https URLs. The answer is read with the same strict parser as the app's responses;
/// anything but a complete 200 of at most `maxBytes` is a failure naming what went wrong.
enum JWKSFetch {
    static let maxBytes = 1 << 20

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// `tls` is nil for plain-http URLs.
    static func get(_ spec: RemoteJWKSSpec, tls: NIOSSLContext?, on loop: any EventLoop) -> EventLoopFuture<[UInt8]> {
        let promise = loop.makePromise(of: [UInt8].self)
        let timeout = TimeAmount.nanoseconds(spec.timeout.nanoseconds)
        let request = requestBytes(spec)
        let hostIsName = (try? SocketAddress(ipAddress: spec.host, port: 0)) == nil
        let connect = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tls {
                        // SNI and certificate name checks need a host name; an IP URL is checked by address.
                        try sync.addHandler(NIOSSLClientHandler(context: tls, serverHostname: hostIsName ? spec.host : nil))
                    }
                    try sync.addHandler(FetchHandler(request: request, promise: promise))
                }
            }
            .connect(host: spec.host, port: spec.port)
        connect.whenFailure { error in promise.fail(Failure(description: "cannot connect: \(error)")) }
        let deadline = loop.scheduleTask(in: timeout) {
            promise.fail(Failure(description: "no complete answer within \(spec.timeout)"))
        }
        promise.futureResult.whenComplete { _ in
            deadline.cancel()
            connect.whenSuccess { $0.close(promise: nil) }
        }
        return promise.futureResult
    }

    static func requestBytes(_ spec: RemoteJWKSSpec) -> ByteBuffer {
        let defaultPort = spec.isTLS ? 443 : 80
        let hostField = spec.host.contains(":") ? "[\(spec.host)]" : spec.host
        let authority = spec.port == defaultPort ? hostField : "\(hostField):\(spec.port)"
        return ByteBuffer(
            string: "GET \(spec.target) HTTP/1.1\r\nhost: \(authority)\r\naccept: application/jwk-set+json, application/json\r\n"
                + "user-agent: palisade/\(PalisadeVersion.current)\r\nconnection: close\r\n\r\n"
        )
    }
}

/// Writes the request when the connection is up and collects the answer's body.
private final class FetchHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let request: ByteBuffer
    private let promise: EventLoopPromise<[UInt8]>
    private var parser = UpstreamResponseParser()
    private var pending: ByteBuffer?
    private var status = 0
    private var body: [UInt8] = []
    private var done = false

    init(request: ByteBuffer, promise: EventLoopPromise<[UInt8]>) {
        self.request = request
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
                    guard status == 200 else { return finish(context, .failure(JWKSFetch.Failure(description: "answered \(status)"))) }
                    if let length = head.contentLength, length > JWKSFetch.maxBytes {
                        return finish(context, .failure(JWKSFetch.Failure(description: "document larger than 1 MiB")))
                    }
                case .body(let part):
                    guard body.count + part.readableBytes <= JWKSFetch.maxBytes else {
                        return finish(context, .failure(JWKSFetch.Failure(description: "document larger than 1 MiB")))
                    }
                    part.withUnsafeReadableBytes { body.append(contentsOf: $0) }
                case .end:
                    return finish(context, .success(body))
                }
            }
            if bytes.readableBytes > 0 { pending = bytes }
        } catch {
            finish(context, .failure(JWKSFetch.Failure(description: "malformed answer: \(error)")))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done, status == 200, parser.connectionClosed() {
            finish(context, .success(body))
        } else {
            finish(context, .failure(JWKSFetch.Failure(description: "connection closed before a complete answer")))
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(context, .failure(JWKSFetch.Failure(description: "\(error)")))
    }

    private func finish(_ context: ChannelHandlerContext, _ result: Result<[UInt8], any Error>) {
        guard !done else { return }
        done = true
        promise.completeWith(result)
        context.close(promise: nil)
    }
}
