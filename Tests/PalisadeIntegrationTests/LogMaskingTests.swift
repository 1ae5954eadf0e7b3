import Foundation
import PalisadeCore
import PalisadeTesting
import Testing

/// Personal data through the real proxy: requests carry each class the masker knows in the path,
/// the query and logged headers; the access lines and security events must hold none of it in
/// clear, while the look-alikes (order ids, timestamps, UUIDs, amounts) stay readable.
@Suite("Log masking and security events", .serialized)
struct LogMaskingTests {
    static let policy = ProxyHarness.policy(
        """
        log:
          access: stdout
          headers: [user-agent, x-customer, x-session-token, referer]
        routes:
          - name: app
            match: { prefix: /app/ }
          - name: private
            match: { prefix: /private/ }
            guards:
              - ip: { allow: [10.0.0.0/8] }
        default: deny
        """
    )

    /// Values that must never appear in clear, and where each was sent.
    static let personal: [String] = [
        "alice.smith@example.com", "4111111111111111", "4111 1111 1111 1111", "5555-5555-5555-4444", "+14155552671",
        "(415) 555-2671", "GB82WEST12345698765432", "GB82 WEST 1234 5698 7654 32", "123-45-6789",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl", "sk_live_51HxYzAbCdEfGhIjKlMn", "hunter2secret",
        "s3ss10nT0ken",
    ]

    /// Look-alikes that must survive as sent.
    static let readable: [String] = [
        "ORD-2024-000123", "2026-12-07T15:58:07Z", "123e4567-e89b-12d3-a456-426614174000", "1234.56", "1733587087",
    ]

