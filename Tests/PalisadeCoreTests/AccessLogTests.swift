import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import PalisadeCore
@testable import PalisadeTesting

/// The access line's encoding, and the in-memory sink tests wait on, fed by a real loop's writer.
@Suite("Access log")
struct AccessLogTests {
    static func line(path: Substring = "/a", headers: [(String, String)] = [], guards: [GuardNote] = []) -> AccessLogLine {
        AccessLogLine(
            startWall: WallClock.Instant(nanosecondsSinceEpoch: 1_700_000_000_123_000_000), requestID: "r-1", clientIP: "192.0.2.7",
            method: "GET", path: path, query: nil, route: nil, status: 200, upstreamStatus: 201, durationNanos: 1_500_000,
            upstreamNanos: nil,
            bytesIn: 10, bytesOut: 20, error: nil, guards: guards, headers: headers)
    }

    static let masking = LogMasking(LogSpec())

    static func encoded(_ line: AccessLogLine) throws -> [String: Any] {
        var encoder = AccessLogEncoder()
        var buffer = ByteBuffer()
        encoder.encode(line, masking: Self.masking, into: &buffer)
        let text = String(buffer: buffer)
        #expect(text.hasSuffix("}\n") && text.filter { $0 == "\n" }.count == 1, "\(text)")
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test("every field is written, text escaped so a value cannot break out of its string or its line")
    func encodesTypedFields() throws {
        let fields = try Self.encoded(
            Self.line(
                path: "/a\"b\n", headers: [("user-agent", "evil\"}\n{\"x\":1")],
                guards: [GuardNote(guardKind: "api_key", outcome: "ok", reportOnly: false, detail: "key=ci-bot")]))
        #expect(fields["ts"] as? String == "2023-11-14T22:13:20.123Z")
        #expect(fields["request_id"] as? String == "r-1")
        #expect(fields["client_ip"] as? String == "192.0.2.7")
        #expect(fields["path"] as? String == "/a\"b\n")
        #expect(fields["route"] is NSNull)
        #expect(fields["upstream_status"] as? Int == 201)
        #expect(fields["duration_ms"] as? Double == 1.5)
        #expect((fields["headers"] as? [String: String])?["user-agent"] == "evil\"}\n{\"x\":1")
        let guards = try #require(fields["guards"] as? [[String: Any]])
        #expect(guards.first?["detail"] as? String == "key=ci-bot")
        #expect(guards.first?["mode"] == nil)
    }

    @Test("the worst case for the line's size (long values of control characters, six bytes each when escaped) fits and reads back")
    func worstCaseSize() throws {
        let controls = String(repeating: "\u{01}\"\\", count: 3000)
        let note = GuardNote(guardKind: "api_key", outcome: "ok", reportOnly: true, detail: controls)
        let line = AccessLogLine(
            startWall: WallClock.Instant(nanosecondsSinceEpoch: 0), requestID: controls, clientIP: controls, method: controls,
            path: controls[...], query: controls[...], route: controls, status: Int.max, upstreamStatus: Int.min,
            durationNanos: .max, upstreamNanos: .max, bytesIn: .max, bytesOut: .min, error: controls, guards: [note, note],
            headers: [(controls, controls), ("x-session-token", controls)])
        let fields = try Self.encoded(line)
        #expect(fields["client_ip"] as? String == controls)
        #expect(fields["route"] as? String == controls)
        #expect(fields["error"] as? String == controls)
        #expect((fields["guards"] as? [[String: Any]])?.first?["detail"] as? String == controls)
        #expect((fields["headers"] as? [String: String])?["x-session-token"] == "[masked]")
        #expect(fields["bytes_out"] as? Int == Int.min)
    }

    @Test("a waiter is woken by a line that arrives after it started waiting, through a loop's writer")
    func waitsForALaterLine() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let sink = MemoryAccessLog()
        let loop = group.next()
        let writer = try await loop.submit {
            NIOLoopBound(AccessLogWriter(eventLoop: loop, sink: sink, securityEvents: SecurityEventLog(sink: sink)), eventLoop: loop)
        }.get()
        async let found = sink.lineText { $0["path"] as? String == "/later" }
        while sink.waiting == 0 { await Task.yield() }
        try await loop.submit {
            writer.value.append(Self.line(path: "/first"), masking: Self.masking)
            writer.value.append(Self.line(path: "/later"), masking: Self.masking)
        }.get()
        #expect(try await found.contains(#""path":"/later""#))
        #expect(sink.lines.count == 2)
        try await group.shutdownGracefully()
    }

    @Test("a wait with no matching line ends at its deadline and shows what did arrive")
    func waitTimesOut() async throws {
        let sink = MemoryAccessLog()
        var encoder = AccessLogEncoder()
        var buffer = ByteBuffer()
        encoder.encode(Self.line(path: "/other"), masking: Self.masking, into: &buffer)
        buffer.withUnsafeReadableBytes { sink.write($0) }
        await #expect(throws: MemoryAccessLog.Timeout.self) {
            _ = try await sink.line(within: .milliseconds(50)) { $0["path"] as? String == "/never" }
        }
    }
}
