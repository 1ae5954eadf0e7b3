import Testing

@testable import PalisadeCore

/// `/metrics` text comes from the family declarations, and guard counters only ever label what the
/// plan declared.
@Suite("Metrics")
struct MetricsTests {
    static func sampleText() -> String {
        let stats = LoopStats()
        let route = RouteStats(
            counters: RouteCounters(),
            guards: [GuardOutcomeCounters(guardKind: "hmac", countedDetails: ["secret=stripe#1", "secret=stripe#2"])])
        route.record(status: 200, durationNanos: 3_000_000)
        route.record(guardNotes: [GuardNote(guardKind: "hmac", outcome: "ok", reportOnly: false, detail: "secret=stripe#2")])
        stats.count(rejection: .noRoute)
        stats.count(upstreamFailure: .connectFailed)
        var snapshot = stats.snapshot()
        snapshot.routes["stripe"] = StatsSnapshot.Route()
        var outcomes: [GuardOutcomeKey: Int] = [:]
        route.guards[0].addCounts(into: &outcomes)
        snapshot.routes["stripe"]!.guardOutcomes = outcomes
        snapshot.routes["stripe"]!.requestsByStatus = [200: 1]
        var process = PrometheusRenderer.ProcessValues()
        process.version = "test"
        // A Redis store's families are written only when the store is networked.
        process.store.backend = StoreBackendStatistics()
        process.jwks = [
            RemoteJWKS.Status(
                url: "https://issuer.example/jwks", loaded: true, keys: 2, ageSeconds: 5, lastError: nil, fetches: 1, successes: 1,
                failures: 0)
        ]
        return PrometheusRenderer.render(snapshot, process: process)
    }

    @Test("every family is written with its declared HELP and TYPE, once, in declaration order")
    func headersFromDeclarations() {
        let lines = Self.sampleText().split(separator: "\n")
        let types = lines.filter { $0.hasPrefix("# TYPE ") }
        #expect(types == MetricFamily.allCases.map { "# TYPE \($0.declaration.name) \($0.declaration.kind.rawValue)" })
        for family in MetricFamily.allCases {
            let declaration = family.declaration
            #expect(lines.contains("# HELP \(declaration.name) \(declaration.help)"[...]))
        }
    }

    @Test("every series carries exactly its family's declared label names, in order")
    func seriesLabelsMatchDeclarations() throws {
        let declarations = MetricFamily.allCases.map(\.declaration)
        for line in Self.sampleText().split(separator: "\n") where !line.hasPrefix("#") {
            let series = line.split(separator: " ")[0]
            let name = series.split(separator: "{")[0]
            let labelNames =
                series.contains("{")
                ? series.split(separator: "{")[1].dropLast().split(separator: ",").map { String($0.split(separator: "=")[0]) } : []
            let family = try #require(
                declarations.first { $0.name == name || ($0.kind == .histogram && name.hasPrefix($0.name + "_")) }, "\(line)")
            let expected = family.labels + (name.hasSuffix("_bucket") ? ["le"] : [])
            #expect(labelNames == expected, "\(line)")
        }
    }

    @Test("a detail the guard did not declare (an API-key id) is counted under an empty detail")
    func undeclaredDetailIsNotALabel() {
        let counters = GuardOutcomeCounters(guardKind: "api_key", countedDetails: [])
        counters.record(GuardNote(guardKind: "api_key", outcome: "ok", reportOnly: false, detail: "key=ci-bot"))
        counters.record(GuardNote(guardKind: "api_key", outcome: "api_key_invalid", reportOnly: false))
        counters.record(GuardNote(guardKind: "api_key", outcome: "api_key_invalid", reportOnly: true))
        var outcomes: [GuardOutcomeKey: Int] = [:]
        counters.addCounts(into: &outcomes)
        #expect(
            outcomes == [
                GuardOutcomeKey(guardKind: "api_key", outcome: "ok"): 1,
                GuardOutcomeKey(guardKind: "api_key", outcome: "api_key_invalid"): 1,
                GuardOutcomeKey(guardKind: "api_key", outcome: "reported:api_key_invalid"): 1,
            ])
    }

    @Test("a reload that changes a rotation keeps the counts of the values still listed")
    func rotationChangeKeepsCounts() {
        let counters = GuardOutcomeCounters(guardKind: "hmac", countedDetails: ["secret=s#1", "secret=s#2"])
        counters.record(GuardNote(guardKind: "hmac", outcome: "ok", reportOnly: false, detail: "secret=s#1"))
        counters.record(GuardNote(guardKind: "hmac", outcome: "ok", reportOnly: false, detail: "secret=s#2"))
        counters.adopt(countedDetails: ["secret=s#1"])
        var outcomes: [GuardOutcomeKey: Int] = [:]
        counters.addCounts(into: &outcomes)
        #expect(
            outcomes == [
                GuardOutcomeKey(guardKind: "hmac", outcome: "ok", detail: "secret=s#1"): 1,
                GuardOutcomeKey(guardKind: "hmac", outcome: "ok"): 1,
            ])
    }
}
