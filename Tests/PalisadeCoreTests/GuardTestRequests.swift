import NIOCore
import NIOEmbedded
import NIOHTTP1

@testable import PalisadeCore

/// Requests built for a guard's `check` and `afterResponse` called directly, and their verdicts
/// reduced to something a test can compare. Only the request's head, client address, body and
/// clock are set, so these tests do not depend on how the pipeline fills the rest.
enum GuardTestRequests {
    static func make(
        _ method: HTTPMethod = .POST, _ uri: String = "/hooks", headers: [(String, String)] = [], body: String? = nil,
        client: String = "192.0.2.1", now: Int64 = 1_700_000_000, on loop: EmbeddedEventLoop
    ) -> GuardRequest {
        let request = GuardRequest(eventLoop: loop)
        request.head = HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: HTTPHeaders(headers))
        request.reset(clientIP: IPAddressBytes(parsing: client)!)
        request.body = body.map { ByteBuffer(string: $0) }
        request.now = WallClock.Instant(nanosecondsSinceEpoch: now * 1_000_000_000)
        return request
    }

    /// A verdict as text: `allow`, `respond <status> <body>`, or the refusal's code.
    static func verdict(_ decision: GuardDecision) throws -> String {
        switch decision {
        case .allow, .allowDetailed: return "allow"
        case .reject(let code): return code.code
        case .respond(let response): return "respond \(response.status) \(String(decoding: response.body, as: UTF8.self))"
        case .pending(let future): return try verdict(future.wait())
        }
    }

    static func refusal(_ decision: GuardDecision) throws -> RejectionCode? {
        switch decision {
        case .reject(let code): return code
        case .pending(let future): return try refusal(future.wait())
        default: return nil
        }
    }
}
