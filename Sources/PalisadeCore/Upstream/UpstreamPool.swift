import NIOCore
import NIOPosix

/// Keep-alive connections to the app, owned by one event loop: no lock, no cross-thread handoff.
/// Idle connections are reused newest first, which keeps the hot set small and lets the rest time out.
final class UpstreamPool {
    let target: UpstreamTarget
    let eventLoop: any EventLoop
    private var idle: [UpstreamHandler] = []
    private var isShutDown = false
    private let address: SocketAddress?
    private var bootstrap: ClientBootstrap?

    init(target: UpstreamTarget, eventLoop: any EventLoop) {
        self.target = target
        self.eventLoop = eventLoop
        self.address = try? SocketAddress(ipAddress: target.host, port: target.port)
        self.idle.reserveCapacity(min(target.maxIdleConnections, 256))
    }

    var idleCount: Int { idle.count }

    /// Hands out an idle connection at once, or nil when a new one must be connected.
    func takeIdle() -> UpstreamHandler? {
        while let handler = idle.popLast() {
            if handler.isActive { return handler }
        }
        return nil
    }

    /// Opens a new connection; `completion` runs on this loop.
    func connect(completion: @escaping (Result<UpstreamHandler, ProxyFailure>) -> Void) {
        let bootstrap = self.bootstrap ?? makeBootstrap()
        self.bootstrap = bootstrap
        let future: EventLoopFuture<any Channel>
        if let address {
            future = bootstrap.connect(to: address)
        } else {
            future = bootstrap.connect(host: target.host, port: target.port)
        }
        let loop = eventLoop
        future.hop(to: loop).assumeIsolatedUnsafeUnchecked().whenComplete { result in
            switch result {
            case .success(let channel):
                guard let handler = try? channel.pipeline.syncOperations.handler(type: UpstreamHandler.self) else {
                    channel.close(promise: nil)
                    completion(.failure(.connectFailed))
                    return
                }
                completion(.success(handler))
            case .failure(let error):
                if case ChannelError.connectTimeout = error {
                    completion(.failure(.connectTimeout))
                } else {
                    completion(.failure(.connectFailed))
                }
            }
        }
    }

    private func makeBootstrap() -> ClientBootstrap {
        let timeout = target.connectTimeout
        let pool = NIOLoopBound(self, eventLoop: eventLoop)
        return ClientBootstrap(group: eventLoop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                // Runs on this pool's loop: ClientBootstrap was given exactly this loop.
                do {
                    // One handler: it encodes requests and parses responses itself.
                    try channel.pipeline.syncOperations.addHandler(UpstreamHandler(pool: pool.value))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
    }

    /// Keeps `handler` for reuse; returns false (and closes it) when the pool is shut down or full.
    @discardableResult
    func release(_ handler: UpstreamHandler) -> Bool {
        if isShutDown || idle.count >= target.maxIdleConnections {
            handler.close()
            return false
        }
        idle.append(handler)
        return true
    }

    func remove(_ handler: UpstreamHandler) {
        if let index = idle.firstIndex(where: { $0 === handler }) { idle.remove(at: index) }
    }

    /// Stops pooling; idle connections close now, leased ones when their exchange ends.
    func shutDown() {
        isShutDown = true
        let connections = idle
        idle.removeAll()
        for connection in connections { connection.close() }
    }
}

@available(*, unavailable)
extension UpstreamPool: Sendable {}
