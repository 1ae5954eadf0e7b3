import Foundation
import NIOPosix
import PalisadeCore
import PalisadeTesting
import Testing

/// Reloading the policy while serving: a good file takes effect, a bad one is refused with its
/// diagnostics while the policy in force keeps serving, and the file is watched by itself.
@Suite("Policy reload", .serialized)
struct ReloadTests {
    static func policy(extraRoute: String = "", drain: String = "2s") -> String {
        ProxyHarness.policy(
            drainTimeout: drain,
            """
            routes:
              - name: api
                match: { prefix: /api/ }
            \(extraRoute)
            default: deny
            """
        )
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
            let line = try await harness.accessLine { $0["path"] as? String == "/slow" }
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
            // The service fingerprinted the file as it was made, so the change below cannot be missed.

            try harness.writePolicy(Self.policy(extraRoute: Self.newRoute))
            // A generous deadline: on a loaded machine the poll task can wait seconds for a thread.
            let applied = try await TestSupport.eventually(timeout: .seconds(10)) {
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

    // MARK: the file watcher

    /// Runs `PolicyReloadService` (polling every 100 ms) around `body`. The service fingerprints
    /// the files as it is made, so `body` may change them at once.
    static func withWatcher(_ harness: ProxyHarness, _ body: () async throws -> Void) async throws {
        let service = PolicyReloadService(runtime: harness.runtime, path: harness.policyPath, pollInterval: .milliseconds(100))
        let task = Task { try await service.run() }
        defer { task.cancel() }
        try await body()
    }

    static func reloads(_ harness: ProxyHarness) async throws -> (success: Double?, failure: Double?) {
        let metrics = try await harness.metrics()
        return (
            TestSupport.metricValue(metrics, #"palisade_policy_reloads_total{result="success"}"#),
            TestSupport.metricValue(metrics, #"palisade_policy_reloads_total{result="failure"}"#)
        )
    }

    static let apiKey = "pk_live_watcher_0123456789"

    static func apiKeyPolicy(keysPath: String) -> String {
        """
        version: 1
        listen: 127.0.0.1:0
        upstream: { url: "{{UPSTREAM}}" }
        admin: { listen: 127.0.0.1:0 }
        routes:
          - name: api
            match: { prefix: /api/ }
            guards:
              - api_key: { header: x-api-key, keys_file: \(keysPath) }
        default: deny
        """
    }

    @Test("revoking an API key with a same-length edit past byte 80 of the keys file takes effect without SIGHUP")
    func sameLengthKeyRevocation() async throws {
        let keys = """
            keys:
              - id: ci-bot
                sha256: \(try Python.sha256Hex(Self.apiKey))
                state: enabled
            """
        let keysPath = try TemporaryFiles.file(keys, named: "keys.yaml", prefix: "palisade-watch")
        try await ProxyHarness.with(yaml: Self.apiKeyPolicy(keysPath: keysPath)) { harness in
            try await Self.withWatcher(harness) {
                let headers = [("X-API-Key", Self.apiKey)]
                #expect(try await RawClient.get("/api/x", port: harness.proxyPort, headers: headers).status == 200)
                let revoked = keys.replacingOccurrences(of: "state: enabled", with: "state: revoked")
                #expect(revoked.utf8.count == keys.utf8.count)
                #expect(keys.utf8.prefix(80).elementsEqual(revoked.utf8.prefix(80)), "the edit must lie past byte 80")
                try revoked.write(toFile: keysPath, atomically: true, encoding: .utf8)
                let refused = try await TestSupport.eventually(timeout: .seconds(3)) {
                    try await RawClient.get("/api/x", port: harness.proxyPort, headers: headers).status == 401
                }
                #expect(refused, "the revoked key is still accepted")
                #expect(try await Self.reloads(harness).success == 1)
            }
        }
    }

    @Test("a same-length edit of the policy past byte 80 (an ip allow list) takes effect without SIGHUP")
    func sameLengthPolicyEdit() async throws {
        let guarded = Self.policy(
            extraRoute: """
                  - name: office
                    match: { prefix: /office/ }
                    guards:
                      - ip: { allow: [127.0.0.1/32] }
                """)
        try await ProxyHarness.with(yaml: guarded) { harness in
            try await Self.withWatcher(harness) {
                #expect(try await RawClient.get("/office/x", port: harness.proxyPort).status == 200)
                let edited = guarded.replacingOccurrences(of: "127.0.0.1/32", with: "127.0.0.2/32")
                #expect(edited.utf8.count == guarded.utf8.count)
                try harness.writePolicy(edited)
                let denied = try await TestSupport.eventually(timeout: .seconds(3)) {
                    try await RawClient.get("/office/x", port: harness.proxyPort).status == 403
                }
                #expect(denied, "the narrowed allow list did not apply")
                #expect(try await Self.generation(harness) == 2)
            }
        }
    }

    @Test("a watched file that is missing for a while, then back unchanged, causes no reload")
    func unreadableFileIsNoChange() async throws {
        let keys = """
            keys:
              - id: ci-bot
                sha256: \(try Python.sha256Hex(Self.apiKey))
            """
        let keysPath = try TemporaryFiles.file(keys, named: "keys.yaml", prefix: "palisade-watch")
        try await ProxyHarness.with(yaml: Self.apiKeyPolicy(keysPath: keysPath)) { harness in
            try await Self.withWatcher(harness) {
                // As in an editor's or Kubernetes' swap: the file is gone for several ticks.
                for path in [keysPath, harness.policyPath] {
                    try FileManager.default.moveItem(atPath: path, toPath: path + ".away")
                    try await Task.sleep(for: .milliseconds(400))
                    try FileManager.default.moveItem(atPath: path + ".away", toPath: path)
                    try await Task.sleep(for: .milliseconds(400))
                }
                let counts = try await Self.reloads(harness)
                #expect(counts.success == 0, "a missing file was taken for a change")
                #expect(counts.failure == 0, "a missing file was taken for a change")
                #expect(try await Self.generation(harness) == 1)
                #expect(
                    try await RawClient.get("/api/x", port: harness.proxyPort, headers: [("X-API-Key", Self.apiKey)]).status == 200
                )
            }
        }
    }

    @Test(
        "SIGHUP right after an edit reloads once: the watcher does not load the same bytes again",
        .enabled(if: CLITests.binaryExists, CLITests.skipMessage))
    func sighupAfterEditReloadsOnce() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await TestUpstream.start(group: group)
        let path = try CLITests.temporaryFile(CLITests.runPolicy(proxyPort: 0, adminPort: 0, upstreamPort: upstream.port))
        let child = try CLITests.Child(["run", "--config", path, "--threads", "1"])
        defer { child.terminateIfRunning() }
        let ports = try #require(await child.boundPorts(), "no start line; stderr:\n\(child.stderr)")
        let proxyPort = ports.proxy
        let adminPort = try #require(ports.admin)
        func generation() async -> Int? {
            (try? await RawClient.get("/readyz", port: adminPort))?.json?["policy_generation"] as? Int
        }
        let ready = await TestSupport.eventually(timeout: .seconds(10)) { await generation() == 1 }
        try #require(ready, "palisade run never became ready; stderr:\n\(child.stderr)")
        try #require(await child.trapsSIGHUP(), "SIGHUP never trapped; stderr:\n\(child.stderr)")

        try CLITests.runPolicy(
            proxyPort: 0, adminPort: 0, upstreamPort: upstream.port,
            extraRoute: "  - name: new\n    match: { prefix: /new/ }"
        ).write(toFile: path, atomically: true, encoding: .utf8)
        child.signal(SIGHUP)
        let reloaded = await TestSupport.eventually(timeout: .seconds(3)) { (await generation() ?? 0) >= 2 }
        #expect(reloaded, "SIGHUP did not reload; stderr:\n\(child.stderr)")
        // Two more poll ticks (one a second) must find nothing new.
        try await Task.sleep(for: .milliseconds(2500))
        let log = child.stderr
        let signalLine = try #require(log.range(of: "SIGHUP received"))
        #expect(!log[signalLine.upperBound...].contains("policy or keys file changed"), "reloaded twice:\n\(log)")
        // Only if a tick happened to fall between the write and the signal may there be two reloads.
        let tickFirst = log[..<signalLine.lowerBound].contains("policy or keys file changed")
        #expect(await generation() == (tickFirst ? 3 : 2), "stderr:\n\(log)")
        #expect((try? await RawClient.get("/new/x", port: proxyPort))?.status == 200)

        child.signal(SIGTERM)
        _ = await child.finished(within: .seconds(6))
        await upstream.stop()
        try await group.shutdownGracefully()
    }
}

/// Set once, read from anywhere.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
