import Foundation
import PalisadeCore
import PalisadeTesting
import Testing

/// The store's byte budget and per-client cap through the real proxy: idempotency keys are chosen
/// by clients, so past `store.max_bytes` new keys get 503 `store_full` (counted) until entries
/// expire, and one client cannot take more than `store.max_entries_per_client` of them.
@Suite("Store budget", .serialized)
struct StoreBudgetTests {
    static func policy(store: String, ttl: String) -> String {
        """
        version: 1
        listen: 127.0.0.1:0
        upstream:
          url: {{UPSTREAM}}
          response_timeout: 3s
        admin:
          listen: 127.0.0.1:0
        client_ip:
          from: x-forwarded-for
          trusted_proxies: [127.0.0.1/32]
        store: \(store)
        routes:
          - name: payments
            match: { prefix: / }
            guards:
              - idempotency: { methods: [POST], ttl: \(ttl), max_response_bytes: 4KiB }
        default: deny
        """
    }

    static func post(key: String, client: String = "198.51.100.1", port: Int) async throws -> WireResponse {
        let request = RawClient.request(
            "POST", "/charges",
            headers: [("Content-Type", "application/json"), ("Idempotency-Key", key), ("X-Forwarded-For", client)],
            body: #"{"amount":1}"#
        )
        return try #require(try await RawClient.send(request, port: port).first)
    }