    @Test("path, query and logged headers carrying each class are masked; look-alikes stay readable")
    func masksEveryPlace() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let path =
                "/app/users/alice.smith@example.com/cards/4111111111111111/orders/ORD-2024-000123"
                + "?email=alice.smith%40example.com&phone=%2B14155552671&iban=GB82WEST12345698765432&password=hunter2secret"
                + "&at=2026-12-07T15:58:07Z&id=123e4567-e89b-12d3-a456-426614174000&amount=1234.56&epoch=1733587087"
            let headers: [(String, String)] = [
                ("User-Agent", "curl/8 (contact: alice.smith@example.com; card 4111 1111 1111 1111)"),
                ("X-Customer", "ssn 123-45-6789 phone (415) 555-2671 iban GB82 WEST 1234 5698 7654 32 card 5555-5555-5555-4444"),
                ("X-Session-Token", "s3ss10nT0ken"),
                (
                    "Referer",
                    "https://shop.example/cb?jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl&key=sk_live_51HxYzAbCdEfGhIjKlMn"
                ),
            ]
            let response = try await RawClient.get(path, port: harness.proxyPort, headers: headers)
            #expect(response.status == 200)
            // The app still gets everything as sent: masking is for the log only.
            #expect(harness.upstream.requests.last?.head.uri == path)
            let text = await harness.accessLogText()
            for value in Self.personal {
                #expect(!text.contains(value), "'\(value)' appears in the access log: \(text)")
            }
            let line = try #require(await harness.accessLines().first)
            let loggedPath = try #require(line["path"] as? String)
            #expect(loggedPath == "/app/users/***@example.com/cards/****1111/orders/ORD-2024-000123", "\(loggedPath)")
            let query = try #require(line["query"] as? String)
            #expect(query.contains("password=[masked]"), "\(query)")
            for value in Self.readable {
                #expect(query.contains(value) || loggedPath.contains(value), "look-alike '\(value)' lost: \(query)")
            }
            let logged = try #require(line["headers"] as? [String: String])
            #expect(logged["x-session-token"] == "[masked]")
            #expect(logged["user-agent"]?.contains("***@example.com") == true)
            #expect(logged["x-customer"]?.contains("[ssn]") == true)
            #expect(logged["x-customer"]?.contains("****4444") == true)
            #expect(logged["referer"] == "https://shop.example/cb?jwt=[masked]&key=[masked]")
        }
    }

    @Test("a refusal is a security event: route, guard, reason, the client's network and the request id; no credential, no PII")
    func refusalEvent() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let refused = try await RawClient.get(
                "/private/alice.smith@example.com", port: harness.proxyPort,
                headers: [("X-Api-Key", "wrong-key-4111111111111111"), ("X-Request-ID", "req-abc-123")])
            #expect(refused.status == 403)
            let admitted = try await RawClient.get("/app/ok", port: harness.proxyPort)
            #expect(admitted.status == 200)
            let events = await harness.securityEvents()
            #expect(events.count == 1, "\(events)")
            let event = try #require(events.first)
            #expect(event["event"] as? String == "refusal")
            #expect(event["route"] as? String == "private")
            #expect(event["guard"] as? String == "ip")
            #expect((event["reason"] as? String)?.isEmpty == false)
            #expect(event["client"] as? String == "127.0.0.0/24")
            #expect(event["request_id"] as? String == "req-abc-123")
            let text = await harness.accessLogText()
            for value in ["alice.smith@example.com", "wrong-key-4111111111111111", "4111111111111111"] {
                #expect(!text.contains(value), "'\(value)' appears in the log")
            }
            let metrics = try await RawClient.get("/metrics", port: try #require(harness.adminPort)).bodyText
            #expect(TestSupport.metricValue(metrics, #"palisade_security_events_total{type="refusal"}"#) == 1)
        }
    }

    @Test("a reload is a security event with the new policy's digest; a refused one too")
    func reloadEvent() async throws {
        try await ProxyHarness.with(yaml: Self.policy) { harness in
            let changed = Self.policy + "\n# edited\n"
            try harness.writePolicy(changed)
            guard case .success = harness.runtime.reload(path: harness.policyPath) else {
                Issue.record("reload failed")
                return
            }
            let applied = try String(contentsOfFile: harness.policyPath, encoding: .utf8)
            try harness.writePolicy("routes: [")
            guard case .failure = harness.runtime.reload(path: harness.policyPath) else {
                Issue.record("a broken policy was applied")
                return
            }
            let events = await harness.securityEvents().filter { $0["event"] as? String == "policy_reload" }
            #expect(events.count == 2, "\(events)")
            let digest = try Python.sha256Hex(applied)
            #expect(events.first?["digest"] as? String == digest)
            #expect(events.first?["reason"] as? String == "applied")
            #expect(events.last?["reason"] as? String == "refused")
        }
    }

    static let bodyPolicy = ProxyHarness.policy(
        """
        log:
          access: stdout
          body: { max_bytes: 512, fields: [tax_id, "$.payer.document"] }
        routes:
          - name: quiet
            match: { prefix: /quiet/ }
            log: { body: false }
          - name: app
            match: { prefix: /app/ }
        default: deny
        """
    )

    @Test("log.body: JSON and form bodies of requests and answers are masked by value, by field name and by path; a route can opt out")
    func masksBodies() async throws {
        try await ProxyHarness.with(yaml: Self.bodyPolicy) { harness in
            let json = """
                {"order_id":"ORD-2024-000123","amount":1234.56,"email":"alice.smith@example.com","tax_id":"DE123456789",
                 "payer":{"document":"X1234567","name":"Alice"},"card":{"number":"4111 1111 1111 1111"},"password":"hunter2secret",
                 "created":"2026-12-07T15:58:07Z","id":"123e4567-e89b-12d3-a456-426614174000"}
                """
            let posted = try await RawClient.get(
                "/app/pay", port: harness.proxyPort, headers: [("Content-Type", "application/json")], method: "POST", body: json)
            #expect(posted.status == 200)
            let form = "email=alice.smith%40example.com&tax_id=DE123456789&iban=GB82WEST12345698765432&note=ORD-2024-000123"
            let formPosted = try await RawClient.get(
                "/app/form", port: harness.proxyPort, headers: [("Content-Type", "application/x-www-form-urlencoded")], method: "POST",
                body: form)
            #expect(formPosted.status == 200)
            let quiet = try await RawClient.get(
                "/quiet/x", port: harness.proxyPort, headers: [("Content-Type", "application/json")], method: "POST", body: json)
            #expect(quiet.status == 200)
            let long = "{\"note\":\"" + String(repeating: "x", count: 500) + " alice.smith@example.com\"}"
            let truncated = try await RawClient.get(
                "/app/long", port: harness.proxyPort, headers: [("Content-Type", "application/json")], method: "POST", body: long)
            #expect(truncated.status == 200)

            let text = await harness.accessLogText()
            for value in ["alice.smith", "DE123456789", "X1234567", "4111 1111 1111 1111", "hunter2secret", "GB82WEST12345698765432"] {
                #expect(!text.contains(value), "'\(value)' appears in the log")
            }
            let lines = await harness.accessLines()
            let pay = try #require(lines.first { $0["path"] as? String == "/app/pay" })
            let body = try #require(pay["request_body"] as? String)
            let parsed = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any], "\(body)")
            #expect(parsed["order_id"] as? String == "ORD-2024-000123")
            #expect(parsed["amount"] as? Double == 1234.56)
            #expect(parsed["email"] as? String == "***@example.com")
            #expect(parsed["tax_id"] as? String == "[masked]")
            #expect((parsed["payer"] as? [String: Any])?["document"] as? String == "[masked]")
            #expect((parsed["payer"] as? [String: Any])?["name"] as? String == "Alice")
            #expect((parsed["card"] as? [String: Any])?["number"] as? String == "****1111")
            #expect(parsed["password"] as? String == "[masked]")
            #expect(parsed["created"] as? String == "2026-12-07T15:58:07Z")
            #expect(parsed["id"] as? String == "123e4567-e89b-12d3-a456-426614174000")
            // The app's JSON answer is logged too (the test app echoes method, uri and length).
            #expect((pay["response_body"] as? String)?.contains("/app/pay") == true)
            let formLine = try #require(lines.first { $0["path"] as? String == "/app/form" })
            let formBody = try #require(formLine["request_body"] as? String)
            #expect(formBody.contains("tax_id=[masked]") || formBody.contains("tax_id=%5Bmasked%5D"), "\(formBody)")
            #expect(formBody.contains("note=ORD-2024-000123"), "\(formBody)")
            let quietLine = try #require(lines.first { $0["path"] as? String == "/quiet/x" })
            #expect(quietLine["request_body"] == nil)
            let longLine = try #require(lines.first { $0["path"] as? String == "/app/long" })
            #expect(longLine["request_body_truncated"] as? Bool == true)
            #expect((longLine["request_body"] as? String).map { $0.utf8.count <= 600 } == true)
        }
    }
}
