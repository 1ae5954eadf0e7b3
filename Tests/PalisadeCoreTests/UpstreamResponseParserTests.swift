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
}
