import Foundation
import PalisadeCore
import PalisadeTesting
import Testing

/// The idempotency guard through the real proxy and a real app.
@Suite("Idempotency guard", .serialized)
struct IdempotencyGuardTests {
    static let policy = """
        version: 1
        listen: 127.0.0.1:0
        upstream:
          url: {{UPSTREAM}}
          response_timeout: 10s
        routes:
          - name: payments
            match: { prefix: / }
            guards:
              - idempotency: { methods: [POST], ttl: 1h, max_response_bytes: 4KiB }
        default: deny
        """

    static func post(_ path: String, key: String?, body: String, port: Int) -> [UInt8] {
        let keyHeader = key.map { [("Idempotency-Key", $0)] } ?? []
        return RawClient.request("POST", path, headers: [("Content-Type", "application/json")] + keyHeader, body: body)
    }

    @Test("the first answer is kept and replayed for the same key, marked, without reaching the app")
    func replaysFirstAnswer() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let body = #"{"amount":4200}"#
            let first = try #require(
                try await RawClient.send(Self.post("/charges", key: "k-1", body: body, port: harness.proxyPort), port: harness.proxyPort)
                    .first)
            #expect(first.status == 200)
            #expect(first.header("idempotent-replayed") == nil)
            let second = try #require(
                try await RawClient.send(Self.post("/charges", key: "k-1", body: body, port: harness.proxyPort), port: harness.proxyPort)
                    .first)
            #expect(second.status == 200)
            #expect(second.header("idempotent-replayed") == "true")
            #expect(second.body == first.body)
            #expect(second.header("x-upstream") == "echo")
            #expect(second.header("x-request-id") != first.header("x-request-id"))
            #expect(harness.upstream.requests.count == 1)
        }
    }

    @Test("the same key with a different body is refused 422; a missing key 400; GET is not affected")
    func refusals() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            _ = try await RawClient.send(
                Self.post("/charges", key: "k-2", body: #"{"amount":1}"#, port: harness.proxyPort), port: harness.proxyPort)
            let reused = try await RawClient.send(
                Self.post("/charges", key: "k-2", body: #"{"amount":2}"#, port: harness.proxyPort), port: harness.proxyPort)
            #expect(reused.first?.status == 422)
            #expect(reused.first?.json?["error"] as? String == "idempotency_key_reused")
            let missing = try await RawClient.send(
                Self.post("/charges", key: nil, body: "{}", port: harness.proxyPort), port: harness.proxyPort)
            #expect(missing.first?.status == 400)
            #expect(missing.first?.json?["error"] as? String == "idempotency_key_missing")
            let get = try await RawClient.get("/charges", port: harness.proxyPort)
            #expect(get.status == 200)
            #expect(harness.upstream.requests.count == 2)
        }
    }

    @Test("a 5xx answer is not kept: the retry with the same key reaches the app")
    func serverErrorsAreNotKept() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let failed = try await RawClient.send(
                Self.post("/status/503", key: "k-3", body: "{}", port: harness.proxyPort), port: harness.proxyPort)
            #expect(failed.first?.status == 503)
            let retried = try await RawClient.send(
                Self.post("/status/503", key: "k-3", body: "{}", port: harness.proxyPort), port: harness.proxyPort)
            #expect(retried.first?.status == 503)
            #expect(retried.first?.header("idempotent-replayed") == nil)
            #expect(harness.upstream.requests.count == 2)
        }
    }

    @Test("a concurrent request with the same key gets 409 idempotency_in_flight")
    func concurrent() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            // The app answers 6 s later: long enough that a loaded machine still sends the second
            // request while the first is in flight.
            async let slow = RawClient.send(
                Self.post("/slow?ms=6000", key: "k-4", body: "{}", port: harness.proxyPort), port: harness.proxyPort,
                timeoutMilliseconds: 15000)
            // The first is in flight once the app has it.
            #expect(await TestSupport.eventually(timeout: .seconds(5)) { harness.upstream.requests.count == 1 })
            let second = try await RawClient.send(
                Self.post("/slow?ms=6000", key: "k-4", body: "{}", port: harness.proxyPort), port: harness.proxyPort)
            #expect(second.first?.status == 409)
            #expect(second.first?.json?["error"] as? String == "idempotency_in_flight")
            #expect(try await slow.first?.status == 200)
            #expect(harness.upstream.requests.count == 1)
        }
    }

    @Test("an answer larger than max_response_bytes is passed on but not kept")
    func largeAnswerNotKept() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            for _ in 0..<2 {
                let outcome = try await RawClient.send(
                    Self.post("/big?bytes=10000", key: "k-5", body: "{}", port: harness.proxyPort), port: harness.proxyPort)
                #expect(outcome.first?.status == 200)
                #expect(outcome.first?.body.count == 10000)
                #expect(outcome.first?.header("idempotent-replayed") == nil)
            }
            #expect(harness.upstream.requests.count == 2)
        }
    }

    @Test("keys are scoped to the caller's credentials; a broken-off answer is never kept")
    func scopingAndTruncation() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            func post(_ path: String, auth: String) -> [UInt8] {
                let body = #"{"amount":7}"#
                return Array(
                    "POST \(path) HTTP/1.1\r\nHost: a\r\nConnection: close\r\nAuthorization: Bearer \(auth)\r\nIdempotency-Key: shared-key\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
                        .utf8)
            }
            let alice = try await RawClient.send(post("/charges", auth: "alice-token"), port: harness.proxyPort)
            #expect(alice.first?.status == 200)
            // Same key, same request, other credentials: not alice's answer, forwarded on its own.
            let mallory = try await RawClient.send(post("/charges", auth: "mallory-token"), port: harness.proxyPort)
            #expect(mallory.first?.status == 200)
            #expect(mallory.first?.header("idempotent-replayed") == nil)
            let aliceAgain = try await RawClient.send(post("/charges", auth: "alice-token"), port: harness.proxyPort)
            #expect(aliceAgain.first?.header("idempotent-replayed") == "true")
            #expect(harness.upstream.requests.count == 2)

            // The app breaks off mid-body: the client connection is cut and nothing is kept.
            harness.upstream.reset()
            for _ in 0..<2 {
                let cut = try await RawClient.send(
                    Self.post("/truncate", key: "k-cut", body: "{}", port: harness.proxyPort), port: harness.proxyPort)
                #expect(cut.peerClosed)
                #expect(cut.first == nil)
            }
            #expect(harness.upstream.requests.count == 2)
        }
    }
}
