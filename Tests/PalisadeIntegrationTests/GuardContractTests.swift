import Foundation
import NIOConcurrencyHelpers
import NIOHTTP1
import PalisadeCore
import PalisadeTesting
import Testing

/// A guard written only against the `Guard` contract, as a rate-limit guard will be, plugged
/// in through `PlanExtensions` without any change to the exchange code: it keys a per-loop quota
/// on the principal the api_key guard established, adds a response header to the app's answer
/// and to its own refusal, and, as an admit guard, sees the completion of every exchange,
/// protocol errors, unrouted requests and the app's own 401s included.
@Suite("Guard contract", .serialized)
struct GuardContractTests {
    /// What a completion hook saw, for the assertions.
    struct Seen: Sendable, Equatable {
        var outcome: ExchangeOutcome
        var key: String
        var path: String
    }

    final class Recorder: Sendable {
        private let box = NIOLockedValueBox<[Seen]>([])
        func add(_ seen: Seen) { box.withLockedValue { $0.append(seen) } }
        var all: [Seen] { box.withLockedValue { $0 } }
    }

    /// Allows `limit` requests per principal key (API key id, else client address) on each loop.
    struct QuotaGuard: Guard {
        var kind: String { "test_quota" }
        let limit: Int
        let recorder: Recorder
        /// Identity of this guard's per-loop table.
        let owner = Owner()
        final class Owner: Sendable {}
        final class Table { var used: [String: Int] = [:] }

        var loopSlotOwners: [AnyObject] { [owner] }
        var observesCompletion: Bool { true }

        static func key(_ principal: Principal) -> String {
            principal.apiKeyID.map { "key:\($0)" } ?? "ip:\(principal.clientIP)"
        }

        func check(_ request: GuardRequest) -> GuardDecision {
            let table = request.loopSlot(owner: owner) { Table() }
            let key = Self.key(request.principal)
            let used = table.used[key, default: 0]
            guard used < limit else {
                request.addResponseHeader("x-quota-remaining", "0")
                return .reject(RejectionCode("quota_exhausted", status: .tooManyRequests, headers: [("retry-after", "60")]))
            }
            table.used[key] = used + 1
            request.addResponseHeader("x-quota-remaining", String(limit - used - 1))
            return .allow
        }

        func completed(_ request: GuardRequest, outcome: ExchangeOutcome) {
            recorder.add(Seen(outcome: outcome, key: Self.key(request.principal), path: String(request.path)))
        }
    }

    /// Sees every exchange's completion and refuses nothing.
    struct ObserverGuard: Guard {
        var kind: String { "test_observer" }
        let recorder: Recorder
        var observesCompletion: Bool { true }
        func check(_ request: GuardRequest) -> GuardDecision { .allow }
        func completed(_ request: GuardRequest, outcome: ExchangeOutcome) {
            recorder.add(Seen(outcome: outcome, key: QuotaGuard.key(request.principal), path: String(request.path)))
        }
    }

    static let keyA = "pk_contract_aaaaaaaaaaaa"
    static let keyB = "pk_contract_bbbbbbbbbbbb"

    static func policy() throws -> String {
        let keysFile = """
            keys:
              - id: team-a
                sha256: \(try Python.sha256Hex(keyA))
              - id: team-b
                sha256: \(try Python.sha256Hex(keyB))
            """
        let keysPath = try TemporaryFiles.file(keysFile, named: "keys.yaml", prefix: "palisade-contract")
        return """
            version: 1
            listen: 127.0.0.1:0
            upstream: { url: "{{UPSTREAM}}" }
            admin: { listen: 127.0.0.1:0 }
            routes:
              - name: keyed
                match: { prefix: /keyed/ }
                guards:
                  - api_key: { header: x-api-key, keys_file: \(keysPath) }
              - name: open
                match: { prefix: /open/ }
              - name: login
                match: { prefix: /status/ }
            default: deny
            """
    }

