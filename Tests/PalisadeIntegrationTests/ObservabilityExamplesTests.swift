import Foundation
import NIOPosix
import PalisadeCore
import PalisadeTesting
import Testing

#if canImport(Yams)
import Yams
#endif

/// The operator's examples in examples/observability stay true to what Palisade exports: every
/// metric the Grafana dashboard and the PrometheusRule query is a family a real proxy lists on its
/// admin `/metrics`, every family it lists is charted, the rule file has the shape the Prometheus
/// Operator wants, and (when `promtool` is installed) Prometheus itself accepts the rules and the
/// dashboard's queries.
@Suite("Observability examples: Grafana dashboard and Prometheus rules", .serialized)
struct ObservabilityExamplesTests {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples/observability")
    static var dashboardPath: String { directory.appendingPathComponent("grafana-dashboard.json").path }
    static var rulesPath: String { directory.appendingPathComponent("prometheus-rules.yaml").path }

    /// The alerts the README describes; more may be added.
    static let expectedAlerts: Set<String> = [
        "PalisadeDown", "PalisadeHighRejectionRate", "PalisadeSignatureFailuresBurst", "PalisadeStoreDown",
        "PalisadeStoreErrors", "PalisadeUpstreamErrors", "PalisadePolicyReloadFailed", "PalisadeAccessLogDropping",
        "PalisadeJWKSStale", "PalisadeBansSpike",
    ]

    /// Families listed on /metrics that the dashboard deliberately leaves out (none today): a family
    /// added to MetricFamily must be charted or named here.
    static let notCharted: Set<String> = []

    /// Families only listed while the store is Redis: not required when redis-server is missing.
    static let redisOnly: Set<String> = [
        "palisade_store_up", "palisade_store_errors_total", "palisade_store_redirects_total",
        "palisade_store_degraded_answers_total", "palisade_store_operation_duration_seconds",
    ]

    /// Labels an alert's annotations may print: the scrape target's own, and Palisade's labels
    /// whose values come from the policy or fixed lists (MetricFamily). Never client data.
    static let printableLabels: Set<String> = [
        "instance", "job", "namespace", "pod", "service",
        "route", "guard", "outcome", "code", "kind", "reason", "result", "stream", "type", "url", "mode", "action",
    ]

    /// A public key only (the proxy needs one usable key to list the JWKS families); nothing signs with it.
    static let jwksDocument =
        #"{"keys":[{"kty":"EC","crv":"P-256","x":"cD1RdJ1ds4dF5lWPmj2Lamigy0whiip-GB2-G02vK6s","#
        + #""y":"PVq2EXZRNMF2eZzuB59nB4ThPlAVibqi4mlwZZdjUiA","kid":"observability","use":"sig","alg":"ES256"}]}"#

    /// A policy that lists every family: a Redis store (when there is one), a JWKS URL, an hmac
    /// guard, a rate limit and an open route. No `abuse:` section: its counters are process-wide
    /// and other suites assert their exact deltas; its families are listed without it.
    static func policy(redisPort: Int?, jwksURL: String) -> String {
        let store = redisPort.map { "store:\n  kind: redis\n  redis: { url: \"redis://127.0.0.1:\($0)/0\", timeout: 500ms }\n" } ?? ""
        return """
            version: 1
            listen: 127.0.0.1:0
            upstream: { url: "{{UPSTREAM}}" }
            admin: { listen: 127.0.0.1:0 }
            secrets:
              hook: { value: observability-webhook-secret-0123456789 }
            \(store)routes:
              - name: hooks
                match: { prefix: /hooks/ }
                guards:
                  - hmac: { preset: github, secret: hook }
              - name: api
                match: { prefix: /api/ }
                guards:
                  - jwt:
                      jwks: { url: "\(jwksURL)" }
                      algorithms: [ES256]
                      audience: [observability]
              - name: limited
                match: { prefix: /limited }
                guards:
                  - rate_limit: { key: ip, limit: 1/min, burst: 1, scope: \(redisPort == nil ? "local" : "shared") }
              - name: open
                match: { prefix: /open }
            default: deny
            """
    }