    @Test("past max_bytes new keys get 503 store_full, counted, not forwarded; kept keys still replay")
    func budget() async throws {
        try await ProxyHarness.with(yaml: Self.policy(store: "{ max_bytes: 64KiB }", ttl: "1h")) { harness in
            var accepted = 0
            var refusal: WireResponse?
            // Each kept answer is charged well over 300 bytes, so 64 KiB holds a few hundred at most.
            for index in 0..<1000 {
                let response = try await Self.post(key: "key-\(index)", port: harness.proxyPort)
                if response.status == 200 {
                    accepted += 1
                    continue
                }
                refusal = response
                break
            }
            let refused = try #require(refusal)
            #expect(refused.status == 503)
            #expect(refused.json?["error"] as? String == "store_full")
            #expect(accepted > 20 && accepted < 200)
            // The refused request never reached the app.
            #expect(harness.upstream.requests.count == accepted)

            let metrics = try await harness.metrics()
            #expect(TestSupport.metricValue(metrics, #"palisade_store_refusals_total{reason="store_full"}"#) == 1)
            #expect(
                TestSupport.metricValue(
                    metrics, #"palisade_guard_decisions_total{route="payments",guard="idempotency",outcome="store_full",detail=""}"#
                ) == 1
            )
            let bytes = try #require(TestSupport.metricValue(metrics, "palisade_store_bytes"))
            // Refused once less is free than a new key sets aside (its answer's 4 KiB cap and more).
            #expect(bytes <= 65536 && bytes > 65536 - 8192)
            #expect(TestSupport.metricValue(metrics, "palisade_store_max_bytes") == 65536)
            #expect(TestSupport.metricValue(metrics, "palisade_store_entries") == Double(accepted))

            // A key already kept is still answered from the store, not refused.
            let replay = try await Self.post(key: "key-0", port: harness.proxyPort)
            #expect(replay.status == 200)
            #expect(replay.header("idempotent-replayed") == "true")
            #expect(harness.upstream.requests.count == accepted)
        }
    }

    @Test("once kept answers expire, a new key evicts them instead of being refused")
    func expiredMakeRoom() async throws {
        let yaml = Self.policy(store: "{ max_bytes: 64KiB }", ttl: "2s")
            .replacingOccurrences(of: "max_response_bytes: 4KiB", with: "max_response_bytes: 16KiB")
        try await ProxyHarness.with(yaml: yaml) { harness in
            func post(_ key: String) async throws -> WireResponse {
                let request = RawClient.request("POST", "/big?bytes=12000", headers: [("Idempotency-Key", key)], body: "{}")
                return try #require(try await RawClient.send(request, port: harness.proxyPort).first)
            }
            // 12 KB answers: four are kept, the fifth new key finds no room.
            var refusal: WireResponse?
            for index in 0..<40 {
                let response = try await post("big-\(index)")
                if response.status != 200 {
                    refusal = response
                    break
                }
            }
            #expect(refusal?.status == 503)
            #expect(refusal?.json?["error"] as? String == "store_full")
            try await Task.sleep(for: .seconds(3.5))
            let fresh = try await post("after-expiry")
            #expect(fresh.status == 200)
            #expect(fresh.header("idempotent-replayed") == nil)
            let metrics = try await harness.metrics()
            #expect(TestSupport.metricValue(metrics, "palisade_store_entries") == 1)
            #expect((TestSupport.metricValue(metrics, "palisade_store_expired_evictions_total") ?? 0) >= 4)
        }
    }

    @Test("one client is held to max_entries_per_client (429 store_client_limit, counted); others are not")
    func perClientCap() async throws {
        try await ProxyHarness.with(yaml: Self.policy(store: "{ max_entries_per_client: 3 }", ttl: "1h")) { harness in
            for index in 0..<3 {
                #expect(try await Self.post(key: "a-\(index)", client: "198.51.100.7", port: harness.proxyPort).status == 200)
            }
            let capped = try await Self.post(key: "a-3", client: "198.51.100.7", port: harness.proxyPort)
            #expect(capped.status == 429)
            #expect(capped.json?["error"] as? String == "store_client_limit")
            // Its kept answers still replay, and another client is served.
            #expect(
                try await Self.post(key: "a-0", client: "198.51.100.7", port: harness.proxyPort).header("idempotent-replayed") == "true")
            #expect(try await Self.post(key: "b-0", client: "198.51.100.8", port: harness.proxyPort).status == 200)
            #expect(harness.upstream.requests.count == 4)
            let metrics = try await harness.metrics()
            #expect(TestSupport.metricValue(metrics, #"palisade_store_refusals_total{reason="store_client_limit"}"#) == 1)
            #expect(
                TestSupport.metricValue(
                    metrics,
                    #"palisade_guard_decisions_total{route="payments",guard="idempotency",outcome="store_client_limit",detail=""}"#
                ) == 1
            )
        }
    }

    @Test("a replay guard fails closed when the store is full: 503 store_full, not forwarded")
    func replayFailsClosed() async throws {
        let yaml = """
            version: 1
            listen: 127.0.0.1:0
            upstream: { url: {{UPSTREAM}} }
            admin: { listen: 127.0.0.1:0 }
            store: { max_bytes: 64KiB }
            routes:
              - name: hooks
                match: { prefix: / }
                guards:
                  - replay: { id: "header:webhook-id", ttl: 1h }
            default: deny
            """
        try await ProxyHarness.with(yaml: yaml) { harness in
            var accepted = 0
            var refusal: WireResponse?
            for index in 0..<2000 {
                let request = RawClient.request("POST", "/hook", headers: [("webhook-id", "delivery-\(index)")], body: "{}")
                let response = try #require(try await RawClient.send(request, port: harness.proxyPort).first)
                guard response.status == 200 else {
                    refusal = response
                    break
                }
                accepted += 1
            }
            #expect(refusal?.status == 503)
            #expect(refusal?.json?["error"] as? String == "store_full")
            // A replay entry is small (about 330 bytes charged): a few hundred fit in 64 KiB.
            #expect(accepted > 100 && accepted < 400)
            #expect(harness.upstream.requests.count == accepted)
            // Ids already seen are still refused as replays, not as a full store.
            let replayed = try #require(
                try await RawClient.send(
                    RawClient.request("POST", "/hook", headers: [("webhook-id", "delivery-0")], body: "{}"), port: harness.proxyPort
                ).first
            )
            #expect(replayed.status == 409)
            #expect(replayed.json?["error"] as? String == "replay_detected")
            let metrics = try await harness.metrics()
            #expect(TestSupport.metricValue(metrics, #"palisade_store_refusals_total{reason="store_full"}"#) == 1)
        }
    }

    @Test("signed replay ids (hmac first) are not held to the per-client cap; unsigned ones are")
    func signedIDsSkipClientCap() async throws {
        let secret = "store-cap-signature-secret"
        let yaml = """
            version: 1
            listen: 127.0.0.1:0
            upstream: { url: "{{UPSTREAM}}" }
            store: { max_entries_per_client: 2 }
            secrets:
              gh: { value: "\(secret)" }
            routes:
              - name: signed
                match: { path: /gh }
                guards:
                  - hmac: { preset: github, secret: gh }
                  - replay: { id: signature, ttl: 1h }
              - name: unsigned
                match: { path: /plain }
                guards:
                  - replay: { id: "header:webhook-id", ttl: 1h }
            default: deny
            """
        try await ProxyHarness.with(yaml: yaml) { harness in
            // A sender delivering from one address: more deliveries than the cap, all accepted.
            for index in 0..<4 {
                let body = #"{"delivery":\#(index)}"#
                let headers = try PythonSigner.sign(.init(preset: "github", secret: secret, body: body, timestamp: 0))
                let request = RawClient.request("POST", "/gh", headers: headers, body: body)
                #expect(try await RawClient.send(request, port: harness.proxyPort).first?.status == 200)
            }
            // Ids anyone can make are capped per client.
            var statuses: [Int] = []
            for index in 0..<3 {
                let request = RawClient.request("POST", "/plain", headers: [("webhook-id", "plain-\(index)")], body: "{}")
                statuses.append(try #require(try await RawClient.send(request, port: harness.proxyPort).first).status)
            }
            #expect(statuses == [200, 200, 429])
            #expect(harness.upstream.requests.count == 6)
        }
    }
}
