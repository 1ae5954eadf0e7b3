import NIOCore
import Testing

@testable import PalisadeCore

/// The app-side response parser fed in pieces of every size: the same events as the whole.
@Suite("Upstream response parser")
struct UpstreamResponseParserTests {
    static let samples: [String] = [
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: keep-alive\r\n\r\n{\"ok\":true}",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 204 No Content\r\nX-Request-ID: app\r\n\r\n",
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the app closes",
    ]

    static func events(_ bytes: [UInt8], chunk: Int) -> (events: [String], failed: Bool) {
        var parser = UpstreamResponseParser()
        parser.expectResponse(toHEAD: false)
        var buffer = ByteBuffer()
        var events: [String] = []
        var body: [UInt8] = []
        var offset = 0
        do {
            while offset < bytes.count {
                let end = min(offset + chunk, bytes.count)
                buffer.writeBytes(bytes[offset..<end])
                offset = end
                while let event = try parser.next(&buffer) {
                    switch event {
                    case .head(let head):
                        var dropped: [Range<Int>] = []
                        head.droppedLines.forEach { dropped.append($0) }
                        events.append("head \(head.status) \(head.contentLength ?? -1) \(head.chunked) \(dropped)")
                    case .body(let part): body += part.readableBytesView
                    case .end: events.append("end \(String(decoding: body, as: UTF8.self))")
                    }
                }
            }
            if parser.connectionClosed() { events.append("closed \(String(decoding: body, as: UTF8.self))") }
        } catch {
            return (events, true)
        }
        return (events, false)
    }

    @Test("a response split at any byte boundary parses exactly as the whole response")
    func splitAnywhere() {
        for sample in Self.samples {
            let bytes = Array(sample.utf8)
            let whole = Self.events(bytes, chunk: bytes.count)
            #expect(!whole.failed && !whole.events.isEmpty, "\(sample.debugDescription) failed whole")
            for chunk in 1..<bytes.count {
                let split = Self.events(bytes, chunk: chunk)
                #expect(
                    split.events == whole.events && split.failed == whole.failed,
                    "\(sample.debugDescription) in \(chunk)-byte pieces: \(split.events) against \(whole.events)"
                )
            }
        }
    }

    /// The head the client gets for `response` when Palisade adds `extra` fields.
    static func forwardedHead(_ response: String, adding extra: [(String, String)]) throws -> String {
        var parser = UpstreamResponseParser()
        parser.expectResponse(toHEAD: false)
        var buffer = ByteBuffer(string: response)
        guard case .head(let head) = try parser.next(&buffer) else { throw ParseFailure() }
        var writer = ResponseWriter()
        _ = writer.proxiedHead(
            head,
            .init(
                requestID: "req-1", clientVersion: .http1_1, closeAfter: false, isWebSocketUpgrade: false, extraHeaders: extra,
                bodyless: false),
            allocator: ByteBufferAllocator())
        return String(buffer: try #require(writer.pending))
    }

    struct ParseFailure: Error {}

    @Test("fields Palisade adds replace the app's own of the same name, in any case; the app's other fields pass as sent")
    func addedFieldsReplace() throws {
        let extra = [("referrer-policy", "no-referrer"), ("ratelimit", "\"10/s\";r=9;t=1")]
        let sentBoth = try Self.forwardedHead(
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nReferrer-Policy: unsafe-url\r\nX-App: a\r\nRATELIMIT: app\r\n\r\nok", adding: extra)
        #expect(!sentBoth.contains("unsafe-url") && !sentBoth.contains("RATELIMIT: app"), "\(sentBoth)")
        #expect(sentBoth.components(separatedBy: "referrer-policy: no-referrer\r\n").count == 2, "\(sentBoth)")
        #expect(sentBoth.contains("X-App: a\r\n") && sentBoth.contains("Content-Length: 2\r\n"))
        // None of the added names sent: the app's block is copied whole (the filter says so
        // without walking it), and the added fields still come once each.
        let sentNone = try Self.forwardedHead("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-App: a\r\n\r\nok", adding: extra)
        #expect(sentNone.hasPrefix("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-App: a\r\n"), "\(sentNone)")
        #expect(sentNone.contains("referrer-policy: no-referrer\r\n") && sentNone.contains("ratelimit: \"10/s\";r=9;t=1\r\n"))
        // The filter compares names case-blind, as the walk does.
        var filter = FieldNameFilter()
        let name = Array("ratelimiT".utf8)
        name.withUnsafeBytes { filter.insert($0[...]) }
        #expect(filter.mayContain("ratelimit") && !filter.mayContain("referrer-policy"))
    }
}
