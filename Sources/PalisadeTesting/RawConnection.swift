import Foundation
import PalisadeCore

/// One client connection kept open across several steps, for tests that must act between bytes:
/// send half a head and wait, read `100 Continue` before sending the body, talk through a tunnel,
/// time how long the server keeps an idle connection. Blocking I/O runs on its own thread, as in
/// `RawClient`. Not for concurrent use: one test drives it step by step.
public final class RawConnection: @unchecked Sendable {
    private let socket: BlockingSocket
    /// The reading thread and the test's task both touch this state; the lock orders them in a
    /// way ThreadSanitizer can see (it does not follow a continuation resumed from a Thread).
    private let lock = NSLock()
    private var receivedBytes: [UInt8] = []
    private var consumed = 0
    private var closedByPeer = false
    /// Every byte received so far.
    public var received: [UInt8] { lock.withLock { receivedBytes } }
    /// True once the server closed (or reset) the connection.
    public var peerClosed: Bool { lock.withLock { closedByPeer } }

    private init(socket: BlockingSocket) { self.socket = socket }

    public static func open(port: Int) async throws -> RawConnection {
        try await onThread { RawConnection(socket: try BlockingSocket(port: port)) }
    }

    /// Sends bytes; returns false when the connection can no longer carry them.
    @discardableResult
    public func send(_ bytes: [UInt8]) async -> Bool {
        let fd = socket.fd
        return await onThread {
            var offset = 0
            while offset < bytes.count {
                let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if sent <= 0 { return false }
                offset += sent
            }
            return true
        }
    }

    @discardableResult
    public func send(_ text: String) async -> Bool { await send(Array(text.utf8)) }

    /// The next complete response (interim 1xx responses count as responses), or nil when none
    /// arrived within the timeout or the server closed first.
    public func readResponse(method: String = "GET", timeoutMilliseconds: Int = 2000) async -> WireResponse? {
        let found = LockedSlot<(WireResponse, Int)>()
        await readUntil(timeoutMilliseconds: timeoutMilliseconds) { pending, closed in
            let parsed = ResponseParser.parse(pending, methods: [method], closed: closed, limit: 1)
            if let first = parsed.responses.first {
                found.set((first, parsed.rest))
                return true
            }
            return false
        }
        guard let (response, length) = found.get() else { return nil }
        lock.withLock { consumed += length }
        return response
    }

    /// The next `count` bytes not yet handed out, fewer if the server closed or the time ran out.
    public func readBytes(_ count: Int, timeoutMilliseconds: Int = 2000) async -> [UInt8] {
        await readUntil(timeoutMilliseconds: timeoutMilliseconds) { pending, _ in pending.count >= count }
        return lock.withLock {
            let available = Array(receivedBytes[consumed..<min(receivedBytes.count, consumed + count)])
            consumed += available.count
            return available
        }
    }

    /// Waits for the server to close the connection; true if it did within the timeout. Bytes that
    /// arrive meanwhile are kept in `received`.
    public func waitForClose(timeoutMilliseconds: Int) async -> Bool {
        await readUntil(timeoutMilliseconds: timeoutMilliseconds) { _, _ in false }
        return peerClosed
    }

    /// Bytes received but not yet handed out by a read.
    public var pending: [UInt8] { lock.withLock { Array(receivedBytes[consumed...]) } }

    public func close() { socket.shutdown() }

    /// Reads into `received` until `done(pending, closed)` holds, the peer closes or the time runs out.
    private func readUntil(timeoutMilliseconds: Int, _ done: @escaping ([UInt8], Bool) -> Bool) async {
        let box = UncheckedBox(self)
        let fd = socket.fd
        await onThread {
            let connection = box.value
            let started = Date()
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let (pending, closed) = connection.lock.withLock {
                    (Array(connection.receivedBytes[connection.consumed...]), connection.closedByPeer)
                }
                if done(pending, closed) || closed { return }
                let remaining = timeoutMilliseconds - Int(Date().timeIntervalSince(started) * 1000)
                if remaining <= 0 { return }
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let ready = poll(&pfd, 1, Int32(remaining))
                if ready == 0 { continue }
                if ready < 0 { return }
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n > 0 {
                    connection.lock.withLock { connection.receivedBytes.append(contentsOf: chunk[0..<n]) }
                } else {
                    connection.lock.withLock { connection.closedByPeer = true }
                }
            }
        }
    }
}

/// One value handed from the reading thread to the test's task, under a lock.
private final class LockedSlot<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T?
    func set(_ newValue: T) { lock.withLock { value = newValue } }
    func get() -> T? { lock.withLock { value } }
}

