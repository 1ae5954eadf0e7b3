import Foundation
import PalisadeCore
import PalisadeTesting
import Testing

/// The replay guard through the real proxy and a real app that can be told to fail: an id is held
/// while the first request is in flight, committed on 2xx, released on failure.
@Suite("Replay guard", .serialized)
struct ReplayGuardTests {
    static let policy = """
        version: 1
        listen: 127.0.0.1:0
        upstream:
          url: {{UPSTREAM}}
          response_timeout: 10s
        store: { kind: memory }
        routes:
          - name: hooks-reject
            match: { prefix: /status/ }
            guards:
              - replay: { id: "header:webhook-id", ttl: 1h }
          - name: hooks-ack
            match: { path: /slow }
            guards:
              - replay: { id: "json:$.data.id", ttl: 1h, on_duplicate: acknowledge }
          - name: echo
            match: { prefix: /echo }
            guards:
              - replay: { id: "json:$.id", ttl: 1h, on_duplicate: acknowledge }
        default: deny
        """

    static func post(_ path: String, id: String? = nil, body: String = "{}", port: Int) -> [UInt8] {
        let idHeader = id.map { [("webhook-id", $0)] } ?? []
        return RawClient.request("POST", path, headers: [("Content-Type", "application/json")] + idHeader, body: body)
    }

    @Test("a committed id is refused 409 replay_detected; the app saw it once")
    func duplicateRejected() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let first = try await RawClient.send(Self.post("/status/200", id: "evt_1", port: harness.proxyPort), port: harness.proxyPort)
            #expect(first.first?.status == 200)
            let second = try await RawClient.send(Self.post("/status/200", id: "evt_1", port: harness.proxyPort), port: harness.proxyPort)
            #expect(second.first?.status == 409)
            #expect(second.first?.json?["error"] as? String == "replay_detected")
            #expect(harness.upstream.requests.count == 1)
            let other = try await RawClient.send(Self.post("/status/200", id: "evt_2", port: harness.proxyPort), port: harness.proxyPort)
            #expect(other.first?.status == 200)
        }
    }

    @Test("a missing id header is refused 400 replay_id_missing naming the header to send")
    func missingHeaderNamed() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let missing = try await RawClient.send(Self.post("/status/200", port: harness.proxyPort), port: harness.proxyPort)
            #expect(missing.first?.status == 400)
            #expect(missing.first?.json?["error"] as? String == "replay_id_missing")
            #expect(missing.first?.json?["header"] as? String == "webhook-id", "\(missing.first?.bodyText ?? "")")
            #expect(harness.upstream.requests.isEmpty)
        }
    }

    @Test("after an app failure the id is released, so the sender's honest retry goes through")
    func retryAfterFailure() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let failed = try await RawClient.send(Self.post("/status/503", id: "evt_9", port: harness.proxyPort), port: harness.proxyPort)
            #expect(failed.first?.status == 503)
            // The sender retries the same delivery; the app is healthy now.
            let retried = try await RawClient.send(Self.post("/status/200", id: "evt_9", port: harness.proxyPort), port: harness.proxyPort)
            #expect(retried.first?.status == 200)
            #expect(harness.upstream.requests.count == 2)
        }
    }

    @Test("a duplicate sent while the first is in flight gets 409 replay_in_flight")
    func concurrentDuplicate() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let body = #"{"data":{"id":"evt_concurrent"}}"#
            async let slow = RawClient.send(
                Self.post("/slow?ms=5000", body: body, port: harness.proxyPort), port: harness.proxyPort, timeoutMilliseconds: 10000)
            // The first is in flight once the app has it (it answers 5 s later: room for a loaded machine).
            #expect(await TestSupport.eventually(timeout: .seconds(5)) { harness.upstream.requests.count == 1 })
            let duplicate = try await RawClient.send(
                Self.post("/slow?ms=1500", body: body, port: harness.proxyPort), port: harness.proxyPort)
            #expect(duplicate.first?.status == 409)
            #expect(duplicate.first?.json?["error"] as? String == "replay_in_flight")
            #expect(try await slow.first?.status == 200)
            // Committed now: acknowledged without reaching the app.
            let late = try await RawClient.send(Self.post("/slow?ms=10", body: body, port: harness.proxyPort), port: harness.proxyPort)
            #expect(late.first?.status == 200)
            #expect(late.first?.json?["status"] as? String == "duplicate_acknowledged")
            #expect(harness.upstream.requests.count == 1)
        }
    }

    @Test("an id from the JSON body: acknowledged duplicate is 200 and not forwarded; no id is 400")
    func jsonIdentifier() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let body = #"{"id":"evt_json_1","type":"x"}"#
            for _ in 0..<3 {
                let outcome = try await RawClient.send(Self.post("/echo", body: body, port: harness.proxyPort), port: harness.proxyPort)
                #expect(outcome.first?.status == 200)
            }
            #expect(harness.upstream.requests.count == 1)
            let missing = try await RawClient.send(
                Self.post("/echo", body: #"{"type":"x"}"#, port: harness.proxyPort), port: harness.proxyPort)
            #expect(missing.first?.status == 400)
            #expect(missing.first?.json?["error"] as? String == "replay_id_missing")
            let lines = await harness.accessLines()
            #expect(lines.contains { ($0["guards"] as? [[String: Any]])?.first?["outcome"] as? String == "duplicate_acknowledged" })
        }
    }
}

