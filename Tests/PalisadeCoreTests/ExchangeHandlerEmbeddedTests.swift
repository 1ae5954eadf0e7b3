import Foundation
import NIOCore
import NIOEmbedded
import Testing

@testable import PalisadeCore

/// The exchange handler around its state machine, on an `EmbeddedChannel`: bytes in, bytes out,
/// no sockets and no app. Covers what Palisade answers itself: routing refusals, pipelined
/// requests answered in order, protocol errors, and a drain.
@Suite("Exchange handler (embedded)")
struct ExchangeHandlerEmbeddedTests {
    static let policy = """
        version: 1
        listen: 127.0.0.1:0
        upstream: { url: "http://127.0.0.1:9" }
        log: { access: off }
        routes:
          - name: orders
            match: { path: /orders, methods: [POST] }
        default: deny
        """

    /// A client connection whose handler serves `policy` on an embedded loop.
    static func connection() throws -> EmbeddedChannel {
        let loop = EmbeddedEventLoop()
        let (plan, _) = try PlanCompiler.load(yaml: policy, file: "embedded.yaml", generation: 1)
        let context = LoopContext(
            eventLoop: loop, plan: plan, accessLogSink: FileDescriptorSink.stdout,
            securityEvents: SecurityEventLog(sink: FileDescriptorSink.stdout))
        let channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandler(ExchangeHandler(loop: context, eventLoop: loop))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40000)).wait()
        return channel
    }

    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: String
    }

    /// Splits what the handler wrote into answers (every local answer has a Content-Length).
    static func answers(_ channel: EmbeddedChannel) throws -> [Answer] {
        var bytes = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { bytes.writeBuffer(&part) }
        var text = String(buffer: bytes)
        var answers: [Answer] = []
        while let end = text.range(of: "\r\n\r\n") {
            let lines = text[..<end.lowerBound].split(separator: "\r\n")
            let status = Int(lines[0].split(separator: " ")[1]) ?? 0
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                let pair = line.split(separator: ":", maxSplits: 1)
                headers[pair[0].lowercased()] = pair[1].trimmingCharacters(in: .whitespaces)
            }
            let length = Int(headers["content-length"] ?? "0") ?? 0
            let rest = text[end.upperBound...]
            answers.append(Answer(status: status, headers: headers, body: String(rest.prefix(length))))
            text = String(rest.dropFirst(length))
        }
        return answers
    }

    @Test("pipelined refusals are answered in order, each with its own request id, and the connection stays")
    func pipelinedRefusals() throws {
        let channel = try Self.connection()
        let requests = "GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\nGET /orders HTTP/1.1\r\nHost: a\r\n\r\n"
        try channel.writeInbound(ByteBuffer(string: requests))
        (channel.eventLoop as! EmbeddedEventLoop).run()
        let answers = try Self.answers(channel)
        #expect(answers.map(\.status) == [404, 405])
        #expect(answers.first?.body.contains("\"error\":\"no_route\"") == true)
        #expect(answers.last?.headers["allow"] == "POST")
        let ids = answers.compactMap { $0.headers["x-request-id"] }
        #expect(ids.count == 2 && ids[0] != ids[1])
        for answer in answers {
            #expect(answer.body.contains(answer.headers["x-request-id"] ?? "missing"))
        }
        #expect(channel.isActive)
        _ = try? channel.finish()
    }

    @Test("a malformed request gets one 400 naming the problem, and the connection closes")
    func malformed() throws {
        let channel = try Self.connection()
        try channel.writeInbound(ByteBuffer(string: "GET /a HTTP/1.1\r\nHost: a\r\nNo-Colon-Here\r\n\r\nGET /b HTTP/1.1\r\n\r\n"))
        (channel.eventLoop as! EmbeddedEventLoop).run()
        let answers = try Self.answers(channel)
        #expect(answers.map(\.status) == [400])
        #expect(answers.first?.headers["connection"] == "close")
        #expect(answers.first?.body.contains("\"error\":") == true)
        #expect(!channel.isActive)
    }

    @Test("a drain closes an idle connection at once; a request that arrives first is still answered")
    func drain() throws {
        let idle = try Self.connection()
        idle.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(!idle.isActive)

        let busy = try Self.connection()
        try busy.writeInbound(ByteBuffer(string: "GET /nowhere HTTP/1.1\r\nHost: a\r\n"))  // head not finished
        busy.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(busy.isActive)
        try busy.writeInbound(ByteBuffer(string: "\r\n"))
        (busy.eventLoop as! EmbeddedEventLoop).run()
        let answers = try Self.answers(busy)
        #expect(answers.map(\.status) == [404])
        #expect(answers.first?.headers["connection"] == "close")
        #expect(!busy.isActive)
    }
}