private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Runs blocking work on a fresh thread so the cooperative pool is never held up.
func onThread<T>(_ work: @escaping () throws -> T) async throws -> T {
    let box = UncheckedBox(work)
    return try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            do {
                let value = try box.value()
                continuation.resume(returning: UncheckedBox(value).value)
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }
}

func onThread<T>(_ work: @escaping () -> T) async -> T {
    let box = UncheckedBox(work)
    return await withCheckedContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(returning: UncheckedBox(box.value()).value)
        }
    }
}

extension BlockingSocket {
    /// Closes both directions now, without waiting for deinit.
    func shutdown() { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
}

/// Small helpers shared by the integration tests.
public enum TestSupport {
    /// Polls `condition` until it holds or `timeout` passes; returns whether it held.
    public static func eventually(
        timeout: Duration = .seconds(3), interval: Duration = .milliseconds(20),
        _ condition: () async throws -> Bool
    ) async rethrows -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            if try await condition() { return true }
            if clock.now >= deadline { return false }
            try? await Task.sleep(for: interval)
        }
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago: bound to port 0, read, closed. Another
    /// process can take it before it is used, so it is only for a server that cannot bind port 0
    /// and say which port it got (nginx); every other server binds port 0 itself and reports the
    /// port, and a port that must refuse connections is a `RefusingPort`.
    public static func freePort() throws -> Int {
        // The same bind to port 0 as RefusingPort, let go at once.
        try RefusingPort().port
    }

    /// A port that refuses connections for as long as the returned value lives: bound but never
    /// listening, so connects get ECONNREFUSED and no other test (the suites run side by side and
    /// bind port 0) can be given it, as could happen with a port from `freePort()`.
    public final class RefusingPort: @unchecked Sendable {
        public let port: Int
        private let fd: Int32

        public init() throws {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw LoopbackSocket.Failure.socket }
            var address = LoopbackSocket.loopback(port: 0)
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let ok = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 && getsockname(fd, $0, &length) == 0
                }
            }
            guard ok else {
                let error = errno
                close(fd)
                throw LoopbackSocket.Failure.bind(error)
            }
            self.fd = fd
            self.port = Int(UInt16(bigEndian: address.sin_port))
        }

        deinit { close(fd) }
    }

    /// The value of one sample line of Prometheus text (`name{labels} value`), nil when absent.
    public static func metricValue(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }
}

extension ProxyHarness {
    /// `/metrics` from the admin listener.
    public func metrics() async throws -> String {
        guard let adminPort else { throw RawClient.ParseFailure.noResponse("no admin listener in this policy") }
        // A scrape visits every event loop; under a full parallel test run on a busy machine that
        // has taken over 3 s, RawClient.get's bound, so it gets more room than a request does.
        let bytes = RawClient.request("GET", "/metrics", host: "127.0.0.1:\(adminPort)")
        let outcome = try await RawClient.send(bytes, port: adminPort, timeoutMilliseconds: 10_000, requestMethods: ["GET"])
        guard let response = outcome.first else {
            throw RawClient.ParseFailure.noResponse(String(decoding: outcome.raw, as: UTF8.self))
        }
        return response.bodyText
    }
}

extension TestSupport {
    /// The bytes of one HTTP/1.1 request. `Host` comes first unless `host` is nil; a body gets a
    /// `Content-Length` unless the headers already frame it.
    public static func request(
        _ method: String = "GET", _ target: String, host: String? = "127.0.0.1", headers: [(String, String)] = [],
        body: [UInt8]? = nil, close: Bool = false
    ) -> [UInt8] {
        var text = "\(method) \(target) HTTP/1.1\r\n"
        if let host { text += "Host: \(host)\r\n" }
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        let framed = headers.contains { ["content-length", "transfer-encoding"].contains($0.0.lowercased()) }
        if let body, !framed { text += "Content-Length: \(body.count)\r\n" }
        if close { text += "Connection: close\r\n" }
        text += "\r\n"
        return Array(text.utf8) + (body ?? [])
    }
}

extension ProxyHarness {
    /// Starts a harness, runs `body`, and stops the harness whether `body` returned or threw.
    public static func with<T>(
        yaml: String = basePolicy, threads: Int = 1, extensions: PlanExtensions = .none,
        _ body: (ProxyHarness) async throws -> T
    ) async throws -> T {
        let harness = try await start(yaml: yaml, threads: threads, extensions: extensions)
        do {
            let result = try await body(harness)
            await harness.stop()
            return result
        } catch {
            await harness.stop()
            throw error
        }
    }
}