    @Test("a guard keyed on the principal limits per API key, edits answers, and sees every completion")
    func quotaGuardThroughTheRealProxy() async throws {
        let routeRecorder = Recorder()
        let admitRecorder = Recorder()
        let extensions = PlanExtensions(
            admitGuards: [ObserverGuard(recorder: admitRecorder)],
            routeGuards: ["keyed": [QuotaGuard(limit: 2, recorder: routeRecorder)]]
        )
        try await ProxyHarness.with(yaml: try Self.policy(), extensions: extensions) { harness in
            let port = harness.proxyPort
            func keyed(_ key: String?, _ path: String = "/keyed/orders") async throws -> WireResponse {
                try await RawClient.get(path, port: port, headers: key.map { [("X-API-Key", $0)] } ?? [])
            }
            // Two allowed for team-a, each answer carrying what is left; the third refused with
            // the guard's code, Retry-After and the same header, and never forwarded.
            let first = try await keyed(Self.keyA)
            let second = try await keyed(Self.keyA)
            let third = try await keyed(Self.keyA)
            #expect(first.status == 200)
            #expect(first.header("x-quota-remaining") == "1")
            #expect(second.status == 200)
            #expect(second.header("x-quota-remaining") == "0")
            #expect(third.status == 429)
            #expect(third.json?["error"] as? String == "quota_exhausted")
            #expect(third.header("retry-after") == "60")
            #expect(third.header("x-quota-remaining") == "0")
            #expect(harness.upstream.requests.filter { $0.path == "/keyed/orders" }.count == 2)

            // Keyed on the API key the api_key guard accepted, not on the address both share.
            let otherTeam = try await keyed(Self.keyB)
            #expect(otherTeam.status == 200)
            #expect(otherTeam.header("x-quota-remaining") == "1")

            // The app's own 401 (a failed login), a refusal by the api_key guard, an unrouted
            // request and a malformed one.
            let appRefused = try await RawClient.get("/status/401", port: port)
            #expect(appRefused.status == 401)
            let noKey = try await keyed(nil)
            #expect(noKey.status == 401)
            #expect(noKey.json?["error"] as? String == "api_key_missing")
            let unrouted = try await RawClient.get("/nowhere", port: port)
            #expect(unrouted.status == 404)
            let malformed = try await RawClient.send("GET /open/x HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n", port: port)
            #expect(malformed.first?.status == 400)

            let completed = await TestSupport.eventually { admitRecorder.all.count >= 8 }
            #expect(completed, "the admit guard saw \(admitRecorder.all.count) completions")
            let admitSeen = admitRecorder.all
            #expect(admitSeen.count == 8)

            let quotaRefusal = try #require(admitSeen.first { $0.outcome.status == 429 })
            #expect(quotaRefusal.outcome.refusingGuard == "test_quota")
            #expect(quotaRefusal.outcome.answeredBy == .palisade)
            #expect(quotaRefusal.outcome.routeName == "keyed")
            #expect(quotaRefusal.key == "key:team-a")

            let app401 = try #require(admitSeen.first { $0.path == "/status/401" })
            #expect(app401.outcome.status == 401)
            #expect(app401.outcome.answeredBy == .app)
            #expect(app401.outcome.refusingGuard == nil)
            #expect(app401.outcome.routeName == "login")

            let keyMissing = try #require(admitSeen.first { $0.outcome.error == "api_key_missing" })
            #expect(keyMissing.outcome.refusingGuard == "api_key")
            #expect(keyMissing.outcome.status == 401)
            #expect(keyMissing.key == "ip:127.0.0.1")

            let noRoute = try #require(admitSeen.first { $0.path == "/nowhere" })
            #expect(noRoute.outcome.routeName == nil)
            #expect(noRoute.outcome.error == "no_route")
            #expect(noRoute.outcome.status == 404)

            let protocolError = try #require(admitSeen.first { !$0.outcome.requestParsed })
            #expect(protocolError.outcome.status == 400)
            #expect(protocolError.outcome.answeredBy == .palisade)
            #expect(protocolError.outcome.routeName == nil)

            // The route guard sees its own route's exchanges only, the refusal before it ran included.
            let routeSeen = routeRecorder.all
            #expect(routeSeen.count == 5)
            #expect(routeSeen.allSatisfy { $0.outcome.routeName == "keyed" })
            #expect(routeSeen.contains { $0.outcome.error == "api_key_missing" })
        }
    }

    @Test("a reload keeps the embedding program's guards, and their per-loop state with them")
    func extensionsSurviveAReload() async throws {
        let recorder = Recorder()
        let extensions = PlanExtensions(routeGuards: ["open": [QuotaGuard(limit: 1, recorder: recorder)]])
        try await ProxyHarness.with(yaml: try Self.policy(), extensions: extensions) { harness in
            #expect(try await RawClient.get("/open/a", port: harness.proxyPort).status == 200)
            try harness.writePolicy(try Self.policy())
            guard case .success = harness.runtime.reload(path: harness.policyPath) else {
                Issue.record("reload failed")
                return
            }
            // The same guard is in the new plan, so its per-loop table (owned by it) is kept.
            let after = try await RawClient.get("/open/b", port: harness.proxyPort)
            #expect(after.status == 429)
            #expect(after.json?["error"] as? String == "quota_exhausted")
        }
    }
}
