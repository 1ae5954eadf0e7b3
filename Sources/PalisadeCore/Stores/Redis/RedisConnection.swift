import NIOCore
import NIOPosix
import NIOSSL

/// How every connection of one store reaches its servers: credentials, database, TLS. Built once
/// per store; the password is a `Secret`, so printing this never shows it.
struct RedisConnectionSettings: Sendable {
    var username: String?
    var password: Secret?
    var database: Int
    var tls: NIOSSLContext?
    var connectTimeout: TimeAmount
    /// Reconnect back-off: the first wait, doubled per failure up to `maxBackoff`, each ±50% jitter
    /// so that replicas (and loops) that lost Redis together do not come back in step.
    var firstBackoff = TimeAmount.milliseconds(25)
    var maxBackoff = TimeAmount.seconds(1)

    /// SNI and certificate name check use the host name; an IP address is not a valid SNI name.
    static func serverHostname(_ host: String) -> String? {
        host.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2e } || host.contains(":") ? nil : host
    }
}

/// One TCP (or TLS) connection to one Redis server, owned by one event loop: created, used and
/// closed only there, so it needs no lock. It connects on first use, says AUTH and SELECT before
/// any command, and after a failure waits out a jittered back-off during which commands fail at
/// once (`StoreUnavailable.down`) instead of each waiting for a timeout.
final class RedisConnection {
    private enum State {
        case idle
        case connecting(EventLoopFuture<Void>)
        case ready(any Channel, RedisConnectionHandler)
        case backingOff(until: NIODeadline)
    }

    let endpoint: RedisEndpoint
    let loop: any EventLoop
    private let settings: RedisConnectionSettings
    private var state = State.idle
    private var failures = 0
    private var flushScheduled = false

    init(endpoint: RedisEndpoint, loop: any EventLoop, settings: RedisConnectionSettings) {
        self.endpoint = endpoint
        self.loop = loop
        self.settings = settings
    }

    /// Sends one command for `receiver`, after `prefix` (a command whose reply nobody reads:
    /// ASKING, or SCRIPT LOAD before a retried EVALSHA) on the same connection. On a ready
    /// connection, the case of every guard operation, this queues and writes, and nothing more.
    func submit(_ command: ByteBuffer, prefix: ByteBuffer? = nil, for receiver: any RedisReplyReceiver) {
        switch state {
        case .ready(let channel, let handler) where handler.isOpen:
            if let prefix {
                handler.enqueue(nil, deadline: receiver.deadline)
                channel.write(prefix, promise: nil)
            }
            handler.enqueue(receiver, deadline: receiver.deadline)
            channel.write(command, promise: nil)
            scheduleFlush(channel)
        case .backingOff(let until) where NIODeadline.now() < until:
            receiver.receive(.failure(StoreUnavailable(.down)))
        case .connecting(let ready):
            submit(command, prefix: prefix, for: receiver, once: ready)
        case .ready, .idle, .backingOff:
            submit(command, prefix: prefix, for: receiver, once: startConnecting())
        }
    }

    /// While connecting, nothing is queued in the handler yet, so the receiver's deadline is
    /// kept by a timer of its own (the rare path: a new or reconnecting connection).
    private func submit(
        _ command: ByteBuffer, prefix: ByteBuffer?, for receiver: any RedisReplyReceiver, once ready: EventLoopFuture<Void>
    ) {
        let timeout =
            receiver.deadline == .distantFuture
            ? nil
            : loop.assumeIsolated().scheduleTask(deadline: receiver.deadline) { receiver.receive(.failure(StoreUnavailable(.timeout))) }
        ready.assumeIsolated().whenComplete { result in
            timeout?.cancel()
            switch result {
            case .success: self.submit(command, prefix: prefix, for: receiver)
            case .failure: receiver.receive(.failure(StoreUnavailable(.connection)))
            }
        }
    }

    /// Fails the receivers whose deadline has passed; see `RedisConnectionHandler.expire`.
    func expire(now: NIODeadline) -> (expired: Bool, next: NIODeadline?) {
        guard case .ready(_, let handler) = state else { return (false, nil) }
        return handler.expire(now: now)
    }

    /// Flushes once the loop has dispatched the events it is handling: the commands of every
    /// request read in this turn of the loop leave in one write, and their replies come back in
    /// one read, instead of a write and a read per command.
    private func scheduleFlush(_ channel: any Channel) {
        guard !flushScheduled else { return }
        flushScheduled = true
        loop.assumeIsolated().execute {
            self.flushScheduled = false
            channel.flush()
        }
    }

    /// Sends `commands` back to back on this connection (one flush) and answers their replies in
    /// order, with no deadline of their own (the handshake; admin reads bounded by their caller).
    func send(_ commands: [ByteBuffer]) -> EventLoopFuture<[RedisValue]> {
        switch state {
        case .ready(_, let handler) where handler.isOpen:
            return sendNow(commands)
        case .connecting(let ready):
            return ready.assumeIsolated().flatMap { self.sendNow(commands) }.nonisolated()
        case .backingOff(let until) where NIODeadline.now() < until:
            return loop.makeFailedFuture(StoreUnavailable(.down))
        case .ready, .idle, .backingOff:
            return startConnecting().assumeIsolated().flatMap { self.sendNow(commands) }.nonisolated()
        }
    }

