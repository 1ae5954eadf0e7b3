import NIOCore

/// One guard operation in flight: a command (usually an EVALSHA) on one key's slot, and what
/// turns its reply into the caller's answer. It is its own reply receiver, so a round trip costs
/// this object, the caller's promise and the command's buffer, and no chain of futures.
///
/// It follows what Redis answers on the way: NOSCRIPT (the server lost its scripts: SCRIPT LOAD
/// and the same EVALSHA, pipelined on the same connection), MOVED (the slot moved: note the new
/// owner and send again there) and ASK (the slot is moving: ASKING and the command to the
/// importing node, the map left alone). Its deadline is kept by the loop client's sweep, not by
/// a timer of its own.
final class RedisOperation<Answer: Sendable>: RedisReplyReceiver {
    typealias Decode = @Sendable (RedisValue) throws -> Answer

    let deadline: NIODeadline
    private let client: RedisLoopClient
    private let promise: EventLoopPromise<Answer>
    private let command: ByteBuffer
    private let slot: Int
    private let script: RedisScript?
    private let decode: Decode
    private let started: NIODeadline
    private var connection: RedisConnection?
    private var redirects = 0
    private var reloadedScript = false
    private var finished = false

    static var maxRedirects: Int { 5 }

    init(
        client: RedisLoopClient, command: ByteBuffer, slot: Int, script: RedisScript?, timeout: TimeAmount,
        promise: EventLoopPromise<Answer>, decode: @escaping Decode
    ) {
        self.client = client
        self.command = command
        self.slot = slot
        self.script = script
        self.promise = promise
        self.decode = decode
        started = .now()
        deadline = started + timeout
    }

    func start() {
        client.armSweep(deadline)
        guard let endpoint = client.endpoint(forSlot: slot) else {
            // A Cluster whose map this loop has not read yet.
            client.slotMap().assumeIsolated().whenComplete { result in
                switch result {
                case .success:
                    if let endpoint = self.client.endpoint(forSlot: self.slot) {
                        self.send(to: endpoint)
                    } else {
                        self.finish(.failure(StoreUnavailable(.reply)))
                    }
                case .failure(let error):
                    self.finish(.failure((error as? StoreUnavailable) ?? StoreUnavailable(.connection)))
                }
            }
            return
        }
        send(to: endpoint)
    }

    private func send(to endpoint: RedisEndpoint, prefix: ByteBuffer? = nil) {
        guard !finished else { return }
        let connection = client.pool(endpoint).connection()
        self.connection = connection
        connection.submit(command, prefix: prefix, for: self)
    }

    func receive(_ reply: Result<RedisValue, StoreUnavailable>) {
        guard !finished else { return }
        switch reply {
        case .failure(let error):
            // A node that cannot be reached may have failed over: read the map again now rather
            // than at the next periodic refresh.
            if client.isCluster, error.reason != .timeout { client.refreshSoon() }
            finish(.failure(error))
        case .success(let value):
            if case .error(let text) = value, followed(text) { return }
            do {
                finish(.success(try decode(value)))
            } catch {
                finish(.failure((error as? StoreUnavailable) ?? StoreUnavailable(.reply)))
            }
        }
    }

    /// True when the error reply sent the command on again (NOSCRIPT, MOVED, ASK).
    private func followed(_ text: String) -> Bool {
        if let script, !reloadedScript, text.hasPrefix("NOSCRIPT"), let connection {
            reloadedScript = true
            connection.submit(
                command, prefix: RedisCommandBuilder.encode([Array("SCRIPT".utf8), Array("LOAD".utf8), script.source]), for: self)
            return true
        }
        guard client.isCluster, let redirect = RedisClusterSlots.redirect(text) else { return false }
        client.counters.redirects.add(1, ordering: .relaxed)
        guard redirects < Self.maxRedirects else {
            finish(.failure(StoreUnavailable(.reply)))
            return true
        }
        redirects += 1
        switch redirect {
        case .moved(let movedSlot, let target):
            client.noteMoved(slot: movedSlot, to: target)
            send(to: target)
        case .ask(_, let target):
            send(to: target, prefix: RedisCommandBuilder.encode(["ASKING"]))
        }
        return true
    }

    private func finish(_ result: Result<Answer, StoreUnavailable>) {
        guard !finished else { return }
        finished = true
        let elapsed = (NIODeadline.now() - started).nanoseconds
        // Up or down is what the loop's last operation found: a reply (even an error reply)
        // means Redis is there.
        switch result {
        case .success(let answer):
            client.counters.record(.success(()), nanoseconds: elapsed)
            client.counters.isUp.store(true, ordering: .relaxed)
            promise.succeed(answer)
        case .failure(let error):
            client.counters.record(.failure(error), nanoseconds: elapsed)
            client.counters.isUp.store(error.reason == .reply, ordering: .relaxed)
            promise.fail(error)
        }
    }
}

@available(*, unavailable)
extension RedisOperation: Sendable {}
