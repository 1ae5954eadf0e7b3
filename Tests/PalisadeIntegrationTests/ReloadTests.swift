import Foundation
import PalisadeCore
import PalisadeTesting
import Testing

/// Reloading the policy while serving: a good file takes effect, a bad one is refused with its
/// diagnostics while the policy in force keeps serving, and the file is watched by itself.
@Suite("Policy reload", .serialized)
struct ReloadTests {
    static func policy(extraRoute: String = "", drain: String = "2s") -> String {
        """
        version: 1
        listen: 127.0.0.1:0
        upstream:
          url: {{UPSTREAM}}
          connect_timeout: 1s
          response_timeout: 2s
        admin:
          listen: 127.0.0.1:0
        drain_timeout: \(drain)
        routes:
          - name: api
            match: { prefix: /api/ }
        \(extraRoute)
        default: deny
        """
    }

    static let newRoute = """
          - name: new
            match: { prefix: /new/ }
        """

    static func generation(_ harness: ProxyHarness) async throws -> Int? {
        try await RawClient.get("/readyz", port: try #require(harness.adminPort)).json?["policy_generation"] as? Int
    }

    @Test("a rewritten policy applied by reload serves its new routes")
    func reloadApplies() async throws {
        try await ProxyHarness.with(yaml: Self.policy()) { harness in
            #expect(try await RawClient.get("/new/x", port: harness.proxyPort).status == 404)
            try harness.writePolicy(Self.policy(extraRoute: Self.newRoute))
            let result = harness.runtime.reload(path: harness.policyPath)
            guard case .success(let plan) = result else {
                Issue.record("reload refused: \(result)")
                return
            }
            #expect(plan.generation == 2)
            #expect(plan.routes.routes.map(\.name) == ["api", "new"])
            #expect(harness.runtime.currentPlan.generation == 2)
            let served = try await TestSupport.eventually {
                try await RawClient.get("/new/x", port: harness.proxyPort).status == 200
            }
            #expect(served, "the new route never served")
            #expect(harness.upstream.requests.map(\.path).contains("/new/x"))
            #expect(try await RawClient.get("/api/x", port: harness.proxyPort).status == 200)
            #expect(try await Self.generation(harness) == 2)
            let metrics = try await harness.metrics()
            #expect(TestSupport.metricValue(metrics, #"palisade_policy_reloads_total{result="success"}"#) == 1)
            #expect(TestSupport.metricValue(metrics, #"palisade_policy_reloads_total{result="failure"}"#) == 0)
            #expect(TestSupport.metricValue(metrics, "palisade_policy_generation") == 2)
        }
    }

    @Test("removing a route by reload stops serving it")
    func reloadRemoves() async throws {
        try await ProxyHarness.with(yaml: Self.policy(extraRoute: Self.newRoute)) { harness in
            #expect(try await RawClient.get("/new/x", port: harness.proxyPort).status == 200)
            try harness.writePolicy(Self.policy())
            guard case .success = harness.runtime.reload(path: harness.policyPath) else {
                Issue.record("reload refused")
                return
            }
            let gone = try await TestSupport.eventually {
                try await RawClient.get("/new/y", port: harness.proxyPort).status == 404
            }
            #expect(gone)
            #expect(!harness.upstream.requests.map(\.path).contains("/new/y"))
        }
    }

    @Test("an invalid file is refused with diagnostics; the policy in force keeps serving")
    func invalidRefused() async throws {
        try await ProxyHarness.with(yaml: Self.policy()) { harness in
            let broken = Self.policy(extraRoute: Self.newRoute)
                .replacingOccurrences(of: "connect_timeout: 1s", with: "connect_timeout: 30")
            try harness.writePolicy(broken)
            let result = harness.runtime.reload(path: harness.policyPath)
            guard case .failure(let error) = result else {
                Issue.record("an invalid policy was applied")
                return
            }
            let diagnostic = try #require(error.diagnostics.first { $0.severity == .error })
            #expect(diagnostic.file == harness.policyPath)
            #expect(diagnostic.position.keyPath == "upstream.connect_timeout")
            #expect(diagnostic.position.line == 5)
            #expect(diagnostic.message.contains("'30' is not a duration"))

            #expect(harness.runtime.currentPlan.generation == 1)
            #expect(try await RawClient.get("/api/x", port: harness.proxyPort).status == 200)
            #expect(try await RawClient.get("/new/x", port: harness.proxyPort).status == 404, "nothing of the bad file applies")
            #expect(try await Self.generation(harness) == 1)
            let metrics = try await harness.metrics()
            #expect(TestSupport.metricValue(metrics, #"palisade_policy_reloads_total{result="failure"}"#) == 1)
            #expect(TestSupport.metricValue(metrics, #"palisade_policy_reloads_total{result="success"}"#) == 0)

            // A file that vanished is refused the same way.
            try FileManager.default.removeItem(atPath: harness.policyPath)
            guard case .failure = harness.runtime.reload(path: harness.policyPath) else {
                Issue.record("a missing file was applied")
                return
            }
            #expect(TestSupport.metricValue(try await harness.metrics(), #"palisade_policy_reloads_total{result="failure"}"#) == 2)
            #expect(try await RawClient.get("/api/y", port: harness.proxyPort).status == 200)
        }
    }

    @Test("a request in flight during a reload finishes under the plan it started with")
    func inFlightKeepsPlan() async throws {
        let slowRoute = """
              - name: slow
                match: { path: /slow }
            """
        try await ProxyHarness.with(yaml: Self.policy(extraRoute: slowRoute)) { harness in
            async let slow = RawClient.get("/slow?ms=500", port: harness.proxyPort)
            let inFlight = await TestSupport.eventually { harness.upstream.requests.contains { $0.path == "/slow" } }
            #expect(inFlight)
            // The new policy no longer has the route the request was admitted by.
            try harness.writePolicy(Self.policy())
            guard case .success = harness.runtime.reload(path: harness.policyPath) else {
                Issue.record("reload refused")
                return
            }
            let response = try await slow
            #expect(response.status == 200)
            #expect(response.bodyText == #"{"slow":true}"#)
            let line = try #require(try await harness.accessLines().first { $0["path"] as? String == "/slow" })
            #expect(line["route"] as? String == "slow")
            #expect(line["status"] as? Int == 200)
            let removed = try await TestSupport.eventually {
                try await RawClient.get("/slow?ms=1", port: harness.proxyPort).status == 404
            }
            #expect(removed)
        }
    }

    @Test("PolicyReloadService applies a changed file by itself")
    func reloadServiceWatchesFile() async throws {
        try await ProxyHarness.with(yaml: Self.policy()) { harness in
            let service = PolicyReloadService(runtime: harness.runtime, path: harness.policyPath, pollInterval: .milliseconds(100))
            let task = Task { try await service.run() }
            // The service takes the file's fingerprint as it starts; change the file only after that.
            try await Task.sleep(for: .milliseconds(300))

            try harness.writePolicy(Self.policy(extraRoute: Self.newRoute))
            let applied = try await TestSupport.eventually(timeout: .seconds(3)) {
                try await Self.generation(harness) == 2
            }
            #expect(applied, "the changed file was not picked up")
            #expect(try await RawClient.get("/new/x", port: harness.proxyPort).status == 200)

            // Rewriting the same bytes is no change.
            try harness.writePolicy(Self.policy(extraRoute: Self.newRoute))
            try await Task.sleep(for: .milliseconds(400))
            #expect(try await Self.generation(harness) == 2)

            // A broken file is refused and counted; the policy in force stays.
            try harness.writePolicy(Self.policy().replacingOccurrences(of: "version: 1", with: "version: 9"))
            let refused = try await TestSupport.eventually(timeout: .seconds(3)) {
                TestSupport.metricValue(try await harness.metrics(), #"palisade_policy_reloads_total{result="failure"}"#) == 1
            }
            #expect(refused)
            #expect(try await Self.generation(harness) == 2)
            #expect(try await RawClient.get("/new/x", port: harness.proxyPort).status == 200)

            // The service ends when its task is cancelled.
            task.cancel()
            let finished = Flag()
            Task {
                _ = try? await task.value
                finished.set()
            }
            let stopped = await TestSupport.eventually(timeout: .seconds(2)) { finished.isSet }
            #expect(stopped, "PolicyReloadService did not return after cancellation")
        }
    }
}

/// Set once, read from anywhere.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
