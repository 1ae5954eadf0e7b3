import Foundation
import PalisadeCore
import PalisadeTesting
import Testing

/// Requests whose framing or target could be read two ways are refused before anything reaches
/// the app, with a JSON error, and the connection is closed; slow and idle clients are cut off.
@Suite("Malformed requests", .serialized)
struct MalformedRequestTests {
    static let policy = ProxyHarness.policy(
        """
        limits:
          max_header_bytes: 1KiB
          idle_timeout: 1s
          header_read_timeout: 1s
        response_headers:
          x-content-type-options: nosniff
        routes:
          - name: app
            match: { prefix: / }
        default: deny
        """
    )

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var bytes: [UInt8]
        /// Statuses the RFCs allow here (the first is what Palisade is expected to send).
        var statuses: [Int]
        /// The error code, when a specific one is part of the contract.
        var code: String?
        /// False when the problem is only visible in the body: the (valid) head may already be on
        /// its way to the app when the bad bytes arrive, so only a complete request must not arrive.
        var visibleInHead: Bool
        var testDescription: String { name }

        init(_ name: String, _ text: String, _ statuses: [Int] = [400], code: String? = nil, visibleInHead: Bool = true) {
            self.name = name
            self.bytes = Array(text.utf8)
            self.statuses = statuses
            self.code = code
            self.visibleInHead = visibleInHead
        }
    }

    static let post = "POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"

    static let cases: [Case] = [
        Case("Content-Length with Transfer-Encoding", post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        Case("Transfer-Encoding before Content-Length", post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
        Case("differing duplicate Content-Length", post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
        Case("differing Content-Length list", post + "Content-Length: 5, 6\r\n\r\nhello!"),
        Case("Content-Length abc", post + "Content-Length: abc\r\n\r\n"),
        Case("Content-Length -1", post + "Content-Length: -1\r\n\r\n"),
        Case("Content-Length '1 2'", post + "Content-Length: 1 2\r\n\r\nab"),
        Case("Content-Length +5", post + "Content-Length: +5\r\n\r\nhello"),
        Case("Content-Length 0x5", post + "Content-Length: 0x5\r\n\r\nhello"),
        // RFC 9112 6.3: chunked not final in a request: 400 and close.
        Case("Transfer-Encoding chunked, identity", post + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"),
        Case("Transfer-Encoding xchunked", post + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
        Case("Transfer-Encoding chunkedx", post + "Transfer-Encoding: chunkedx\r\n\r\n0\r\n\r\n"),
        Case("Transfer-Encoding identity", post + "Transfer-Encoding: identity\r\n\r\nhello"),
        // RFC 9112 5.1: whitespace between field name and colon: 400.
        Case("space before the colon", post + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
        // A line starting with whitespace continues the previous one (obs-fold) or, first, is invalid.
        Case(
            "leading space on the first field line",
            "POST /upload HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: 127.0.0.1\r\n\r\n0\r\n\r\n"),
        Case("Transfer-Encoding folded onto another field", post + "X-Padding: a\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        Case("Transfer-Encoding value folded", post + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n"),
        // chunked applied twice is not a framing Palisade (or the app) can read: refused either way.
        Case(
            "Transfer-Encoding chunked twice", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            [400, 501]),
        Case("Transfer-Encoding 'chunked, chunked'", post + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", [400, 501]),
        // RFC 9112 5.2: obs-fold in a request: 400 (or unfold; Palisade refuses).
        Case("obs-fold header", "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Folded: first\r\n second\r\n\r\n"),
        Case("missing Host on HTTP/1.1", "GET / HTTP/1.1\r\nUser-Agent: test\r\n\r\n", code: "missing_host"),
        Case("two Host fields", "GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n"),
        Case("dot-dot segment", "GET /a/../b HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", code: "invalid_path"),
        Case("encoded dot-dot segment", "GET /a/%2E%2e/b HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", code: "invalid_path"),
        Case("dot segment", "GET /./admin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", code: "invalid_path"),
        Case("trailing dot-dot", "GET /public/.. HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", code: "invalid_path"),
        Case(
            "bad chunk size", post + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", code: "invalid_chunked_body",
            visibleInHead: false
        ),
        Case(
            "chunk longer than its size", post + "Transfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n",
            code: "invalid_chunked_body", visibleInHead: false
        ),
    ]

    @Test("refused with a JSON error, nothing forwarded, connection closed", arguments: cases)
    func refused(_ c: Case) async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let outcome = try await RawClient.send(c.bytes, port: harness.proxyPort)
            #expect(harness.upstream.requests.isEmpty, "reached the app: \(harness.upstream.requests.map(\.head))")
            if c.visibleInHead {
                #expect(harness.upstream.connectionsOpened == 0, "a connection to the app was opened for a refused head")
            }
            let response = try #require(outcome.first, "no response; raw: \(String(decoding: outcome.raw, as: UTF8.self))")
            #expect(c.statuses.contains(response.status), "status \(response.status), expected one of \(c.statuses)")
            #expect(response.header("content-type") == "application/json")
            let json = try #require(response.json, "body: \(response.bodyText)")
            let code = try #require(json["error"] as? String)
            if let expected = c.code { #expect(code == expected) }
            #expect(json.keys.contains("request_id"))
            #expect(Set(json.keys) == ["error", "request_id"], "a refusal echoes nothing else: \(json)")
            #expect(response.header("x-content-type-options") == "nosniff")
            #expect(outcome.peerClosed, "the connection must close after a framing error")
            #expect(response.header("connection")?.lowercased() == "close")
            #expect(outcome.responses.count == 1)
            // One refusal, one access line: a parser complaint about the same bytes adds nothing.
            let lines = await harness.accessLines()
            #expect(lines.count == 1, "access lines: \(lines)")
            #expect(lines.first?["status"] as? Int == response.status)
            // The same request id in the answer's field, its body and the log line.
            let answeredID = try #require(response.header("x-request-id"))
            #expect(json["request_id"] as? String == answeredID)
            #expect(lines.first?["request_id"] as? String == answeredID)
        }
    }

    @Test("a refusal after a good request on the same connection leaves the good one answered")
    func badAfterGood() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let wire = Array("GET /good HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8) + Self.cases[0].bytes
            let outcome = try await RawClient.send(wire, port: harness.proxyPort)
            #expect(outcome.statuses.count == 2)
            #expect(outcome.statuses.first == 200)
            #expect(outcome.statuses.last == 400)
            #expect(outcome.peerClosed)
            #expect(harness.upstream.requests.map(\.path) == ["/good"])
        }
    }

    @Test("a head larger than limits.max_header_bytes gets 431 and the connection closes")
    func headerTooLarge() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let big = String(repeating: "x", count: 4096)
            let outcome = try await RawClient.send(
                TestSupport.request("GET", "/", headers: [("X-Big", big)]), port: harness.proxyPort
            )
            let response = try #require(outcome.first)
            #expect(response.status == 431)
            #expect(response.json?["error"] as? String == "headers_too_large")
            #expect(outcome.peerClosed)
            #expect(harness.upstream.requests.isEmpty)

            // Many small fields add up the same way.
            let many = (0..<100).map { ("X-Field-\($0)", "value-\($0)") }
            let second = try await RawClient.send(TestSupport.request("GET", "/", headers: many), port: harness.proxyPort)
            #expect(second.first?.status == 431)
            #expect(harness.upstream.requests.isEmpty)

            // A head under the limit is fine.
            let ok = try await RawClient.send(
                TestSupport.request("GET", "/", headers: [("X-Small", String(repeating: "y", count: 500))], close: true),
                port: harness.proxyPort
            )
            #expect(ok.first?.status == 200)
        }
    }

    @Test("a client that sends half a head and stops gets 408 within header_read_timeout and is cut off")
    func slowHead() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let connection = try await RawConnection.open(port: harness.proxyPort)
            let clock = ContinuousClock()
            let started = clock.now
            await connection.send("GET /slow-client HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Partial: yes\r\n")
            let response = try #require(await connection.readResponse(timeoutMilliseconds: 3000), "no 408")
            let elapsed = clock.now - started
            #expect(response.status == 408)
            #expect(response.json?["error"] as? String == "header_read_timeout")
            #expect(response.header("x-content-type-options") == "nosniff")
            #expect(elapsed >= .milliseconds(900), "answered after \(elapsed), before the timeout")
            #expect(elapsed < .milliseconds(2000), "answered after \(elapsed)")
            #expect(await connection.waitForClose(timeoutMilliseconds: 500))
            #expect(harness.upstream.requests.isEmpty)
            connection.close()
            // Counted, and logged as a refusal with no parsed request (method and path null).
            let metrics = try await harness.metrics()
            #expect(TestSupport.metricValue(metrics, #"palisade_rejections_total{code="header_read_timeout"}"#) == 1)
            let lines = await harness.accessLines()
            #expect(lines.count == 1)
            #expect(lines.first?["status"] as? Int == 408)
            #expect(lines.first?["error"] as? String == "header_read_timeout")
            #expect(lines.first?["method"] is NSNull)
            // One request id for the answer and its log line, as for every other exchange.
            let answeredID = try #require(response.header("x-request-id"))
            #expect(response.json?["request_id"] as? String == answeredID)
            #expect(lines.first?["request_id"] as? String == answeredID)
        }
    }

    @Test("a client trickling its head a byte at a time is cut off at header_read_timeout")
    func trickledHead() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let connection = try await RawConnection.open(port: harness.proxyPort)
            let head = Array("GET /slowloris HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Trickle: \(String(repeating: "z", count: 200))\r\n\r\n".utf8)
            let clock = ContinuousClock()
            let started = clock.now
            var index = 0
            while index < head.count, clock.now - started < .seconds(4), connection.received.isEmpty, !connection.peerClosed {
                guard await connection.send([head[index]]) else { break }
                index += 1
                _ = await connection.readBytes(1, timeoutMilliseconds: 100)
            }
            #expect(await connection.waitForClose(timeoutMilliseconds: 2000))
            let elapsed = clock.now - started
            #expect(elapsed < .milliseconds(2500), "still open after \(elapsed)")
            #expect(index < head.count, "the whole head was accepted")
            #expect(String(decoding: connection.received, as: UTF8.self).hasPrefix("HTTP/1.1 408"))
            #expect(harness.upstream.requests.isEmpty)
        }
    }

    @Test("an idle keep-alive connection is closed after idle_timeout")
    func idleKeepAlive() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let connection = try await RawConnection.open(port: harness.proxyPort)
            // The clock starts before the request: the proxy's idle clock can only start later (once
            // it answered), so a test thread that a loaded machine wakes late cannot shorten it.
            let clock = ContinuousClock()
            let started = clock.now
            await connection.send(TestSupport.request("GET", "/first"))
            let response = try #require(await connection.readResponse())
            #expect(response.status == 200)
            #expect(await connection.waitForClose(timeoutMilliseconds: 4000), "idle connection still open")
            let elapsed = clock.now - started
            #expect(elapsed >= .milliseconds(990), "closed after only \(elapsed)")
            #expect(elapsed < .milliseconds(3500), "closed after \(elapsed)")
            #expect(connection.pending.isEmpty, "nothing is sent when an idle connection closes")
            connection.close()
        }
    }

    @Test("a connection that never sends a byte is closed after idle_timeout")
    func silentConnection() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let connection = try await RawConnection.open(port: harness.proxyPort)
            let clock = ContinuousClock()
            let started = clock.now
            #expect(await connection.waitForClose(timeoutMilliseconds: 3000))
            #expect(clock.now - started < .milliseconds(2000))
            connection.close()
        }
    }
}
