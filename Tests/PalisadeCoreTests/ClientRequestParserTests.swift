import NIOCore
import NIOHTTP1
import Testing

@testable import PalisadeCore

/// The client-side request parser on its own: requests split at every byte boundary parse the
/// same as whole, and mutated requests (a seeded, repeatable fuzz) end in an event or an error,
/// never a crash, with every accepted head surviving the rest of the head path.
@Suite("Client request parser")
struct ClientRequestParserTests {
    static let samples: [String] = [
        "GET /small HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n",
        "POST /post?x=1 HTTP/1.1\r\nHost: a.example\r\nContent-Length: 5\r\nX-Forwarded-For: 10.0.0.1\r\n\r\nhello",
        "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=\"v\"\r\nhello\r\n0\r\nTrailer: x\r\n\r\n",
        "\r\nGET / HTTP/1.0\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\n\r\n",
        "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n\r\nraw",
    ]

    /// Every event of `bytes` fed in pieces of `chunk` bytes, then whether the parser failed.
    static func events(_ bytes: [UInt8], chunk: Int) -> (events: [String], failed: Bool) {
        var parser = ClientRequestParser(maxHeadBytes: 16 * 1024)
        var buffer = ByteBuffer()
        var events: [String] = []
        var body: [UInt8] = []
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + chunk, bytes.count)
            buffer.writeBytes(bytes[offset..<end])
            offset = end
            do {
                while let event = try parser.next(&buffer) {
                    switch event {
                    case .head(let head): events.append("head \(head.method.rawValue) \(head.uri) \(head.headers.count)")
                    case .body(let part): body += part.readableBytesView
                    case .end:
                        events.append("body \(String(decoding: body, as: UTF8.self))")
                        events.append("end")
                        body = []
                    }
                }
            } catch {
                return (events, true)
            }
        }
        return (events, false)
    }

    @Test("a request split at any byte boundary parses exactly as the whole request")
    func splitAnywhere() {
        for sample in Self.samples {
            let bytes = Array(sample.utf8)
            let whole = Self.events(bytes, chunk: bytes.count)
            #expect(!whole.failed, "\(sample.debugDescription) failed whole")
            #expect(whole.events.contains("end"))
            for chunk in 1..<bytes.count {
                let split = Self.events(bytes, chunk: chunk)
                #expect(
                    split.events == whole.events && split.failed == whole.failed,
                    "\(sample.debugDescription) in \(chunk)-byte pieces: \(split.events) failed=\(split.failed)"
                )
            }
        }
    }

    @Test("mutated requests end in an event or an error, and accepted heads pass validation and rewriting")
    func mutations() {
        var random = SplitMix(seed: 0x5eed_cafe)
        let interesting: [UInt8] = Array(" \t\r\n:;,\"\\\0\u{7f}".utf8) + [0x80, 0xff, 0x30, 0x41, 0x61]
        var accepted = 0
        var refused = 0
        for round in 0..<20_000 {
            var bytes = Array(Self.samples[round % Self.samples.count].utf8)
            for _ in 0..<(1 + Int(random.next() % 4)) {
                let position = Int(random.next() % UInt64(bytes.count))
                switch random.next() % 4 {
                case 0: bytes[position] = interesting[Int(random.next() % UInt64(interesting.count))]
                case 1: bytes.remove(at: position)
                case 2: bytes.insert(interesting[Int(random.next() % UInt64(interesting.count))], at: position)
                default: bytes.insert(contentsOf: bytes[position..<min(position + 8, bytes.count)], at: position)
                }
                if bytes.isEmpty { bytes = [0x47] }
            }
            var parser = ClientRequestParser(maxHeadBytes: 16 * 1024)
            var buffer = ByteBuffer(bytes: bytes)
            do {
                while let event = try parser.next(&buffer) {
                    guard case .head(let head) = event else { continue }
                    accepted += 1
                    // What ExchangeHandler does next with an accepted head must not trap either.
                    if case .success(let facts) = RequestValidator.validate(head) {
                        _ = RequestWriter.head(
                            head, target: facts.originForm ?? head.uri, defaultHost: facts.authority ?? "app:80",
                            .init(
                                requestID: "0123456789abcdef0123456789abcdef", clientAddress: "203.0.113.7",
                                peerIsTrustedProxy: round % 2 == 0, isChunked: facts.isChunked,
                                isWebSocketUpgrade: facts.isWebSocketUpgrade
                            ),
                            bodyHint: facts.contentLength ?? 0, removals: ["x-drop"], additions: [("x-user", "u")],
                            allocator: ByteBufferAllocator()
                        )
                    }
                }
            } catch {
                refused += 1
            }
        }
        // Both outcomes must occur, or the mutations test nothing.
        #expect(accepted > 1000 && refused > 1000, "accepted \(accepted), refused \(refused)")
    }

    @Test("heads over max_header_bytes are refused whether or not their end has arrived")
    func headLimit() {
        let long = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + String(repeating: "a", count: 200) + "\r\n\r\n"
        var parser = ClientRequestParser(maxHeadBytes: 128)
        var whole = ByteBuffer(string: long)
        #expect(throws: HTTPParserError.headerOverflow) { _ = try parser.next(&whole) }
        var partial = ByteBuffer(string: String(long.prefix(150)))
        var another = ClientRequestParser(maxHeadBytes: 128)
        #expect(throws: HTTPParserError.headerOverflow) { _ = try another.next(&partial) }
    }
}

/// A small deterministic generator, so a failing mutation can be reproduced from the seed.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