    /// Commands wait and nothing has been answered for `timeout`: the server or the path is stuck.
    func isWedged(after timeout: TimeAmount) -> Bool {
        guard case .ready(_, let handler) = state else { return false }
        return handler.inFlight > 0 && NIODeadline.now() - handler.lastProgress >= timeout
    }

    /// Closes a connection whose answers are overdue: a wedged server, or a stream that lost its
    /// place. Its waiting commands fail; the next command connects afresh.
    func recycle() {
        if case .ready(let channel, _) = state { channel.close(promise: nil) }
        state = .idle
    }

    private func sendNow(_ commands: [ByteBuffer]) -> EventLoopFuture<[RedisValue]> {
        guard case .ready(let channel, let handler) = state, handler.isOpen else {
            return loop.makeFailedFuture(StoreUnavailable(.connection))
        }
        let promise = loop.makePromise(of: [RedisValue].self)
        guard !commands.isEmpty else {
            promise.succeed([])
            return promise.futureResult
        }
        let collector = RedisReplyCollector(expected: commands.count, promise: promise)
        for command in commands {
            handler.enqueue(collector, deadline: collector.deadline)
            channel.write(command, promise: nil)
        }
        scheduleFlush(channel)
        return promise.futureResult
    }

    private func startConnecting() -> EventLoopFuture<Void> {
        let settings = self.settings
        let endpoint = self.endpoint
        let connected = ClientBootstrap(group: loop)
            .connectTimeout(settings.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls = settings.tls {
                        let handler = try NIOSSLClientHandler(
                            context: tls, serverHostname: RedisConnectionSettings.serverHostname(endpoint.host))
                        try channel.pipeline.syncOperations.addHandler(handler)
                    }
                    try channel.pipeline.syncOperations.addHandler(RedisConnectionHandler())
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
        let ready = connected.assumeIsolated().flatMap { channel -> EventLoopFuture<Void> in
            do {
                let handler = try channel.pipeline.syncOperations.handler(type: RedisConnectionHandler.self)
                self.state = .ready(channel, handler)
                channel.closeFuture.assumeIsolated().whenComplete { _ in
                    if case .ready(let current, _) = self.state, current === channel { self.state = .idle }
                }
                return self.handshake(channel)
            } catch {
                channel.close(promise: nil)
                return self.loop.makeFailedFuture(StoreUnavailable(.connection))
            }
        }.nonisolated()
        state = .connecting(ready)
        ready.assumeIsolated().whenComplete { result in
            switch result {
            case .success:
                self.failures = 0
            case .failure:
                if case .ready(let channel, _) = self.state { channel.close(promise: nil) }
                self.failures += 1
                self.state = .backingOff(until: .now() + self.backoff())
            }
        }
        return ready
    }

    /// AUTH (ACL user and password, or password only), SELECT and SCRIPT LOAD of the store's
    /// scripts, pipelined, before any command: EVALSHA then finds its script from the first use,
    /// and a burst on a new connection does not pay NOSCRIPT and EVAL once per command. A failed
    /// SCRIPT LOAD (an ACL without it) is no failure: EVAL still loads the script on NOSCRIPT.
    private func handshake(_ channel: any Channel) -> EventLoopFuture<Void> {
        var commands: [ByteBuffer] = []
        if let password = settings.password {
            var arguments: [[UInt8]] = [Array("AUTH".utf8)]
            if let username = settings.username { arguments.append(Array(username.utf8)) }
            arguments.append(password.bytes)
            commands.append(RedisCommandBuilder.encode(arguments, allocator: channel.allocator))
        }
        if settings.database != 0 {
            commands.append(
                RedisCommandBuilder.encode(["SELECT", String(settings.database)].map { Array($0.utf8) }, allocator: channel.allocator))
        }
        let checked = commands.count
        for script in RedisScripts.all {
            commands.append(
                RedisCommandBuilder.encode([Array("SCRIPT".utf8), Array("LOAD".utf8), script.source], allocator: channel.allocator))
        }
        return sendNow(commands).flatMapThrowing { replies in
            // The server's error text is not passed on: an AUTH error may name the user.
            if replies.prefix(checked).contains(where: { if case .error = $0 { return true } else { return false } }) {
                throw StoreUnavailable(.connection)
            }
        }
    }

    private func backoff() -> TimeAmount {
        let doublings = min(failures - 1, 16)
        let base = min(settings.firstBackoff.nanoseconds << Int64(max(doublings, 0)), settings.maxBackoff.nanoseconds)
        return .nanoseconds(Int64(Double(base) * Double.random(in: 0.5...1.5)))
    }
}

@available(*, unavailable)
extension RedisConnection: Sendable {}

/// A few connections to one server for one event loop, used in turn so that one slow reply does
/// not hold up every command of the loop.
final class RedisNodePool {
    let endpoint: RedisEndpoint
    let connections: [RedisConnection]
    private var next = 0

    init(endpoint: RedisEndpoint, loop: any EventLoop, settings: RedisConnectionSettings, size: Int) {
        self.endpoint = endpoint
        connections = (0..<max(size, 1)).map { _ in RedisConnection(endpoint: endpoint, loop: loop, settings: settings) }
    }

    func connection() -> RedisConnection {
        next = (next + 1) % connections.count
        return connections[next]
    }

    func closeAll() { for connection in connections { connection.recycle() } }
}

@available(*, unavailable)
extension RedisNodePool: Sendable {}
