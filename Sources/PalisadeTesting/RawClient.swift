import Foundation
import PalisadeCore

/// One HTTP response as it came over the wire.
public struct WireResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    public var bodyText: String { String(decoding: body, as: UTF8.self) }

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
    public func headerValues(_ name: String) -> [String] {
        headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1)
    }
    public var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }
}

/// What a raw exchange produced: every complete response parsed from the bytes, whether the
/// server closed, and any trailing bytes that did not form a complete response.
public struct WireOutcome: Sendable {
    public var responses: [WireResponse]
    public var peerClosed: Bool
    public var raw: [UInt8]
    public var incompleteTail: Bool
    public var first: WireResponse? { responses.first }
    public var statuses: [Int] { responses.map(\.status) }

    public init(responses: [WireResponse], peerClosed: Bool, raw: [UInt8], incompleteTail: Bool) {
        self.responses = responses
        self.peerClosed = peerClosed
        self.raw = raw
        self.incompleteTail = incompleteTail
    }
}

/// Sends exact bytes on a fresh TCP connection and reads responses until the server closes,
/// a complete response is followed by `quietMilliseconds` of silence, or `timeoutMilliseconds`
/// pass. Blocking I/O runs on its own thread so the async test runtime is never starved.
public enum RawClient {
    public static func send(
        _ bytes: [UInt8],
        port: Int,
        timeoutMilliseconds: Int = 3000,
        quietMilliseconds: Int = 150,
        requestMethods: [String] = [],
        pauses: [(afterByte: Int, milliseconds: Int)] = []
    ) async throws -> WireOutcome {
        try await withCheckedThrowingContinuation { continuation in
            let pausesCopy = pauses
            Thread.detachNewThread {
                do {
                    let outcome = try BlockingSocket.exchange(
                        bytes, port: port, timeoutMilliseconds: timeoutMilliseconds,
                        quietMilliseconds: quietMilliseconds, requestMethods: requestMethods, pauses: pausesCopy
                    )
                    continuation.resume(returning: outcome)
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    public static func send(
        _ text: String, port: Int, timeoutMilliseconds: Int = 3000, quietMilliseconds: Int = 150
    ) async throws -> WireOutcome {
        try await send(Array(text.utf8), port: port, timeoutMilliseconds: timeoutMilliseconds, quietMilliseconds: quietMilliseconds)
    }

    /// A GET with `Connection: close`, the common case in tests.
    /// The bytes of one well-formed request with `Connection: close` (and `Content-Length` when
    /// there is a body), for tests that then send them as they are.
    public static func request(
        _ method: String, _ path: String, host: String = "127.0.0.1", headers: [(String, String)] = [], body: String? = nil
    ) -> [UInt8] {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n"
        for (n, v) in headers { text += "\(n): \(v)\r\n" }
        if let body { text += "Content-Length: \(body.utf8.count)\r\n" }
        text += "\r\n" + (body ?? "")
        return Array(text.utf8)
    }

    /// The server closes after its answer (`Connection: close`), so the read ends then; the
    /// 15 s bound only matters when no answer comes at all. It is that long because the whole
    /// suite runs its tests in parallel beside Redis clusters and app servers, and on a loaded
    /// 2-core machine an answer has been seen to take more than 3 s.
    public static func get(
        _ path: String, port: Int, headers: [(String, String)] = [], method: String = "GET", body: String? = nil
    ) async throws -> WireResponse {
        let bytes = request(method, path, host: "127.0.0.1:\(port)", headers: headers, body: body)
        let outcome = try await send(bytes, port: port, timeoutMilliseconds: 15_000, requestMethods: [method])
        guard let response = outcome.first else { throw ParseFailure.noResponse(String(decoding: outcome.raw, as: UTF8.self)) }
        return response
    }

    public enum ParseFailure: Error { case noResponse(String) }

    /// Sends each phase on the same connection, reading responses after each one until quiet,
    /// and stops early when the server closes. One outcome per phase that was sent.
    public static func conversation(
        _ phases: [[UInt8]], port: Int, timeoutMilliseconds: Int = 1500, quietMilliseconds: Int = 200
    ) async throws -> [WireOutcome] {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                do {
                    let socket = try BlockingSocket(port: port)
                    var outcomes: [WireOutcome] = []
                    for phase in phases {
                        socket.send(phase, pauses: [])
                        let methods = phase.starts(with: Array("HEAD ".utf8)) ? ["HEAD"] : []
                        let outcome = socket.read(
                            timeoutMilliseconds: timeoutMilliseconds, quietMilliseconds: quietMilliseconds, requestMethods: methods)
                        outcomes.append(outcome)
                        if outcome.peerClosed { break }
                    }
                    continuation.resume(returning: outcomes)
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}

/// Incremental HTTP/1.1 response parsing for tests (Content-Length, chunked, bodiless statuses).
public enum ResponseParser {
    /// Parses as many complete responses as `bytes` holds. `methods[i]` is the method of the i-th
    /// request, so a HEAD response is known to have no body.
    /// At most `limit` responses are parsed, so a caller can consume them one at a time.
    public static func parse(
        _ bytes: [UInt8], methods: [String] = [], closed: Bool = false, limit: Int = .max
    ) -> (responses: [WireResponse], rest: Int) {
        var responses: [WireResponse] = []
        var offset = 0
        var index = 0
        while offset < bytes.count && responses.count < limit {
            guard let headEnd = find(bytes, [13, 10, 13, 10], from: offset) else { break }
            let headText = String(decoding: bytes[offset..<headEnd], as: UTF8.self)
            var lines = headText.components(separatedBy: "\r\n")
            let statusLine = lines.removeFirst().split(separator: " ")
            guard statusLine.count >= 2, let status = Int(statusLine[1]) else { break }
            var headers: [(String, String)] = []
            for line in lines {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            }
            let bodyStart = headEnd + 4
            let method = index < methods.count ? methods[index] : "GET"
            let lower = headers.map { ($0.0.lowercased(), $0.1) }
            var body: [UInt8] = []
            var end = bodyStart
            if method == "HEAD" || status == 204 || status == 304 || (status >= 100 && status < 200) {
                end = bodyStart
            } else if let te = lower.first(where: { $0.0 == "transfer-encoding" }), te.1.lowercased().contains("chunked") {
                var cursor = bodyStart
                var complete = false
                while let lineEnd = find(bytes, [13, 10], from: cursor) {
                    let sizeText = String(decoding: bytes[cursor..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
                    guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { break }
                    cursor = lineEnd + 2
                    if size == 0 {
                        // trailers until an empty line
                        while let tEnd = find(bytes, [13, 10], from: cursor) {
                            let empty = tEnd == cursor
                            cursor = tEnd + 2
                            if empty {
                                complete = true
                                break
                            }
                        }
                        break
                    }
                    guard cursor + size + 2 <= bytes.count else { break }
                    body += bytes[cursor..<cursor + size]
                    cursor += size + 2
                }
                guard complete else { break }
                end = cursor
            } else if let cl = lower.first(where: { $0.0 == "content-length" }), let length = Int(cl.1) {
                guard bodyStart + length <= bytes.count else { break }
                body = Array(bytes[bodyStart..<bodyStart + length])
                end = bodyStart + length
            } else {
                // Delimited by close.
                guard closed else { break }
                body = Array(bytes[bodyStart...])
                end = bytes.count
            }
            if !(status >= 100 && status < 200) || status == 101 {
                index += 1
            }
            responses.append(WireResponse(status: status, headers: headers, body: body))
            offset = end
            if status == 101 { break }
        }
        return (responses, offset)
    }

    static func find(_ haystack: [UInt8], _ needle: [UInt8], from: Int) -> Int? {
        guard haystack.count >= needle.count, from <= haystack.count - needle.count else { return nil }
        var i = from
        while i <= haystack.count - needle.count {
            if haystack[i] == needle[0] && Array(haystack[i..<i + needle.count]) == needle { return i }
            i += 1
        }
        return nil
    }
}

final class BlockingSocket {
    let fd: Int32

    init(port: Int) throws {
        fd = try LoopbackSocket.connect(port: port)
    }

    deinit { close(fd) }

    func send(_ request: [UInt8], pauses: [(afterByte: Int, milliseconds: Int)]) {
        var offset = 0
        for pause in pauses.sorted(by: { $0.afterByte < $1.afterByte }) + [(afterByte: request.count, milliseconds: 0)] {
            let end = min(pause.afterByte, request.count)
            if end > offset {
                let sent = request[offset..<end].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if sent < 0 { return }
                offset = end
            }
            if pause.milliseconds > 0 { usleep(useconds_t(pause.milliseconds * 1000)) }
        }
    }

    func read(timeoutMilliseconds: Int, quietMilliseconds: Int, requestMethods: [String]) -> WireOutcome {
        let started = Date()
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        var peerClosed = false
        while true {
            let elapsed = Int(Date().timeIntervalSince(started) * 1000)
            let remaining = timeoutMilliseconds - elapsed
            if remaining <= 0 { break }
            let parsed = ResponseParser.parse(received, methods: requestMethods)
            let settled = !parsed.responses.isEmpty && parsed.rest == received.count
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(settled ? min(quietMilliseconds, remaining) : remaining))
            if ready == 0 {
                if settled { break }
                continue
            }
            if ready < 0 { break }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                received.append(contentsOf: chunk[0..<n])
            } else {
                peerClosed = true
                break
            }
        }
        let parsed = ResponseParser.parse(received, methods: requestMethods, closed: peerClosed)
        return WireOutcome(
            responses: parsed.responses, peerClosed: peerClosed, raw: received, incompleteTail: parsed.rest < received.count
        )
    }

    static func exchange(
        _ request: [UInt8], port: Int, timeoutMilliseconds: Int, quietMilliseconds: Int, requestMethods: [String],
        pauses: [(afterByte: Int, milliseconds: Int)]
    ) throws -> WireOutcome {
        let socket = try BlockingSocket(port: port)
        socket.send(request, pauses: pauses)
        return socket.read(timeoutMilliseconds: timeoutMilliseconds, quietMilliseconds: quietMilliseconds, requestMethods: requestMethods)
    }
}
