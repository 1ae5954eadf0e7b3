import NIOCore
import NIOHTTP1
import PalisadeCore
import Testing

/// Route lookup on compiled plans: exact paths, prefixes, methods, hosts, first match wins.
@Suite("Routing")
struct RoutingTests {
    static func plan(_ routes: String, extra: String = "") throws -> RuntimePlan {
        let yaml = """
            version: 1
            upstream:
              url: http://127.0.0.1:3000
            \(extra)
            routes:
            \(routes)
            """
        return try PlanCompiler.load(yaml: yaml, file: "routing.yaml", generation: 1).0
    }

    static func match(
        _ plan: RuntimePlan, _ path: String, method: HTTPMethod = .GET, host: String? = nil
    ) -> String? {
        var headers = HTTPHeaders()
        if let host { headers.add(name: "Host", value: host) }
        return plan.routes.match(method: method, path: Substring(path), headers: headers)?.name
    }

    @Test("an exact path matches only itself; a prefix matches what starts with it")
    func exactAndPrefix() throws {
        let plan = try Self.plan(
            """
              - name: exact
                match: { path: /health }
              - name: prefix
                match: { prefix: /api/ }
            """)
        #expect(Self.match(plan, "/health") == "exact")
        #expect(Self.match(plan, "/health/") == nil)
        #expect(Self.match(plan, "/healthz") == nil)
        #expect(Self.match(plan, "/Health") == nil, "paths are case-sensitive")
        #expect(Self.match(plan, "/api/") == "prefix")
        #expect(Self.match(plan, "/api/users/7") == "prefix")
        #expect(Self.match(plan, "/api") == nil, "the prefix includes its trailing slash")
        #expect(Self.match(plan, "/apix/") == nil)
        #expect(Self.match(plan, "/v1/api/") == nil)
    }

    @Test("the first matching route wins, in file order")
    func firstMatchWins() throws {
        let plan = try Self.plan(
            """
              - name: specific
                match: { prefix: /api/admin/ }
              - name: general
                match: { prefix: /api/ }
              - name: never
                match: { prefix: /api/admin/users }
            """)
        #expect(Self.match(plan, "/api/admin/users") == "specific")
        #expect(Self.match(plan, "/api/things") == "general")
        let reversed = try Self.plan(
            """
              - name: general
                match: { prefix: /api/ }
              - name: specific
                match: { prefix: /api/admin/ }
            """)
        #expect(Self.match(reversed, "/api/admin/users") == "general")
        #expect(reversed.routes.routes.map(\.name) == ["general", "specific"])
        #expect(reversed.routes.routes.map(\.index) == [0, 1])
    }

    @Test("methods restrict a route; no methods means any")
    func methods() throws {
        let plan = try Self.plan(
            """
              - name: read
                match: { prefix: /items, methods: [GET, HEAD] }
              - name: write
                match: { prefix: /items, methods: [post, PUT, PURGE] }
              - name: other
                match: { prefix: /items }
            """)
        #expect(Self.match(plan, "/items", method: .GET) == "read")
        #expect(Self.match(plan, "/items", method: .HEAD) == "read")
        #expect(Self.match(plan, "/items", method: .POST) == "write")
        #expect(Self.match(plan, "/items", method: .PUT) == "write")
        #expect(Self.match(plan, "/items", method: .RAW(value: "PURGE")) == "write")
        #expect(Self.match(plan, "/items", method: .DELETE) == "other")
        #expect(Self.match(plan, "/items/1", method: .OPTIONS) == "other")
    }

    @Test("host matches case-insensitively and ignores the port")
    func host() throws {
        let plan = try Self.plan(
            """
              - name: api-host
                match: { prefix: /, host: API.example.com }
              - name: local-host
                match: { prefix: /, host: localhost }
              - name: fallback
                match: { prefix: /other/ }
            """)
        #expect(Self.match(plan, "/x", host: "api.example.com") == "api-host")
        #expect(Self.match(plan, "/x", host: "API.EXAMPLE.COM") == "api-host")
        #expect(Self.match(plan, "/x", host: "Api.Example.Com:8443") == "api-host")
        #expect(Self.match(plan, "/x", host: "localhost:8080") == "local-host")
        #expect(Self.match(plan, "/x", host: "api.example.com.evil.test") == nil)
        #expect(Self.match(plan, "/x", host: "xapi.example.com") == nil)
        #expect(Self.match(plan, "/x", host: "api.example.co") == nil)
        #expect(Self.match(plan, "/x", host: "[::1]:8080") == nil)
        #expect(Self.match(plan, "/x") == nil, "a route with a host never matches a request without one")
        #expect(Self.match(plan, "/other/1", host: "elsewhere") == "fallback")
    }