    // MARK: - Reading the examples

    /// One PromQL query of the dashboard: where it is, and the expression.
    struct Query {
        var place: String
        var expr: String
    }

    static func dashboard() throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: dashboardPath))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "the dashboard is not a JSON object")
    }

    /// Every panel, rows' collapsed panels included.
    static func panels(_ dashboard: [String: Any]) -> [[String: Any]] {
        func walk(_ list: [[String: Any]]) -> [[String: Any]] {
            list.flatMap { [$0] + walk($0["panels"] as? [[String: Any]] ?? []) }
        }
        return walk(dashboard["panels"] as? [[String: Any]] ?? [])
    }

    /// Every panel target's `expr` and every query variable's query (and definition).
    static func dashboardQueries(_ dashboard: [String: Any]) -> [Query] {
        var queries: [Query] = []
        for panel in panels(dashboard) {
            for target in panel["targets"] as? [[String: Any]] ?? [] {
                let place = "panel '\(panel["title"] as? String ?? "?")' target \(target["refId"] as? String ?? "?")"
                queries.append(Query(place: place, expr: target["expr"] as? String ?? ""))
            }
        }
        let variables = (dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
        for variable in variables where variable["type"] as? String == "query" {
            let place = "variable '\(variable["name"] as? String ?? "?")'"
            let query = variable["query"] as? String ?? (variable["query"] as? [String: Any])?["query"] as? String
            for text in [query, variable["definition"] as? String].compactMap({ $0 }) {
                queries.append(Query(place: place, expr: promQL(ofVariableQuery: text)))
            }
        }
        return queries
    }

    /// The PromQL in a Grafana variable query: `label_values(selector, label)` gives the selector,
    /// `query_result(expr)` the expression; `label_values(label)` and `metrics(regex)` select nothing.
    static func promQL(ofVariableQuery query: String) -> String {
        let text = query.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let open = text.firstIndex(of: "("), text.hasSuffix(")") else { return text }
        let function = text[..<open].trimmingCharacters(in: .whitespaces)
        let inner = text[text.index(after: open)..<text.index(before: text.endIndex)]
        switch function {
        case "label_values": return inner.lastIndex(of: ",").map { String(inner[..<$0]) } ?? ""
        case "query_result": return String(inner)
        default: return ""
        }
    }

    /// The PrometheusRule as plain JSON-like values (`[String: Any]`, `[Any]`, `String`): read by
    /// Yams when the test can import it, else by Python's yaml module.
    static func rules() throws -> [String: Any] {
        let text = try String(contentsOfFile: rulesPath, encoding: .utf8)
        #if canImport(Yams)
        let loaded: Any? = try Yams.load(yaml: text)
        #else
        let script = "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))"
        let loaded: Any? = try JSONSerialization.jsonObject(with: Data(try Python.run(script, input: Data(text.utf8)).utf8))
        #endif
        return try #require(loaded.map(plain) as? [String: Any], "the rule file is not a YAML mapping")
    }

    /// Mappings with string keys, arrays, and every scalar as its text.
    static func plain(_ value: Any) -> Any {
        if let mapping = value as? [AnyHashable: Any] {
            var result: [String: Any] = [:]
            for (key, item) in mapping { result["\(key.base)"] = plain(item) }
            return result
        }
        if let mapping = value as? [String: Any] { return mapping.mapValues(plain) }
        if let list = value as? [Any] { return list.map(plain) }
        return "\(value)"
    }

    /// One alert of the rule file, as read.
    struct Alert {
        var group: String
        var rule: [String: Any]
        var name: String { rule["alert"] as? String ?? "" }
        var expr: String { rule["expr"] as? String ?? "" }
        var labels: [String: String] { rule["labels"] as? [String: String] ?? [:] }
        var annotations: [String: String] { rule["annotations"] as? [String: String] ?? [:] }
    }

    static func alerts(_ rules: [String: Any]) -> [Alert] {
        let groups = (rules["spec"] as? [String: Any])?["groups"] as? [[String: Any]] ?? []
        return groups.flatMap { group in
            (group["rules"] as? [[String: Any]] ?? []).map { Alert(group: group["name"] as? String ?? "", rule: $0) }
        }
    }

    // MARK: - PromQL and the exposition format

    /// Replaces Grafana's variables with values Prometheus accepts, for checking the queries.
    static func substitutingGrafanaVariables(_ expr: String) -> String {
        var text = expr
        for (variable, value) in [
            ("$__rate_interval", "5m"), ("$__interval", "1m"), ("$__range", "1h"), ("${instance}", ".*"), ("$instance", ".*"),
            ("${route}", ".*"), ("$route", ".*"),
        ] {
            text = text.replacingOccurrences(of: variable, with: value)
        }
        return text
    }

    static let aggregations: Set<String> = [
        "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile",
        "limitk", "limit_ratio",
    ]
    static let keywords: Set<String> = ["bool", "and", "or", "unless", "offset", "inf", "nan", "atan2", "start", "end"]
    /// Keywords followed by a list of label names.
    static let labelListKeywords: Set<String> = ["by", "without", "on", "ignoring", "group_left", "group_right"]

    /// The metric names a PromQL expression selects: identifiers outside strings, label matchers
    /// (`{...}`), ranges (`[...]`) and label lists (`by (...)`) that are neither functions,
    /// aggregations nor keywords. Every name is returned, not only `palisade_` ones, so a typo in
    /// the prefix is caught too.
    static func metricNames(in expression: String) -> Set<String> {
        let bytes = Array(expression.utf8)
        var names = Set<String>()
        func isWordStart(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || b == 0x5F || b == 0x3A }
        func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
        func isQuote(_ b: UInt8) -> Bool { b == 0x22 || b == 0x27 || b == 0x60 }
        func skipString(_ i: inout Int) {
            let quote = bytes[i]
            i += 1
            while i < bytes.count && bytes[i] != quote { i += bytes[i] == 0x5C ? 2 : 1 }
            i += 1
        }
        /// From an opening bracket to past its closing one (no nesting; strings skipped whole).
        func skipEnclosed(_ i: inout Int, close: UInt8) {
            i += 1
            while i < bytes.count && bytes[i] != close {
                if isQuote(bytes[i]) { skipString(&i) } else { i += 1 }
            }
            i += 1
        }
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if isQuote(b) {
                skipString(&i)
            } else if b == 0x7B {  // {
                skipEnclosed(&i, close: 0x7D)
            } else if b == 0x5B {  // [
                skipEnclosed(&i, close: 0x5D)
            } else if b == 0x23 {  // # comment
                while i < bytes.count && bytes[i] != 0x0A { i += 1 }
            } else if isDigit(b) || b == 0x2E {  // numbers and durations (0.99, 1e3, 5m)
                while i < bytes.count && (isWordStart(bytes[i]) || isDigit(bytes[i]) || bytes[i] == 0x2E) { i += 1 }
            } else if isWordStart(b) {
                let start = i
                while i < bytes.count && (isWordStart(bytes[i]) || isDigit(bytes[i])) { i += 1 }
                let word = String(decoding: bytes[start..<i], as: UTF8.self)
                var next = i
                while next < bytes.count && [0x20, 0x09, 0x0A, 0x0D].contains(bytes[next]) { next += 1 }
                let followedByParenthesis = next < bytes.count && bytes[next] == 0x28
                let lowered = word.lowercased()
                if labelListKeywords.contains(lowered) {
                    if followedByParenthesis {
                        i = next
                        skipEnclosed(&i, close: 0x29)
                    }
                } else if !followedByParenthesis && !aggregations.contains(lowered) && !keywords.contains(lowered) {
                    names.insert(word)
                }
            } else {
                i += 1
            }
        }
        return names
    }

    /// `# TYPE` lines of an exposition: family name → type.
    static func families(_ metrics: String) -> [String: String] {
        var types: [String: String] = [:]
        for line in metrics.split(separator: "\n") where line.hasPrefix("# TYPE ") {
            let words = line.split(separator: " ")
            if words.count == 4 { types[String(words[2])] = String(words[3]) }
        }
        return types
    }

    /// The family a queried name belongs to: itself, or a histogram's `_bucket`, `_sum` or `_count`.
    static func family(of name: String, in types: [String: String]) -> String? {
        if types[name] != nil { return name }
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if types[base] == "histogram" || types[base] == "summary" { return base }
        }
        return nil
    }

    /// Families for names that the exposition does not list (not even as a histogram's series).
    static func unknown(_ names: Set<String>, in types: [String: String], excusing excused: Set<String>) -> [String] {
        names.filter { name in
            if family(of: name, in: types) != nil { return false }
            return !excused.contains { name == $0 || name.hasPrefix($0 + "_") }
        }.sorted()
    }

    // MARK: - A live proxy

    /// Starts a proxy with `policy` (a Redis store when redis-server is installed), sends it
    /// traffic that makes samples for most families, and answers its `/metrics` and whether Redis ran.
    static func liveMetrics() async throws -> (metrics: String, withRedis: Bool) {
        let redis: RedisServer?
        if let missing = RedisServer.missing {
            print("\(missing); the Redis-only families (\(redisOnly.sorted().joined(separator: ", "))) are not checked")
            redis = nil
        } else {
            redis = try RedisServer()
        }
        defer { redis?.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let issuer = try await JWKSServer.start(document: jwksDocument, group: group)
        let yaml = policy(redisPort: redis?.port, jwksURL: issuer.url)
        let metrics = try await ProxyHarness.with(yaml: yaml) { harness in
            let port = harness.proxyPort
            // Proxied twice (request and app durations, an upstream connection opened, then reused).
            #expect(try await RawClient.get("/open/a", port: port).status == 200)
            #expect(try await RawClient.get("/open/b", port: port).status == 200)
            // Refusals: an unsigned webhook, a missing token, a rate limit, no route, a malformed request.
            #expect(try await RawClient.get("/hooks/github", port: port, method: "POST", body: "{}").status == 401)
            #expect(try await RawClient.get("/api/orders", port: port).status == 401)
            #expect(try await RawClient.get("/limited", port: port).status == 200)
            #expect(try await RawClient.get("/limited", port: port).status == 429)
            #expect(try await RawClient.get("/nowhere", port: port).status == 404)
            let smuggled = "POST /open HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            #expect(try await RawClient.send(smuggled, port: port).first?.status == 400)
            // The key set is fetched in the background; its age is listed once a fetch succeeded.
            let end = Date().addingTimeInterval(10)
            var text = try await harness.metrics()
            while !text.contains("palisade_jwks_age_seconds{") && Date() < end {
                try await Task.sleep(for: .milliseconds(100))
                text = try await harness.metrics()
            }
            #expect(text.contains("palisade_jwks_age_seconds{"), "the JWKS URL was never fetched")
            return text
        }
        await issuer.stop()
        try await group.shutdownGracefully()
        return (metrics, redis != nil)
    }

    // MARK: - Tests

    @Test("the dashboard is a Grafana dashboard on a ${DS_PROMETHEUS} data source with a route variable")
    func dashboardShape() throws {
        let dashboard = try Self.dashboard()
        let schema = try #require(dashboard["schemaVersion"] as? Int)
        #expect(schema >= 36, "schemaVersion \(schema)")
        #expect((dashboard["title"] as? String)?.isEmpty == false)
        #expect((dashboard["uid"] as? String)?.isEmpty == false)

        let variables = (dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
        let source = try #require(variables.first { $0["name"] as? String == "DS_PROMETHEUS" }, "no DS_PROMETHEUS variable")
        #expect(source["type"] as? String == "datasource")
        #expect(source["query"] as? String == "prometheus")
        let route = try #require(variables.first { $0["name"] as? String == "route" }, "no route variable")
        #expect(route["type"] as? String == "query")
        let routeQuery = (route["query"] as? [String: Any])?["query"] as? String ?? route["query"] as? String
        #expect(routeQuery == "label_values(palisade_requests_total, route)")

        let all = Self.panels(dashboard)
        let charts = all.filter { $0["type"] as? String != "row" }
        #expect(charts.count >= 20)
        let ids = all.compactMap { $0["id"] as? Int }
        #expect(ids.count == all.count && Set(ids).count == ids.count, "every panel needs an id of its own")
        for panel in charts {
            let title = panel["title"] as? String ?? "?"
            #expect(["timeseries", "stat"].contains(panel["type"] as? String ?? ""), "\(title): \(panel["type"] ?? "no type")")
            #expect((panel["datasource"] as? [String: Any])?["uid"] as? String == "${DS_PROMETHEUS}", "\(title): data source")
            let targets = panel["targets"] as? [[String: Any]] ?? []
            #expect(!targets.isEmpty, "\(title): no query")
            for target in targets {
                #expect((target["datasource"] as? [String: Any])?["uid"] as? String == "${DS_PROMETHEUS}", "\(title): target data source")
                #expect((target["expr"] as? String)?.isEmpty == false, "\(title): empty expr")
            }
            #expect(panel["gridPos"] is [String: Any], "\(title): no gridPos")
        }
    }

    @Test("the rule file is a PrometheusRule: every alert has expr, for, a severity, a summary and a description of fixed labels only")
    func ruleShape() throws {
        let rules = try Self.rules()
        #expect(rules["apiVersion"] as? String == "monitoring.coreos.com/v1")
        #expect(rules["kind"] as? String == "PrometheusRule")
        #expect(((rules["metadata"] as? [String: Any])?["name"] as? String)?.isEmpty == false)
        let groups = (rules["spec"] as? [String: Any])?["groups"] as? [[String: Any]] ?? []
        #expect(!groups.isEmpty, "spec.groups is empty")
        for group in groups {
            #expect((group["name"] as? String)?.isEmpty == false)
            #expect(!(group["rules"] as? [[String: Any]] ?? []).isEmpty, "group \(group["name"] ?? "?") has no rules")
        }

        let alerts = Self.alerts(rules)
        let names = alerts.map(\.name)
        #expect(Set(names).count == names.count, "an alert name is used twice")
        #expect(Self.expectedAlerts.isSubset(of: Set(names)), "missing: \(Self.expectedAlerts.subtracting(names).sorted())")
        let duration = try Regex("^([0-9]+(ms|s|m|h|d|w|y))+$")
        let template = try Regex(#"\{\{(.*?)\}\}"#)
        let variable = try Regex(#"\$[A-Za-z_][A-Za-z0-9_.]*"#)
        for alert in alerts {
            #expect(!alert.name.isEmpty && alert.rule["record"] == nil, "group \(alert.group): a rule that is not an alert")
            #expect(!alert.expr.isEmpty, "\(alert.name): no expr")
            let waiting = alert.rule["for"] as? String ?? ""
            #expect(waiting.wholeMatch(of: duration) != nil, "\(alert.name): for '\(waiting)'")
            #expect(["critical", "warning", "info"].contains(alert.labels["severity"] ?? ""), "\(alert.name): severity")
            #expect(alert.annotations["summary"]?.isEmpty == false, "\(alert.name): no summary")
            #expect(alert.annotations["description"]?.isEmpty == false, "\(alert.name): no description")
            // Only labels Palisade fills from the policy or fixed lists, and the target's own.
            for (key, text) in alert.annotations {
                for block in text.matches(of: template) {
                    for match in String(block.output[1].substring ?? "").matches(of: variable) {
                        let name = String(match.output[0].substring ?? "")
                        let allowed =
                            name == "$value" || (name.hasPrefix("$labels.") && Self.printableLabels.contains(String(name.dropFirst(8))))
                        #expect(allowed, "\(alert.name) \(key): \(name) may not be printed")
                    }
                }
            }
        }
    }

    @Test("every family the dashboard and the rules query is listed on a live /metrics, and the dashboard charts every family")
    func familiesExist() async throws {
        let dashboardQueries = Self.dashboardQueries(try Self.dashboard())
        let alerts = Self.alerts(try Self.rules())
        #expect(!dashboardQueries.isEmpty)
        #expect(!alerts.isEmpty)

        let (metrics, withRedis) = try await Self.liveMetrics()
        let types = Self.families(metrics)
        #expect(types["palisade_requests_total"] == "counter", "no families in:\n\(metrics)")
        let excused = withRedis ? [] : Self.redisOnly

        var charted = Set<String>()
        for query in dashboardQueries {
            let names = Self.metricNames(in: Self.substitutingGrafanaVariables(query.expr))
            #expect(!names.isEmpty, "\(query.place): no metric in '\(query.expr)'")
            let missing = Self.unknown(names, in: types, excusing: excused)
            #expect(missing.isEmpty, "\(query.place): \(missing) not on /metrics (\(query.expr))")
            charted.formUnion(names.compactMap { Self.family(of: $0, in: types) })
        }
        let uncharted = Set(types.keys).subtracting(charted).subtracting(Self.notCharted)
        #expect(uncharted.isEmpty, "families on /metrics that no dashboard panel shows: \(uncharted.sorted())")

        for alert in alerts {
            let names = Self.metricNames(in: alert.expr).subtracting(["up"])
            let missing = Self.unknown(names, in: types, excusing: excused)
            #expect(missing.isEmpty, "\(alert.name): \(missing) not on /metrics (\(alert.expr))")
        }
        // The scanner itself: names inside matchers, ranges, strings and label lists are not metrics.
        let sample = #"histogram_quantile(0.99, sum by (le) (rate(a_bucket{code!~"b_.*"}[5m]))) / on (job) group_left c offset 1m > bool 0"#
        #expect(Self.metricNames(in: sample) == ["a_bucket", "c"])
    }

    @Test("promtool accepts the rules and the dashboard's queries (skipped when promtool is not installed)")
    func promtoolChecks() throws {
        guard let promtool = Self.executable("promtool") else {
            print("promtool is not installed (apt-get install prometheus): `promtool check rules` skipped")
            return
        }
        let directory = try TemporaryFiles.directory("palisade-promtool")
        let rules = try Self.rules()
        let groups = try #require((rules["spec"] as? [String: Any])?["groups"] as? [[String: Any]])
        // JSON is YAML: the rule groups as Prometheus reads them (a plain rule file).
        let rulesFile = directory.appendingPathComponent("palisade-rules.json")
        try Self.json(["groups": groups]).write(to: rulesFile)

        // Each dashboard query as a recording rule, Grafana's variables filled in.
        let queries = Self.dashboardQueries(try Self.dashboard())
        let recordings: [[String: Any]] = queries.filter { !$0.expr.isEmpty }.enumerated().map { index, query in
            ["record": "palisade_dashboard:query_\(index)", "expr": Self.substitutingGrafanaVariables(query.expr)]
        }
        let dashboardFile = directory.appendingPathComponent("palisade-dashboard-queries.json")
        try Self.json(["groups": [["name": "dashboard", "rules": recordings]]]).write(to: dashboardFile)

        for file in [rulesFile, dashboardFile] {
            let (status, output) = try Self.run(promtool, ["check", "rules", file.path])
            #expect(status == 0, "promtool check rules \(file.lastPathComponent):\n\(output)")
        }
    }

    // MARK: - Helpers

    static func json(_ object: Any) throws -> Data {
        // Escaped slashes (\/) are valid JSON but not valid YAML, which promtool reads.
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    }

    /// `name` found on PATH, or nil.
    static func executable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    static func run(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