/// `id: signature`: a captured signed delivery is accepted once.
@Suite("Replay by signature")
struct ReplayBySignatureTests {
    @Test("the same signed bytes twice: the second is refused 409 replay_detected")
    func signatureAsID() async throws {
        let secret = "replay-signature-secret"
        let yaml = """
            version: 1
            listen: 127.0.0.1:0
            upstream: { url: "{{UPSTREAM}}" }
            secrets:
              gh: { value: "\(secret)" }
            routes:
              - name: gh
                match: { path: /gh }
                guards:
                  - hmac: { preset: github, secret: gh }
                  - replay: { id: signature, ttl: 1h }
            default: deny
            """
        try await ProxyHarness.with(yaml: yaml) { harness in
            let body = #"{"action":"opened"}"#
            let headers = try PythonSigner.sign(.init(preset: "github", secret: secret, body: body, timestamp: 0))
            var text = "POST /gh HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
            for (name, value) in headers { text += "\(name): \(value)\r\n" }
            text += "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
            let first = try await RawClient.send(Array(text.utf8), port: harness.proxyPort)
            #expect(first.first?.status == 200)
            let replayed = try await RawClient.send(Array(text.utf8), port: harness.proxyPort)
            #expect(replayed.first?.status == 409)
            #expect(replayed.first?.json?["error"] as? String == "replay_detected")
            #expect(harness.upstream.requests.count == 1)
        }
    }
}

/// Bodies that a guard must read are bounded by limits.max_body_bytes.
@Suite("Body limits")
struct BodyLimitTests {
    static let policy = """
        version: 1
        listen: 127.0.0.1:0
        upstream: { url: "{{UPSTREAM}}" }
        limits: { max_body_bytes: 1KiB }
        routes:
          - name: hooks
            match: { prefix: / }
            guards:
              - replay: { id: "json:$.id", ttl: 1h }
        default: deny
        """

    @Test("a declared length over max_body_bytes gets 413 before the body is read; a chunked one when it grows past")
    func tooLarge() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            // Only the head is sent: the answer must not wait for the 2 KiB the head announces.
            let head = Array("POST /hook HTTP/1.1\r\nHost: a\r\nContent-Length: 2048\r\n\r\n".utf8)
            let declared = try await RawClient.send(head, port: harness.proxyPort, timeoutMilliseconds: 1000)
            #expect(declared.first?.status == 413)
            #expect(declared.first?.json?["error"] as? String == "body_too_large")
            let chunk = String(repeating: "x", count: 700)
            let chunked =
                "POST /hook HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2bc\r\n\(chunk)\r\n2bc\r\n\(chunk)\r\n0\r\n\r\n"
            let grown = try await RawClient.send(Array(chunked.utf8), port: harness.proxyPort)
            #expect(grown.first?.status == 413)
            #expect(harness.upstream.requests.isEmpty)
            let small = try await RawClient.get("/hook", port: harness.proxyPort, method: "POST", body: #"{"id":"evt_small"}"#)
            #expect(small.status == 200)
        }
    }
}