    @Test("a host written with a trailing dot matches requests with or without one")
    func hostTrailingDot() throws {
        let plan = try Self.plan(
            """
              - name: admin
                match: { prefix: /, host: Admin.Example.com. }
            """)
        #expect(plan.policy.routes.first?.match.host == "admin.example.com")
        #expect(Self.match(plan, "/x", host: "admin.example.com") == "admin")
        #expect(Self.match(plan, "/x", host: "admin.example.com.") == "admin")
        #expect(Self.match(plan, "/x", host: "ADMIN.example.com.:8443") == "admin")
        #expect(Self.match(plan, "/x", host: "admin.example.com..") == nil, "one trailing dot only")
    }

    @Test("routing.case_insensitive folds paths and route patterns; the default compares exactly")
    func caseInsensitive() throws {
        let routes = """
              - name: internal
                match: { prefix: /Internal/ }
              - name: exact
                match: { path: /Health }
            """
        let folded = try Self.plan(routes, extra: "routing: { case_insensitive: true }")
        #expect(folded.policy.routing.caseInsensitive)
        #expect(Self.match(folded, "/INTERNAL/x") == "internal")
        #expect(Self.match(folded, "/internal/x") == "internal")
        #expect(Self.match(folded, "/iNtErNaL/") == "internal")
        #expect(Self.match(folded, "/internal") == nil)
        #expect(Self.match(folded, "/HEALTH") == "exact")
        #expect(Self.match(folded, "/healthz") == nil)
        #expect(Self.match(folded, "/healt") == nil)
        let exact = try Self.plan(routes)
        #expect(!exact.policy.routing.caseInsensitive)
        #expect(Self.match(exact, "/INTERNAL/x") == nil)
        #expect(Self.match(exact, "/Internal/x") == "internal")
        #expect(Self.match(exact, "/Health") == "exact")
        #expect(Self.match(exact, "/health") == nil)
    }

    @Test("no route matches: nil, whatever the default")
    func noMatch() throws {
        let plan = try Self.plan(
            """
              - name: api
                match: { prefix: /api/, methods: [GET] }
            """, extra: "default: allow")
        #expect(plan.defaultAction == .allow)
        #expect(Self.match(plan, "/") == nil)
        #expect(Self.match(plan, "/api/x", method: .POST) == nil)
        let empty = try PlanCompiler.load(
            yaml: "version: 1\nupstream:\n  url: http://127.0.0.1:3000\n", file: "empty.yaml", generation: 1
        ).0
        #expect(empty.routes.routes.isEmpty)
        #expect(Self.match(empty, "/") == nil)
        #expect(empty.defaultAction == .deny)
    }

    @Test("a compiled route carries its guards and report flags")
    func compiledGuards() throws {
        let plan = try Self.plan(
            """
              - name: guarded
                match: { prefix: /g/ }
                guards:
                  - ip: { allow: [10.0.0.0/8] }
                  - ip: { deny: [10.1.0.0/16], mode: report }
              - name: reported
                match: { prefix: /r/ }
                mode: report
                guards:
                  - ip: { allow: [10.0.0.0/8] }
            """)
        let guarded = try #require(plan.routes.routes.first)
        #expect(guarded.guards.map(\.kind) == ["ip", "ip"])
        #expect(guarded.guardReportOnly == [false, true])
        #expect(guarded.mode == .enforce)
        let reported = plan.routes.routes[1]
        #expect(reported.guardReportOnly == [true])
        #expect(reported.mode == .report)
    }

    @Test("a policy with errors does not compile; the error carries every diagnostic")
    func loadFailure() throws {
        let yaml = "version: 1\nupstream:\n  url: https://x\nroutes:\n  - name: a\n    match: { path: x }\n"
        #expect {
            _ = try PlanCompiler.load(yaml: yaml, file: "bad.yaml", generation: 1)
        } throws: { error in
            guard let error = error as? PolicyLoadError else { return false }
            return error.diagnostics.filter { $0.severity == .error }.count == 2
                && error.description.contains("bad.yaml:3:")
                && error.description.contains("bad.yaml:6:")
        }
    }

    @Test("the plan carries generation, source and compiled settings")
    func planFields() throws {
        let yaml = """
            version: 1
            upstream:
              url: http://127.0.0.1:3000
              response_timeout: 1500ms
            limits:
              max_header_bytes: 8KiB
              idle_timeout: 5s
            log:
              access: off
              headers: [User-Agent]
            response_headers:
              X-Frame-Options: DENY
            """
        let (plan, warnings) = try PlanCompiler.load(yaml: yaml, file: "fields.yaml", generation: 7)
        #expect(warnings.isEmpty)
        #expect(plan.generation == 7)
        #expect(plan.sourceFile == "fields.yaml")
        #expect(plan.upstream.host == "127.0.0.1")
        #expect(plan.upstream.port == 3000)
        #expect(plan.upstream.responseTimeout == .milliseconds(1500))
        #expect(plan.limits.maxHeaderBytes == 8192)
        #expect(plan.limits.idleTimeout == .seconds(5))
        #expect(!plan.accessLogEnabled)
        #expect(plan.loggedHeaders == ["user-agent"])
        #expect(plan.responseHeaders.map { $0.0 } == ["x-frame-options"])
        #expect(plan.responseHeaders.map { $0.1 } == ["DENY"])
    }
}
