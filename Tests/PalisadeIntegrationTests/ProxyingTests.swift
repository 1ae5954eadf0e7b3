import Foundation
import NIOHTTP1
import PalisadeCore
import PalisadeTesting
import Testing

/// What the app and the client see of a request passed through: bytes unchanged, framing kept,
/// connections reused, hop-by-hop fields dropped, forwarding fields set by Palisade alone.
///
/// Over 400 lines: each test is one property of pass-through with its own wire-level setup, and
/// they share the suite's policy and helpers; the suite is the contract of "unchanged app".
@Suite("Proxying", .serialized)
struct ProxyingTests {
    static let policy = ProxyHarness.policy(
        responseTimeout: "3s",
        """
        response_headers:
          x-content-type-options: nosniff
          referrer-policy: no-referrer
        routes:
          - name: app
            match: { prefix: / }
        default: deny
        """
    )

    static func request(
        _ method: String = "GET", _ target: String, port: Int, headers: [(String, String)] = [],
        body: [UInt8]? = nil, close: Bool = true
    ) -> [UInt8] {
        TestSupport.request(method, target, host: "127.0.0.1:\(port)", headers: headers, body: body, close: close)
    }

    static func isHex32(_ id: String) -> Bool {
        id.utf8.count == 32 && id.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    @Test("a GET reaches the app and its status, headers and body come back unchanged")
    func getForwarded() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let response = try await RawClient.get("/hello?name=world&x=1", port: harness.proxyPort)
            #expect(response.status == 200)
            #expect(response.header("x-upstream") == "echo")
            #expect(response.header("content-type") == "application/json")
            #expect(response.header("content-length") == String(response.body.count))
            let json = try #require(response.json)
            #expect(json["method"] as? String == "GET")
            #expect(json["uri"] as? String == "/hello?name=world&x=1")
            #expect(json["body_bytes"] as? Int == 0)
            let recorded = try #require(harness.upstream.requests.first)
            #expect(harness.upstream.requests.count == 1)
            #expect(recorded.head.uri == "/hello?name=world&x=1")
            #expect(recorded.head.method == .GET)
            #expect(recorded.body.isEmpty)
        }
    }

    @Test("the app's status codes and bodies pass through, errors included")
    func statusesPassThrough() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            for code in [201, 301, 404, 418, 500, 503] {
                let response = try await RawClient.get("/status/\(code)", port: harness.proxyPort)
                #expect(response.status == code)
                #expect(response.bodyText == #"{"status":\#(code)}"#, "the app's own body, not a Palisade one")
            }
            let outcome = try await RawClient.send(Self.request("GET", "/status/204", port: harness.proxyPort), port: harness.proxyPort)
            #expect(outcome.first?.status == 204)
            #expect(outcome.first?.body.isEmpty == true)
            #expect(outcome.first?.header("content-length") == nil)
            #expect(outcome.first?.header("transfer-encoding") == nil)
        }
    }

    @Test("a Content-Length body reaches the app byte for byte")
    func contentLengthBody() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            // Every byte value, plus bytes that look like the end of a head and a second request.
            let body = (0...255).map { UInt8($0) } + Array("\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
            let outcome = try await RawClient.send(
                Self.request(
                    "POST", "/upload", port: harness.proxyPort, headers: [("Content-Type", "application/octet-stream")], body: body),
                port: harness.proxyPort
            )
            let response = try #require(outcome.first)
            #expect(response.status == 200)
            #expect(response.json?["body_bytes"] as? Int == body.count)
            #expect(harness.upstream.requests.count == 1, "the body must not be read as a second request")
            let recorded = try #require(harness.upstream.requests.first)
            #expect(recorded.body == body)
            #expect(recorded.head.headers["content-length"] == [String(body.count)])
            #expect(recorded.head.headers["transfer-encoding"].isEmpty)
            #expect(recorded.head.headers["content-type"] == ["application/octet-stream"])
        }
    }

    @Test("a chunked request body reaches the app byte for byte, with chunked framing")
    func chunkedRequestBody() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let part1 = Array("hello ".utf8)
            let part2 = (0..<300).map { UInt8(truncatingIfNeeded: $0 * 7) }
            var wire = Self.request("POST", "/chunks", port: harness.proxyPort, headers: [("Transfer-Encoding", "chunked")])
            wire += Array("6\r\n".utf8) + part1 + Array("\r\n".utf8)
            wire += Array("12c;name=value\r\n".utf8) + part2 + Array("\r\n".utf8)
            wire += Array("0\r\n\r\n".utf8)
            let outcome = try await RawClient.send(wire, port: harness.proxyPort)
            #expect(outcome.first?.status == 200)
            let recorded = try #require(harness.upstream.requests.first)
            #expect(recorded.body == part1 + part2)
            #expect(recorded.head.headers["transfer-encoding"].map { $0.lowercased() } == ["chunked"])
            #expect(recorded.head.headers["content-length"].isEmpty)
        }
    }

    @Test("a chunked response arrives complete")
    func chunkedResponse() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let outcome = try await RawClient.send(Self.request("GET", "/chunked", port: harness.proxyPort), port: harness.proxyPort)
            let response = try #require(outcome.first)
            #expect(response.status == 200)
            #expect(response.bodyText == "alpha-beta-gamma")
            #expect(response.header("x-upstream") == "chunked")
            #expect(response.header("transfer-encoding")?.lowercased() == "chunked")
            #expect(!outcome.incompleteTail)
        }
    }

    @Test("a 5 MB response arrives complete and byte-correct")
    func largeResponse() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let size = 5_000_000
            let outcome = try await RawClient.send(
                Self.request("GET", "/big?bytes=\(size)", port: harness.proxyPort), port: harness.proxyPort,
                timeoutMilliseconds: 10_000
            )
            let response = try #require(outcome.first, "no complete response: got \(outcome.raw.count) bytes")
            #expect(response.status == 200)
            #expect(response.header("content-length") == String(size))
            #expect(response.body.count == size)
            let firstWrong = response.body.indices.first { response.body[$0] != UInt8(truncatingIfNeeded: $0) }
            #expect(firstWrong == nil, "body differs at byte \(firstWrong ?? -1)")
        }
    }

    @Test("a client that stops reading slows the app down: Palisade holds no more than socket buffers, then resumes")
    func responseBackpressure() async throws {
        let size = 48 << 20
        let app = try PythonStreamingApp(bodyBytes: size)
        defer { app.stop() }
        let yaml = """
            version: 1
            listen: 127.0.0.1:0
            upstream: { url: "http://127.0.0.1:\(app.port)", response_timeout: 5s }
            routes:
              - name: all
                match: { prefix: / }
            default: deny
            """
        try await ProxyHarness.with(yaml: yaml) { (harness: ProxyHarness) async throws -> Void in
            let connection = try await RawConnection.open(port: harness.proxyPort)
            defer { connection.close() }
            await connection.send("GET /stream HTTP/1.1\r\nHost: a\r\n\r\n")
            // The client reads nothing. Without backpressure Palisade would read the whole body
            // from the app into memory; with it, the app stalls once the kernel buffers between
            // the three parties are full (about 7 MiB in all on this machine's loopback).
            try await Task.sleep(for: .milliseconds(1500))
            let stalled = try await app.bytesSent()
            try await Task.sleep(for: .milliseconds(500))
            let stillStalled = try await app.bytesSent()
            #expect(stalled < 24 << 20, "the app wrote \(stalled) bytes to a client that read none")
            #expect(stillStalled - stalled < 1 << 20, "the app kept writing: \(stalled) -> \(stillStalled)")
            // Reading again lets the app go on.
            let read = await connection.readBytes(8 << 20, timeoutMilliseconds: 20_000)
            #expect(read.count == 8 << 20)
            #expect(try await app.bytesSent() > stalled + (2 << 20))
        }
    }

    @Test("a 2 MB request body sent in pieces arrives identical")
    func largeRequestBody() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let size = 2 * 1024 * 1024
            let body = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 11) }
            let wire = Self.request("PUT", "/big-upload", port: harness.proxyPort, body: body)
            let head = wire.count - size
            let outcome = try await RawClient.send(
                wire, port: harness.proxyPort, timeoutMilliseconds: 10_000,
                pauses: [(afterByte: head + 1000, milliseconds: 30), (afterByte: head + size / 2, milliseconds: 30)]
            )
            #expect(outcome.first?.status == 200)
            #expect(outcome.first?.json?["body_bytes"] as? Int == size)
            let recorded = try #require(harness.upstream.requests.first)
            #expect(recorded.body.count == size)
            #expect(recorded.body == body)
        }
    }

    @Test("two pipelined requests on one client connection get two responses, in order")
    func clientKeepAlivePipelined() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let wire =
                Self.request("GET", "/one", port: harness.proxyPort, close: false)
                + Self.request("GET", "/two", port: harness.proxyPort, close: false)
            let outcome = try await RawClient.send(wire, port: harness.proxyPort)
            #expect(outcome.statuses == [200, 200])
            #expect(outcome.responses.compactMap { $0.json?["uri"] as? String } == ["/one", "/two"])
            #expect(!outcome.peerClosed, "a keep-alive connection stays open")
            #expect(!outcome.incompleteTail)
            #expect(harness.upstream.requests.map(\.path) == ["/one", "/two"])
        }
    }

    @Test("sequential requests share one client connection")
    func clientKeepAliveSequential() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let connection = try await RawConnection.open(port: harness.proxyPort)
            for path in ["/a", "/b", "/c"] {
                await connection.send(Self.request("GET", path, port: harness.proxyPort, close: false))
                let response = try #require(await connection.readResponse())
                #expect(response.status == 200)
                #expect(response.json?["uri"] as? String == path)
                #expect(response.header("connection")?.lowercased() != "close")
            }
            #expect(!connection.peerClosed)
            connection.close()
        }
    }

    @Test("ten sequential requests reuse one connection to the app")
    func upstreamKeepAlive() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            for i in 0..<10 {
                let response = try await RawClient.get("/reuse/\(i)", port: harness.proxyPort)
                #expect(response.status == 200)
            }
            #expect(harness.upstream.requests.count == 10)
            #expect(harness.upstream.connectionsOpened == 1)
        }
    }

    @Test("hop-by-hop fields, and fields named in Connection, never reach the app")
    func hopByHopRemoved() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let wire = Self.request(
                "GET", "/hop", port: harness.proxyPort,
                headers: [
                    ("Connection", "keep-alive, X-Secret-Hop"),
                    ("X-Secret-Hop", "do-not-forward"),
                    ("Keep-Alive", "timeout=5"),
                    ("TE", "trailers"),
                    ("Proxy-Connection", "keep-alive"),
                    ("Proxy-Authorization", "Basic c2VjcmV0"),
                    ("X-Normal", "kept"),
                ],
                close: false
            )
            let outcome = try await RawClient.send(wire, port: harness.proxyPort)
            #expect(outcome.first?.status == 200)
            let recorded = try #require(harness.upstream.requests.first)
            let names = Set(recorded.head.headers.map { $0.name.lowercased() })
            for name in ["x-secret-hop", "keep-alive", "te", "proxy-connection", "proxy-authorization"] {
                #expect(!names.contains(name), "\(name) reached the app")
            }
            #expect(!recorded.head.headers["connection"].joined().lowercased().contains("x-secret-hop"))
            #expect(recorded.head.headers["x-normal"] == ["kept"])
        }
    }

    @Test("X-Forwarded-For/Proto/Host are set by Palisade; an untrusted client's own are replaced")
    func forwardingHeaders() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let host = "127.0.0.1:\(harness.proxyPort)"
            let wire = Self.request(
                "GET", "/fwd", port: harness.proxyPort,
                headers: [
                    ("X-Forwarded-For", "6.6.6.6"),
                    ("X-Forwarded-Proto", "https"),
                    ("X-Forwarded-Host", "evil.test"),
                    ("Forwarded", "for=6.6.6.6;proto=https"),
                ]
            )
            _ = try await RawClient.send(wire, port: harness.proxyPort)
            let headers = try #require(harness.upstream.requests.first).head.headers
            #expect(headers["x-forwarded-for"] == ["127.0.0.1"])
            #expect(headers["x-forwarded-proto"] == ["http"])
            #expect(headers["x-forwarded-host"] == [host])
            #expect(headers["forwarded"].isEmpty)

            harness.upstream.reset()
            _ = try await RawClient.get("/fwd2", port: harness.proxyPort)
            let plain = try #require(harness.upstream.requests.first).head.headers
            #expect(plain["x-forwarded-for"] == ["127.0.0.1"])
            #expect(plain["x-forwarded-proto"] == ["http"])
            #expect(plain["x-forwarded-host"] == [host])
        }
    }

    @Test("behind a trusted proxy, X-Forwarded-For is extended, not replaced")
    func forwardingHeadersTrusted() async throws {
        let yaml = Self.policy.replacingOccurrences(
            of: "drain_timeout: 2s", with: "drain_timeout: 2s\nclient_ip:\n  from: x-forwarded-for\n  trusted_proxies: [127.0.0.1/32]"
        )
        try await ProxyHarness.with(yaml: yaml) { harness in
            let wire = Self.request(
                "GET", "/fwd", port: harness.proxyPort,
                headers: [("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Proto", "https")]
            )
            _ = try await RawClient.send(wire, port: harness.proxyPort)
            let headers = try #require(harness.upstream.requests.first).head.headers
            #expect(headers["x-forwarded-for"].joined(separator: ", ") == "203.0.113.9, 127.0.0.1")
            #expect(headers["x-forwarded-proto"] == ["https"])
            let line = try #require(await harness.accessLines().last)
            #expect(line["client_ip"] as? String == "203.0.113.9")
        }
    }

    @Test("X-Request-ID: generated when absent, kept when valid, replaced when invalid")
    func requestID() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            func send(_ id: String?) async throws -> (response: String?, app: [String]) {
                harness.upstream.reset()
                let headers = id.map { [("X-Request-ID", $0)] } ?? []
                let outcome = try await RawClient.send(
                    Self.request("GET", "/rid", port: harness.proxyPort, headers: headers), port: harness.proxyPort
                )
                return (outcome.first?.header("x-request-id"), harness.upstream.requests.first?.head.headers["x-request-id"] ?? [])
            }

            let generated = try await send(nil)
            let id = try #require(generated.response)
            #expect(Self.isHex32(id), "'\(id)' is not 32 lower-case hex digits")
            #expect(generated.app == [id], "the app and the client see the same id")
            let another = try await send(nil)
            #expect(another.response != id, "each request gets its own id")

            for valid in ["req-42.abc_DEF:9", String(repeating: "a", count: 128), "0"] {
                let kept = try await send(valid)
                #expect(kept.response == valid)
                #expect(kept.app == [valid])
            }

            for invalid in ["bad id with spaces", String(repeating: "a", count: 129), "quote\"d", "semi;colon", "ünïcode"] {
                let replaced = try await send(invalid)
                let newID = try #require(replaced.response)
                #expect(newID != invalid)
                #expect(Self.isHex32(newID), "'\(newID)' for invalid '\(invalid)'")
                #expect(replaced.app == [newID])
            }
        }
    }

    @Test("traceparent and tracestate pass through unchanged")
    func traceContext() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            let tracestate = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
            _ = try await RawClient.send(
                Self.request(
                    "GET", "/trace", port: harness.proxyPort, headers: [("traceparent", traceparent), ("tracestate", tracestate)]),
                port: harness.proxyPort
            )
            let headers = try #require(harness.upstream.requests.first).head.headers
            #expect(headers["traceparent"] == [traceparent])
            #expect(headers["tracestate"] == [tracestate])
        }
    }

    @Test("the Host header reaches the app as the client sent it")
    func hostPreserved() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let wire = TestSupport.request("GET", "/host", host: "App.Example.TEST:8443", close: true)
            let outcome = try await RawClient.send(wire, port: harness.proxyPort)
            #expect(outcome.first?.status == 200)
            let headers = try #require(harness.upstream.requests.first).head.headers
            #expect(headers["host"] == ["App.Example.TEST:8443"])
        }
    }

    @Test("response_headers are added to proxied responses and to Palisade's own refusals")
    func responseHeaders() async throws {
        let yaml = Self.policy.replacingOccurrences(of: "match: { prefix: / }", with: "match: { prefix: /api/ }")
        try await ProxyHarness.with(yaml: yaml) { harness in
            let proxied = try await RawClient.get("/api/x", port: harness.proxyPort)
            #expect(proxied.status == 200)
            #expect(proxied.header("x-content-type-options") == "nosniff")
            #expect(proxied.header("referrer-policy") == "no-referrer")

            let refused = try await RawClient.get("/elsewhere", port: harness.proxyPort)
            #expect(refused.status == 404)
            #expect(refused.json?["error"] as? String == "no_route")
            #expect(refused.header("x-content-type-options") == "nosniff")
            #expect(refused.header("referrer-policy") == "no-referrer")

            let malformed = try await RawClient.send(
                TestSupport.request("GET", "/api/../x", host: "127.0.0.1"), port: harness.proxyPort
            )
            #expect(malformed.first?.status == 400)
            #expect(malformed.first?.header("x-content-type-options") == "nosniff")
        }
    }

    @Test("Expect: 100-continue gets 100 before the body is sent, then the app's answer")
    func expectContinue() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let connection = try await RawConnection.open(port: harness.proxyPort)
            await connection.send(
                Self.request(
                    "POST", "/continue", port: harness.proxyPort,
                    headers: [("Content-Length", "5"), ("Expect", "100-continue")], close: true
                )
            )
            let interim = try #require(await connection.readResponse(timeoutMilliseconds: 1500), "no 100 Continue")
            #expect(interim.status == 100)
            await connection.send("hello")
            let final = try #require(await connection.readResponse())
            #expect(final.status == 200)
            #expect(final.json?["body_bytes"] as? Int == 5)
            let recorded = try #require(harness.upstream.requests.first)
            #expect(recorded.body == Array("hello".utf8))
            #expect(recorded.head.headers["expect"].isEmpty, "Palisade answered the expectation itself")
            connection.close()
        }
    }

    @Test("an expectation other than 100-continue gets 417 and is not forwarded")
    func expectOther() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let outcome = try await RawClient.send(
                Self.request("POST", "/x", port: harness.proxyPort, headers: [("Expect", "something-else")], body: Array("hi".utf8)),
                port: harness.proxyPort
            )
            let response = try #require(outcome.first)
            #expect(response.status == 417)
            #expect(response.json?["error"] as? String == "expectation_failed")
            #expect(response.json?["request_id"] is String)
            #expect(harness.upstream.requests.isEmpty)
        }
    }

    @Test("HEAD gets the head of the GET answer and no body bytes")
    func head() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let outcome = try await RawClient.send(
                Self.request("HEAD", "/head-me", port: harness.proxyPort), port: harness.proxyPort, requestMethods: ["HEAD"]
            )
            let response = try #require(outcome.first)
            #expect(response.status == 200)
            #expect(response.header("x-upstream") == "echo")
            let length = try #require(response.header("content-length").flatMap(Int.init))
            #expect(length > 0, "HEAD keeps the Content-Length a GET would have")
            let headEnd = try #require(outcome.raw.firstRange(of: Array("\r\n\r\n".utf8)))
            #expect(outcome.raw.count == headEnd.upperBound, "bytes after a HEAD response: \(outcome.raw.count - headEnd.upperBound)")
            #expect(harness.upstream.requests.first?.head.method == .HEAD)

            // On a kept-alive connection, the next response starts right after the HEAD head.
            let phases = try await RawClient.conversation(
                [Self.request("HEAD", "/h1", port: harness.proxyPort, close: false), Self.request("GET", "/g2", port: harness.proxyPort)],
                port: harness.proxyPort
            )
            #expect(phases.count == 2)
            #expect(phases.first?.statuses == [200])
            #expect(phases.last?.first?.json?["uri"] as? String == "/g2")
        }
    }

    static func webSocketHandshake(_ path: String, port: Int) -> [UInt8] {
        Self.request(
            "GET", path, port: port,
            headers: [
                ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("Sec-WebSocket-Version", "13"),
            ],
            close: false
        )
    }

    @Test("a WebSocket upgrade is tunnelled: 101, then raw bytes both ways")
    func webSocketTunnel() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let connection = try await RawConnection.open(port: harness.proxyPort)
            await connection.send(Self.webSocketHandshake("/ws", port: harness.proxyPort))
            let switched = try #require(await connection.readResponse())
            #expect(switched.status == 101)
            #expect(switched.header("upgrade")?.lowercased() == "websocket")
            #expect(switched.header("connection")?.lowercased() == "upgrade")
            #expect(switched.header("sec-websocket-accept") == "test")
            // A masked text frame, then bytes that would be a request if anything still parsed HTTP.
            let frames: [[UInt8]] = [
                [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58],
                Array("GET /not-a-request HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
                (0..<20_000).map { UInt8(truncatingIfNeeded: $0) },
            ]
            for frame in frames {
                await connection.send(frame)
                let echoed = await connection.readBytes(frame.count)
                #expect(echoed == frame, "echo of \(frame.count) bytes came back as \(echoed.count) bytes")
            }
            #expect(harness.upstream.requests.count == 1, "only the handshake is an HTTP request")
            let handshake = try #require(harness.upstream.requests.first).head.headers
            #expect(handshake["upgrade"].map { $0.lowercased() } == ["websocket"])
            #expect(handshake["sec-websocket-key"] == ["dGhlIHNhbXBsZSBub25jZQ=="])
            connection.close()
        }
    }

    @Test("an upgrade the app declines is no tunnel, and the connection closes after the answer")
    func declinedUpgrade() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            // A WebSocket handshake to a path where the app answers plain HTTP.
            let connection = try await RawConnection.open(port: harness.proxyPort)
            await connection.send(Self.webSocketHandshake("/no-websocket-here", port: harness.proxyPort))
            let response = try #require(await connection.readResponse())
            #expect(response.status == 200)
            #expect(response.header("connection")?.lowercased() == "close")
            #expect(await connection.waitForClose(timeoutMilliseconds: 1000))
            connection.close()

            // An upgrade to another protocol is not offered to the app at all.
            harness.upstream.reset()
            let h2c = try await RawConnection.open(port: harness.proxyPort)
            await h2c.send(
                Self.request(
                    "GET", "/h2c", port: harness.proxyPort,
                    headers: [("Upgrade", "h2c"), ("Connection", "Upgrade, HTTP2-Settings"), ("HTTP2-Settings", "AAMAAABkAAQAAP__")],
                    close: false
                )
            )
            let plain = try #require(await h2c.readResponse())
            #expect(plain.status == 200)
            #expect(await h2c.waitForClose(timeoutMilliseconds: 1000), "after a declined upgrade the connection closes")
            #expect(h2c.pending.isEmpty)
            let recorded = try #require(harness.upstream.requests.first).head.headers
            #expect(recorded["upgrade"].isEmpty)
            #expect(recorded["http2-settings"].isEmpty)
            h2c.close()
        }
    }

    @Test("an HTTP/1.0 client is answered in HTTP/1.0, and the app still gets a Host field")
    func http10() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let outcome = try await RawClient.send(Array("GET /ten HTTP/1.0\r\n\r\n".utf8), port: harness.proxyPort)
            #expect(outcome.first?.status == 200)
            #expect(String(decoding: outcome.raw.prefix(12), as: UTF8.self) == "HTTP/1.0 200")
            #expect(outcome.peerClosed, "HTTP/1.0 without keep-alive closes")
            let recorded = try #require(harness.upstream.requests.first)
            // The app is spoken to in HTTP/1.1, where Host is mandatory (RFC 9112 3.2).
            #expect(recorded.head.version == .http1_1)
            #expect(!recorded.head.headers["host"].isEmpty, "HTTP/1.1 request to the app without Host")

            let kept = try await RawClient.send(
                Array("GET /ten-ka HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n".utf8), port: harness.proxyPort
            )
            #expect(kept.first?.status == 200)
            #expect(kept.first?.header("connection")?.lowercased() == "keep-alive")
            #expect(kept.first?.header("content-length") != nil, "an HTTP/1.0 keep-alive answer needs a length")
            #expect(!kept.peerClosed)
        }
    }
}
