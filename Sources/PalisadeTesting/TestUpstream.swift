import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import PalisadeCore

/// A real HTTP app for tests, on 127.0.0.1 and an ephemeral port. It records every request it is
/// given (head and exact body bytes) and answers according to the path:
///
/// - `/status/NNN`: that status, small JSON body
/// - `/chunked`: a chunked answer in three parts
/// - `/slow?ms=N`: waits N ms before the head
/// - `/truncate`: promises 1000 bytes, sends 10, closes
/// - `/close`: answers with `Connection: close` and closes
/// - `/big?bytes=N`: N bytes of body
/// - `/ws`: a WebSocket handshake answered with 101, then echoes raw bytes
/// - anything else: 200 with a JSON echo of method, uri and body length
public final class TestUpstream: Sendable {
    public struct Recorded: Sendable {
        public var head: HTTPRequestHead
        public var body: [UInt8]
        public var path: String { String(head.uri.split(separator: "?", maxSplits: 1).first ?? "") }
    }

    private let channel: any Channel
    public let port: Int

    public static func start(group: any EventLoopGroup) async throws -> TestUpstream {
        let recorder = Recorder()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    recorder.connectionOpened()
                    let sync = channel.pipeline.syncOperations
                    let encoder = HTTPResponseEncoder()
                    try sync.addHandler(encoder)
                    try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)))
                    try sync.addHandler(TestUpstreamHandler(recorder: recorder))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return TestUpstream(channel: channel, recorder: recorder)
    }

    private let recorder: Recorder

    private init(channel: any Channel, recorder: Recorder) {
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
        self.recorder = recorder
    }

    public var requests: [Recorded] { recorder.requests }
    public var connectionsOpened: Int { recorder.connections }
    public func reset() { recorder.reset() }

    public func stop() async {
        try? await channel.close()
    }
}

final class Recorder: Sendable {
    private let state = NIOLockedValueBox<(requests: [TestUpstream.Recorded], connections: Int)>(([], 0))
    func record(_ r: TestUpstream.Recorded) { state.withLockedValue { $0.requests.append(r) } }
    func connectionOpened() { state.withLockedValue { $0.connections += 1 } }
    var requests: [TestUpstream.Recorded] { state.withLockedValue { $0.requests } }
    var connections: Int { state.withLockedValue { $0.connections } }
    func reset() { state.withLockedValue { $0 = ([], 0) } }
}

final class TestUpstreamHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let recorder: Recorder
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var isHead = false

    init(recorder: Recorder) { self.recorder = recorder }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
        case .body(var b):
            body += b.readBytes(length: b.readableBytes) ?? []
        case .end:
            guard let head else { return }
            self.head = nil
            recorder.record(.init(head: head, body: body))
            isHead = head.method == .HEAD
            answer(head, context: context)
        }
    }

    /// 64 KiB of 0, 1, ..., 255 repeated: the body of `/big`.
    static let bigPattern: [UInt8] = (0..<64 * 1024).map { UInt8(truncatingIfNeeded: $0) }

    private func query(_ head: HTTPRequestHead, _ name: String) -> Int? {
        guard let q = head.uri.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
        for pair in q.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0] == name { return Int(kv[1]) }
        }
        return nil
    }

    private func answer(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = String(head.uri.split(separator: "?", maxSplits: 1).first ?? "")
        if path.hasPrefix("/status/"), let code = Int(path.dropFirst("/status/".count)) {
            send(context, status: HTTPResponseStatus(statusCode: code), body: #"{"status":\#(code)}"#)
        } else if path == "/chunked" {
            var headers = HTTPHeaders([("content-type", "text/plain"), ("transfer-encoding", "chunked")])
            headers.add(name: "x-upstream", value: "chunked")
            context.write(wrapOutboundOut(.head(.init(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            for part in ["alpha-", "beta-", "gamma"] {
                context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: part)))), promise: nil)
            }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else if path == "/slow" {
            let ms = query(head, "ms") ?? 1000
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: .milliseconds(Int64(ms))) {
                let (handler, context) = bound.value
                handler.send(context, status: .ok, body: #"{"slow":true}"#)
            }
        } else if path == "/truncate" {
            let headers = HTTPHeaders([("content-length", "1000")])
            context.write(wrapOutboundOut(.head(.init(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "0123456789")))), promise: nil)
            context.close(promise: nil)
        } else if path == "/close" {
            send(context, status: .ok, body: #"{"close":true}"#, extra: [("connection", "close")], close: true)
        } else if path == "/big" {
            let size = query(head, "bytes") ?? 1_000_000
            let headers = HTTPHeaders([("content-length", String(size)), ("content-type", "application/octet-stream")])
            context.write(wrapOutboundOut(.head(.init(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            // Byte i of the body is i % 256. Chunks are a multiple of 256 long, so each starts at 0;
            // copying a ready pattern keeps a debug build fast enough for multi-megabyte bodies.
            var remaining = size
            while remaining > 0 {
                let n = min(remaining, Self.bigPattern.count)
                var buffer = context.channel.allocator.buffer(capacity: n)
                buffer.writeBytes(Self.bigPattern[0..<n])
                context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
                remaining -= n
            }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else if path == "/ws", head.headers.first(name: "upgrade")?.lowercased() == "websocket" {
            let headers = HTTPHeaders([("upgrade", "websocket"), ("connection", "Upgrade"), ("sec-websocket-accept", "test")])
            context.writeAndFlush(wrapOutboundOut(.head(.init(version: .http1_1, status: .switchingProtocols, headers: headers))))
                .assumeIsolated().whenSuccess {
                    let sync = context.pipeline.syncOperations
                    try? sync.addHandler(RawEchoHandler())
                    if let encoder = try? sync.handler(type: HTTPResponseEncoder.self) { sync.removeHandler(encoder, promise: nil) }
                    sync.removeHandler(self, promise: nil)
                    if let decoder = try? sync.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self) {
                        sync.removeHandler(decoder, promise: nil)
                    }
                }
        } else {
            var json = ByteBuffer()
            json.writeString("{\"method\":\"\(head.method.rawValue)\",\"uri\":")
            json.writeString("\"\(head.uri.replacingOccurrences(of: "\"", with: "\\\""))\"")
            json.writeString(",\"body_bytes\":\(body.count)}")
            send(context, status: .ok, body: String(buffer: json), extra: [("x-upstream", "echo")])
        }
    }

    private func send(
        _ context: ChannelHandlerContext, status: HTTPResponseStatus, body: String,
        extra: [(String, String)] = [], close: Bool = false
    ) {
        var headers = HTTPHeaders([("content-type", "application/json"), ("content-length", String(body.utf8.count))])
        for (n, v) in extra { headers.add(name: n, value: v) }
        context.write(wrapOutboundOut(.head(.init(version: .http1_1, status: status, headers: headers))), promise: nil)
        if !isHead { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil) }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if close { done.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
    }
}

final class RawEchoHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(data, promise: nil)
    }
}
