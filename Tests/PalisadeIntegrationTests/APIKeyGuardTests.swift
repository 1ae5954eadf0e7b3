import Foundation
import PalisadeCore
import PalisadeTesting
import Testing

/// The api_key guard through the real proxy: keys kept as SHA-256 hashes (made here with
/// Python's hashlib), the key id forwarded to the app, the key itself neither forwarded nor logged.
@Suite("API key guard", .serialized)
struct APIKeyGuardTests {
    static func sha256(_ text: String) throws -> String { try Python.sha256Hex(text) }

    static let goodKey = "pk_live_4f0c2b8e9a71d3c5"
    static let revokedKey = "pk_live_revoked_000111"
    static let expiredKey = "pk_live_expired_999888"

    static func withHarness(_ body: (ProxyHarness, String) async throws -> Void) async throws {
        let keysFile = """
            keys:
              - id: ci-bot
                sha256: \(try sha256(goodKey))
                state: enabled
              - id: old-laptop
                sha256: \(try sha256(revokedKey))
                state: revoked
              - id: trial
                sha256: \(try sha256(expiredKey))
                expires: 2020-01-01T00:00:00Z
            """
        let keysPath = try TemporaryFiles.file(keysFile, named: "keys.yaml", prefix: "palisade-keys")
        let yaml = """
            version: 1
            listen: 127.0.0.1:0
            upstream: { url: "{{UPSTREAM}}" }
            admin: { listen: 127.0.0.1:0 }
            log: { headers: [user-agent] }
            routes:
              - name: api
                match: { prefix: /api/ }
                guards:
                  - api_key: { header: x-api-key, keys_file: \(keysPath) }
            default: deny
            """
        try await ProxyHarness.with(yaml: yaml) { harness in try await body(harness, keysPath) }
    }

    static func get(_ key: String?, port: Int, extra: [(String, String)] = []) async throws -> WireResponse {
        var headers = extra
        if let key { headers.append(("X-API-Key", key)) }
        return try await RawClient.get("/api/orders", port: port, headers: headers)
    }

    @Test("a valid key passes; the app gets the key id, not the key, and a client-sent id is replaced")
    func validKey() async throws {
        try await Self.withHarness { harness, _ in
            let response = try await Self.get(Self.goodKey, port: harness.proxyPort, extra: [("X-API-Key-Id", "admin")])
            #expect(response.status == 200)
            let seen = try #require(harness.upstream.requests.first).head.headers
            #expect(seen["x-api-key-id"] == ["ci-bot"])
            #expect(seen["x-api-key"].isEmpty)
            let lines = await harness.accessLines()
            #expect((lines.first?["guards"] as? [[String: Any]])?.first?["detail"] as? String == "key=ci-bot")
            #expect(!(await harness.accessLogText()).contains(Self.goodKey))
        }
    }

    @Test("the key id stays out of metric labels: its decision counts under an empty detail")
    func keyIDNotALabel() async throws {
        try await Self.withHarness { harness, _ in
            #expect(try await Self.get(Self.goodKey, port: harness.proxyPort).status == 200)
            #expect(try await Self.get(Self.revokedKey, port: harness.proxyPort).status == 401)
            let metrics = try await harness.metrics()
            for id in ["ci-bot", "old-laptop"] { #expect(!metrics.contains(id), "\(id) is in /metrics") }
            #expect(
                TestSupport.metricValue(metrics, #"palisade_guard_decisions_total{route="api",guard="api_key",outcome="ok",detail=""}"#)
                    == 1)
            #expect(
                TestSupport.metricValue(
                    metrics, #"palisade_guard_decisions_total{route="api",guard="api_key",outcome="api_key_invalid",detail=""}"#) == 1)
        }
    }

    @Test("missing, unknown, revoked and expired keys get 401 and never reach the app")
    func refusals() async throws {
        try await Self.withHarness { harness, _ in
            let missing = try await Self.get(nil, port: harness.proxyPort)
            #expect(missing.status == 401)
            #expect(missing.json?["error"] as? String == "api_key_missing")
            for key in ["pk_live_guess", Self.revokedKey, Self.expiredKey, Self.goodKey + "x"] {
                let refused = try await Self.get(key, port: harness.proxyPort)
                #expect(refused.status == 401, "\(key)")
                #expect(refused.json?["error"] as? String == "api_key_invalid")
            }
            #expect(harness.upstream.requests.isEmpty)
            let logged = await harness.accessLogText()
            for key in [Self.revokedKey, Self.expiredKey] { #expect(!logged.contains(key)) }
        }
    }

    @Test("the keys file reloads with the policy; a broken keys file keeps the old plan")
    func reload() async throws {
        try await Self.withHarness { harness, keysPath in
            let newKey = "pk_live_rotated_2026"
            try "keys:\n  - id: rotated\n    sha256: \(try Self.sha256(newKey))\n".write(
                toFile: keysPath, atomically: true, encoding: .utf8)
            if case .failure(let error) = harness.runtime.reload(path: harness.policyPath) { Issue.record("\(error)") }
            #expect(try await Self.get(newKey, port: harness.proxyPort).status == 200)
            #expect(try await Self.get(Self.goodKey, port: harness.proxyPort).status == 401)
            try "keys:\n  - id: broken\n    sha256: nothex\n".write(toFile: keysPath, atomically: true, encoding: .utf8)
            guard case .failure(let error) = harness.runtime.reload(path: harness.policyPath) else {
                Issue.record("a broken keys file was accepted")
                return
            }
            #expect(error.diagnostics.contains { $0.file == keysPath && $0.position.line == 3 })
            #expect(try await Self.get(newKey, port: harness.proxyPort).status == 200)
        }
    }

    @Test("a change of the keys file alone is picked up by the file watcher")
    func keysFileWatched() async throws {
        try await Self.withHarness { harness, keysPath in
            let service = PolicyReloadService(runtime: harness.runtime, path: harness.policyPath, pollInterval: .milliseconds(100))
            let task = Task { try await service.run() }
            defer { task.cancel() }
            // The service fingerprints the keys file when its task first runs, which a loaded
            // machine may delay past a single rewrite; so the file is rewritten (a new comment each
            // time) until a reload carries the new key. Nothing but the watcher reloads here.
            let newKey = "pk_live_watched_key"
            var rewrites = 0
            let picked = try await TestSupport.eventually(timeout: .seconds(6), interval: .milliseconds(300)) {
                rewrites += 1
                try "# rewrite \(rewrites)\nkeys:\n  - id: watched\n    sha256: \(try Self.sha256(newKey))\n".write(
                    toFile: keysPath, atomically: true, encoding: .utf8)
                return try await Self.get(newKey, port: harness.proxyPort).status == 200
            }
            #expect(picked)
        }
    }
}
