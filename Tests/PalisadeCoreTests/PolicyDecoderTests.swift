import PalisadeCore
import Testing

/// The policy decoder: a full policy decodes to the values written; every refusal names the file,
/// the 1-based line and column an editor would show, the key path and what is wrong.
///
/// Over 400 lines because most of it is one table (about 400 lines of cases, one per refusal the
/// decoder can make, each with the exact position and message): split, the table would lose the
/// one place a reviewer checks that every refusal has a case.
@Suite("Policy decoder")
struct PolicyDecoderTests {
    static let file = "test-policy.yaml"

    static let fullPolicy = """
        version: 1
        listen: 0.0.0.0:8443
        upstream:
          url: http://127.0.0.1:3000
          connect_timeout: 250ms
          response_timeout: 45s
          max_idle_connections: 16
        admin:
          listen: "[::1]:9901"
        client_ip:
          from: x-forwarded-for
          trusted_proxies: [10.0.0.0/8, "fd00::/8"]
        limits:
          max_header_bytes: 16KiB
          max_body_bytes: 2MiB
          idle_timeout: 90s
          header_read_timeout: 5s
        drain_timeout: 15s
        log:
          access: off
          headers: [User-Agent, x-tenant]
        response_headers:
          X-Content-Type-Options: nosniff
          referrer-policy: no-referrer
        routes:
          - name: health
            match: { path: /health, methods: [get, HEAD] }
          - name: admin.api
            match:
              prefix: /admin/
              host: Admin.Example.COM
            guards:
              - ip: { allow: [10.0.0.0/8, 192.168.1.7], deny: [10.9.0.0/16] }
          - name: reports
            match: { prefix: /reports/ }
            mode: report
            guards:
              - ip: { allow: [127.0.0.1/32] }
        default: deny
        """

    @Test("a full policy decodes to the values written, without diagnostics")
    func fullPolicyDecodes() throws {
        let result = PolicyDecoder.decode(yaml: Self.fullPolicy, file: Self.file)
        #expect(result.errors.isEmpty, "\(result.errors)")
        let policy = try #require(result.policy)
        #expect(policy.version == 1)
        #expect(policy.listen == HostPort(host: "0.0.0.0", port: 8443))
        #expect(policy.upstream.url == UpstreamURL(host: "127.0.0.1", port: 3000))
        #expect(policy.upstream.connectTimeout == .milliseconds(250))
        #expect(policy.upstream.responseTimeout == .seconds(45))
        #expect(policy.upstream.maxIdleConnections == 16)
        #expect(policy.admin?.listen == HostPort(host: "::1", port: 9901))
        #expect(policy.clientIP.from == .xForwardedFor)
        #expect(policy.clientIP.trustedProxies.map(\.text) == ["10.0.0.0/8", "fd00::/8"])
        #expect(policy.limits.maxHeaderBytes == ByteCount(bytes: 16 * 1024))
        #expect(policy.limits.maxBodyBytes == ByteCount(bytes: 2 * 1024 * 1024))
        #expect(policy.limits.idleTimeout == .seconds(90))
        #expect(policy.limits.headerReadTimeout == .seconds(5))
        #expect(policy.drainTimeout == .seconds(15))
        #expect(policy.log.access == .off)
        #expect(policy.log.headers == ["user-agent", "x-tenant"])
        #expect(policy.responseHeaders.map(\.name) == ["x-content-type-options", "referrer-policy"])
        #expect(policy.responseHeaders.map(\.value) == ["nosniff", "no-referrer"])
        #expect(policy.defaultAction == .deny)

        try #require(policy.routes.count == 3)
        let health = policy.routes[0]
        #expect(health.name == "health")
        #expect(health.match.path == "/health")
        #expect(health.match.prefix == nil)
        #expect(health.match.methods == ["GET", "HEAD"])
        #expect(health.match.host == nil)
        #expect(health.guards.isEmpty)
        #expect(health.mode == .enforce)
        #expect(health.position.line == 26)
        #expect(health.position.keyPath == "routes[0]")

        let admin = policy.routes[1]
        #expect(admin.name == "admin.api")
        #expect(admin.match.prefix == "/admin/")
        #expect(admin.match.host == "admin.example.com")
        #expect(admin.match.methods.isEmpty)
        try #require(admin.guards.count == 1)
        guard case .ip(let ip) = admin.guards[0].kind else {
            Issue.record("expected an ip guard")
            return
        }
        #expect(ip.allow.map(\.text) == ["10.0.0.0/8", "192.168.1.7"])
        #expect(ip.deny.map(\.text) == ["10.9.0.0/16"])
        #expect(admin.guards[0].mode == nil)

        let reports = policy.routes[2]
        #expect(reports.mode == .report)
        // Report mode is legal but deserves a warning.
        #expect(result.warnings.count == 1)
        #expect(result.warnings.first?.position.keyPath == "routes[2]")
    }

    @Test("defaults apply to keys left out")
    func defaults() throws {
        let result = PolicyDecoder.decode(yaml: "version: 1\nupstream:\n  url: http://app\n", file: Self.file)
        let policy = try #require(result.policy)
        #expect(policy.upstream.url == UpstreamURL(host: "app", port: 80))
        #expect(policy.listen == HostPort(host: "0.0.0.0", port: 8080))
        #expect(policy.admin == nil)
        #expect(policy.clientIP.from == .peer)
        #expect(policy.limits.maxHeaderBytes.bytes == 32 * 1024)
        #expect(policy.limits.headerReadTimeout == .seconds(10))
        #expect(policy.drainTimeout == .seconds(20))
        #expect(policy.upstream.responseTimeout == .seconds(30))
        #expect(policy.log.access == .stdout)
        #expect(policy.routes.isEmpty)
        #expect(policy.defaultAction == .deny)
        #expect(result.diagnostics.isEmpty)
    }

    // MARK: errors

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var name: String
        var yaml: String
        var line: Int
        var column: Int
        var keyPath: String
        var fragment: String
        var testDescription: String { name }
    }

    static let errorCases: [ErrorCase] = [
        ErrorCase(
            name: "unknown top-level key",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                listn: 127.0.0.1:8080
                """,
            line: 4, column: 1, keyPath: "listn", fragment: "unknown key 'listn' (did you mean 'listen'?)"
        ),
        ErrorCase(
            name: "unknown nested key with suggestion",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                routes:
                  - name: api
                    match:
                      prefx: /api/
                """,
            line: 7, column: 7, keyPath: "routes[0].match.prefx", fragment: "did you mean 'prefix'?"
        ),
        ErrorCase(
            name: "unknown key without a close match",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                  colour: blue
                """,
            line: 4, column: 3, keyPath: "upstream.colour", fragment: "unknown key 'colour'; allowed here: url,"
        ),
        ErrorCase(
            name: "scalar where a mapping belongs",
            yaml: """
                version: 1
                upstream: http://127.0.0.1:3000
                """,
            line: 2, column: 11, keyPath: "upstream", fragment: "expected a mapping with keys url"
        ),
        ErrorCase(
            name: "mapping where a list belongs",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                routes:
                  name: api
                """,
            line: 5, column: 3, keyPath: "routes", fragment: "expected a list, found a mapping"
        ),
        ErrorCase(
            name: "version not an integer",
            yaml: """
                version: one
                upstream:
                  url: http://127.0.0.1:3000
                """,
            line: 1, column: 10, keyPath: "version", fragment: "expected an integer"
        ),
        ErrorCase(
            name: "list where a size belongs",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                limits:
                  max_header_bytes: [1KiB]
                """,
            line: 5, column: 21, keyPath: "limits.max_header_bytes", fragment: "expected a string, found a list"
        ),
        ErrorCase(
            name: "duration without unit",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                  connect_timeout: 30
                """,
            line: 4, column: 20, keyPath: "upstream.connect_timeout", fragment: "'30' is not a duration"
        ),
        ErrorCase(
            name: "duration with unknown unit",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                  response_timeout: 5x
                """,
            line: 4, column: 21, keyPath: "upstream.response_timeout", fragment: "'5x' is not a duration"
        ),
        ErrorCase(
            name: "zero duration",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                drain_timeout: 0s
                """,
            line: 4, column: 16, keyPath: "drain_timeout", fragment: "must be at least 1ms"
        ),
        ErrorCase(
            name: "bad size",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                limits:
                  max_body_bytes: 10 parsecs
                """,
            line: 5, column: 19, keyPath: "limits.max_body_bytes", fragment: "'10 parsecs' is not a size"
        ),
        ErrorCase(
            name: "size out of range",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                limits:
                  max_header_bytes: 512
                """,
            line: 5, column: 21, keyPath: "limits.max_header_bytes", fragment: "must be between 1KiB and 1MiB"
        ),
        ErrorCase(
            name: "CIDR with host bits set",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                routes:
                  - name: api
                    match:
                      prefix: /api/
                    guards:
                      - ip:
                          allow: [10.1.2.3/8]
                """,
            line: 10, column: 19, keyPath: "routes[0].guards[0].ip.allow[0]",
            fragment: "'10.1.2.3/8' has host bits set after the first 8 bits; did you mean 10.0.0.0/8?"
        ),
        ErrorCase(
            name: "CIDR prefix length out of range",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                client_ip:
                  from: x-forwarded-for
                  trusted_proxies: [10.0.0.0/33]
                """,
            line: 6, column: 21, keyPath: "client_ip.trusted_proxies[0]",
            fragment: "'10.0.0.0/33': the prefix length must be a whole number from 0 to 32 for an IPv4 address"
        ),
        ErrorCase(
            name: "IPv6 CIDR with host bits set",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                client_ip:
                  from: x-forwarded-for
                  trusted_proxies: ["fd00::1/8"]
                """,
            line: 6, column: 21, keyPath: "client_ip.trusted_proxies[0]",
            fragment: "'fd00::1/8' has host bits set after the first 8 bits; did you mean fd00::/8?"
        ),
        ErrorCase(
            name: "CIDR garbage",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                client_ip:
                  from: x-forwarded-for
                  trusted_proxies:
                    - 10.0.0.0/8
                    - not-an-ip
                """,
            line: 8, column: 7, keyPath: "client_ip.trusted_proxies[1]", fragment: "'not-an-ip' is not an IP address"
        ),
        ErrorCase(
            name: "path without leading slash",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                routes:
                  - name: api
                    match:
                      path: api
                """,
            line: 7, column: 13, keyPath: "routes[0].match.path", fragment: "'api' must start with '/'"
        ),
        ErrorCase(
            name: "both path and prefix",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                routes:
                  - name: api
                    match:
                      path: /a
                      prefix: /b
                """,
            line: 7, column: 7, keyPath: "routes[0].match", fragment: "either 'path' (exact) or 'prefix', not both"
        ),
        ErrorCase(
            name: "duplicate route names",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                routes:
                  - name: api
                    match: { prefix: /api/ }
                  - name: api
                    match: { prefix: /v2/ }
                """,
            line: 7, column: 5, keyPath: "routes[1]", fragment: "route name 'api' is already used at line 5"
        ),
        ErrorCase(
            name: "bad method",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                routes:
                  - name: api
                    match:
                      prefix: /api/
                      methods: [GET, "PO ST"]
                """,
            line: 8, column: 22, keyPath: "routes[0].match.methods[1]", fragment: "'PO ST' is not an HTTP method"
        ),
        ErrorCase(
            name: "https upstream",
            yaml: """
                version: 1
                upstream:
                  url: https://127.0.0.1:3000
                """,
            line: 3, column: 8, keyPath: "upstream.url", fragment: "is not an http://host:port URL without a path"
        ),
        ErrorCase(
            name: "upstream URL with a path",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000/app
                """,
            line: 3, column: 8, keyPath: "upstream.url", fragment: "'http://127.0.0.1:3000/app' is not an http://host:port URL"
        ),
        ErrorCase(
            name: "missing upstream",
            yaml: """
                version: 1
                routes: []
                """,
            line: 1, column: 1, keyPath: "", fragment: "missing required key 'upstream'"
        ),
        ErrorCase(
            name: "missing version",
            yaml: """
                upstream:
                  url: http://127.0.0.1:3000
                """,
            line: 1, column: 1, keyPath: "", fragment: "missing required key 'version'"
        ),
        ErrorCase(
            name: "missing upstream.url",
            yaml: """
                version: 1
                upstream:
                  connect_timeout: 1s
                """,
            line: 3, column: 3, keyPath: "upstream", fragment: "missing required key 'url'"
        ),
        ErrorCase(
            name: "wrong version",
            yaml: """
                version: 2
                upstream:
                  url: http://127.0.0.1:3000
                """,
            line: 1, column: 10, keyPath: "version", fragment: "reads policy format version 1, found 2"
        ),
        ErrorCase(
            name: "authorization in log.headers",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                log:
                  headers: [user-agent, Authorization]
                """,
            line: 5, column: 25, keyPath: "log.headers[1]", fragment: "'authorization' carries credentials and is never logged"
        ),
        ErrorCase(
            name: "cookie in log.headers",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                log:
                  headers:
                    - cookie
                """,
            line: 6, column: 7, keyPath: "log.headers[0]", fragment: "'cookie' carries credentials"
        ),
        ErrorCase(
            name: "content-length in response_headers",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                response_headers:
                  x-frame-options: DENY
                  Content-Length: "0"
                """,
            line: 6, column: 19, keyPath: "response_headers.Content-Length", fragment: "'content-length' is managed by the proxy"
        ),
        ErrorCase(
            name: "invalid YAML syntax",
            yaml: """
                version: 1
                upstream:
                  url: foo: bar
                """,
            line: 3, column: 11, keyPath: "", fragment: "invalid YAML: mapping values are not allowed"
        ),
        ErrorCase(
            name: "unknown guard kind",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                routes:
                  - name: api
                    match: { prefix: /api/ }
                    guards:
                      - captcha: { difficulty: 10 }
                """,
            line: 8, column: 18, keyPath: "routes[0].guards[0].captcha", fragment: "unknown guard 'captcha'; known guards: ip"
        ),
        ErrorCase(
            name: "unknown key inside a guard",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                routes:
                  - name: api
                    match: { prefix: /api/ }
                    guards:
                      - ip:
                          deny: [10.9.0.0/16]
                          alow: [10.0.0.0/8]
                """,
            line: 10, column: 11, keyPath: "routes[0].guards[0].ip.alow", fragment: "did you mean 'allow'?"
        ),
        ErrorCase(
            name: "bad enforcement mode",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                routes:
                  - name: api
                    match: { prefix: /api/ }
                    mode: audit
                """,
            line: 7, column: 11, keyPath: "routes[0].mode", fragment: "'audit' is not one of: enforce, report"
        ),
        ErrorCase(
            name: "bad default",
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                default: maybe
                """,
            line: 4, column: 10, keyPath: "default", fragment: "'maybe' is not one of: deny, allow"
        ),
    ]

    @Test("each error names file, line, column, key path and the problem", arguments: errorCases)
    func errorIsPositioned(_ c: ErrorCase) throws {
        let result = PolicyDecoder.decode(yaml: c.yaml, file: Self.file)
        #expect(result.policy == nil, "a policy with errors must not load")
        let error = try #require(result.errors.first, "no error reported")
        #expect(result.errors.count == 1, "expected exactly one error, got: \(result.errors)")
        #expect(error.file == Self.file)
        #expect(error.position.line == c.line, "line: \(error)")
        #expect(error.position.column == c.column, "column: \(error)")
        #expect(error.position.keyPath == c.keyPath, "key path: \(error)")
        #expect(error.message.contains(c.fragment), "message: \(error)")
    }

    @Test("a duplicate YAML key is refused at the key")
    func duplicateYAMLKey() throws {
        let yaml = """
            version: 1
            upstream:
              url: http://127.0.0.1:3000
            version: 1
            """
        let result = PolicyDecoder.decode(yaml: yaml, file: Self.file)
        #expect(result.policy == nil)
        let error = try #require(result.errors.first)
        #expect(result.errors.count == 1)
        #expect(error.file == Self.file)
        // Either occurrence is a fair place to point at; the column is that of the key.
        #expect([1, 4].contains(error.position.line), "\(error)")
        #expect(error.position.column == 1, "\(error)")
        #expect(error.position.keyPath == "")
        #expect(error.message.contains("duplicate key(s) version"), "\(error)")
    }

    @Test("the diagnostic prints as file:line:column: severity: key.path: message")
    func diagnosticFormat() throws {
        let yaml = "version: 1\nupstream:\n  url: http://127.0.0.1:3000\n  connect_timeout: 30\n"
        let result = PolicyDecoder.decode(yaml: yaml, file: "p.yaml")
        let error = try #require(result.errors.first)
        #expect(
            error.description
                == "p.yaml:4:20: error: upstream.connect_timeout: '30' is not a duration; write a whole number with a unit: 250ms, 30s, 5m, 24h, 7d"
        )
    }

    @Test("an empty file is an error, not a crash")
    func emptyFile() {
        let result = PolicyDecoder.decode(yaml: "", file: Self.file)
        #expect(result.policy == nil)
        #expect(result.errors.count == 1)
        #expect(result.errors.first?.message.contains("empty") == true)
    }

    @Test("a file that cannot be read is an error naming the file")
    func unreadableFile() {
        let result = PolicyDecoder.decode(contentsOf: "/nonexistent/palisade-\(UInt64.random(in: 0...UInt64.max)).yaml")
        #expect(result.policy == nil)
        #expect(result.errors.first?.message == "cannot read the file: no such file or directory")
    }

    @Test("every error of a file is reported, not only the first")
    func severalErrors() throws {
        let yaml = """
            version: 1
            listn: 0.0.0.0:8080
            upstream:
              url: http://127.0.0.1:3000
              connect_timeout: 30
            routes:
              - name: api
                match: { prefix: api/ }
                guards:
                  - ip: { allow: [10.0.0.1/8] }
              - name: api
                match: { path: /b, methods: ["G T"] }
            log:
              headers: [authorization]
            """
        let result = PolicyDecoder.decode(yaml: yaml, file: Self.file)
        #expect(result.policy == nil)
        let found = Set(result.errors.map(\.position.keyPath))
        let expected: Set<String> = [
            "listn", "upstream.connect_timeout", "routes[0].match.prefix", "routes[0].guards[0].ip.allow[0]",
            "routes[1]", "routes[1].match.methods[0]", "log.headers[0]",
        ]
        #expect(found == expected, "\(result.errors.map(\.description).joined(separator: "\n"))")
        #expect(result.errors.count == expected.count)
        // Lines are those of the offending values.
        let lines = Dictionary(result.errors.map { ($0.position.keyPath, $0.position.line) }, uniquingKeysWith: min)
        #expect(lines["listn"] == 2)
        #expect(lines["upstream.connect_timeout"] == 5)
        #expect(lines["routes[0].match.prefix"] == 8)
        #expect(lines["routes[0].guards[0].ip.allow[0]"] == 10)
        #expect(lines["routes[1]"] == 11)
        #expect(lines["routes[1].match.methods[0]"] == 12)
        #expect(lines["log.headers[0]"] == 14)
    }

    // MARK: warnings

    @Test("a route in report mode loads with a warning")
    func reportModeRouteWarns() throws {
        let yaml = """
            version: 1
            upstream:
              url: http://127.0.0.1:3000
            routes:
              - name: api
                match: { prefix: /api/ }
                mode: report
                guards:
                  - ip: { allow: [10.0.0.0/8] }
            """
        let result = PolicyDecoder.decode(yaml: yaml, file: Self.file)
        #expect(result.policy != nil)
        #expect(result.errors.isEmpty)
        let warning = try #require(result.warnings.first)
        #expect(result.warnings.count == 1)
        #expect(warning.severity == .warning)
        #expect(warning.position.keyPath == "routes[0]")
        #expect(warning.position.line == 5)
        #expect(warning.message.contains("route 'api' is in report mode"))
        #expect(warning.description.contains(": warning: routes[0]: "))
    }

    @Test("a guard in report mode loads with a warning")
    func reportModeGuardWarns() throws {
        let yaml = """
            version: 1
            upstream:
              url: http://127.0.0.1:3000
            routes:
              - name: api
                match: { prefix: /api/ }
                guards:
                  - ip: { allow: [10.0.0.0/8], mode: report }
            """
        let result = PolicyDecoder.decode(yaml: yaml, file: Self.file)
        let policy = try #require(result.policy)
        #expect(policy.routes.first?.guards.first?.mode == .report)
        let warning = try #require(result.warnings.first)
        #expect(result.warnings.count == 1)
        #expect(warning.position.keyPath == "routes[0].guards[0].ip")
        #expect(warning.position.line == 8)
        #expect(warning.message.contains("guard 'ip' is in report mode"))
    }

    @Test("default: allow loads with a warning pointing at the key")
    func defaultAllowWarns() throws {
        let yaml = """
            version: 1
            upstream:
              url: http://127.0.0.1:3000
            routes:
              - name: api
                match: { prefix: /api/ }
            default: allow
            """
        let result = PolicyDecoder.decode(yaml: yaml, file: Self.file)
        let policy = try #require(result.policy)
        #expect(policy.defaultAction == .allow)
        let warning = try #require(result.warnings.first)
        #expect(result.warnings.count == 1)
        #expect(warning.position.keyPath == "default")
        #expect(warning.description.contains("default: allow forwards"), "\(warning)")
        // The warning should point where `default: allow` is written, like every other diagnostic.
        #expect(warning.position.line == 7, "\(warning)")
    }

    @Test("a route with an empty match warns that it matches everything")
    func matchEverythingWarns() throws {
        let yaml = """
            version: 1
            upstream:
              url: http://127.0.0.1:3000
            routes:
              - name: everything
                match: {}
              - name: api
                match: { prefix: /api/ }
            """
        let result = PolicyDecoder.decode(yaml: yaml, file: Self.file)
        #expect(result.policy != nil)
        let warning = try #require(result.warnings.first)
        #expect(result.warnings.count == 1)
        #expect(warning.position.keyPath == "routes[0]")
        #expect(warning.message.contains("route 'everything' matches every request"))
    }

    @Test("routing: case_insensitive is a boolean, off by default; other keys are refused")
    func routingSection() throws {
        let base = "version: 1\nupstream:\n  url: http://127.0.0.1:3000\n"
        #expect(PolicyDecoder.decode(yaml: base, file: Self.file).policy?.routing.caseInsensitive == false)
        let on = PolicyDecoder.decode(yaml: base + "routing: { case_insensitive: yes }\n", file: Self.file)
        #expect(on.policy?.routing.caseInsensitive == true)
        let bad = PolicyDecoder.decode(yaml: base + "routing: { case_insensitive: maybe }\n", file: Self.file)
        let error = try #require(bad.errors.first)
        #expect(error.position.keyPath == "routing.case_insensitive")
        #expect(error.position.line == 4)
        #expect(error.message.contains("expected true or false"))
        let unknown = PolicyDecoder.decode(yaml: base + "routing: { merge_slashes: false }\n", file: Self.file)
        #expect(unknown.errors.first?.message.contains("allowed here: case_insensitive") == true, "\(unknown.errors)")
    }

    @Test("a clean policy has no warnings")
    func noWarnings() {
        let yaml = """
            version: 1
            upstream:
              url: http://127.0.0.1:3000
            routes:
              - name: api
                match: { prefix: /api/, methods: [GET] }
            """
        let result = PolicyDecoder.decode(yaml: yaml, file: Self.file)
        #expect(result.policy != nil)
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
    }

    @Test("diagnostics come in line order, and the default: allow warning does not repeat its key")
    func diagnosticsInLineOrder() {
        // Decoding visits `secrets` and `client_ip` after `routes`; the listing must not.
        let yaml = """
            version: 1
            upstream:
              url: http://127.0.0.1:3000
            client_ip:
              from: x-forwarded-for
            secrets:
              hook: { value: "0123456789abcdef0123456789abcdef" }
            routes:
              - name: api
                mode: report
                match: { prefix: /api/ }
            default: allow
            """
        let result = PolicyDecoder.decode(yaml: yaml, file: Self.file)
        #expect(result.policy != nil)
        let lines = result.diagnostics.map(\.position.line)
        #expect(lines.count >= 4, "\(result.diagnostics)")
        #expect(lines == lines.sorted(), "\(result.diagnostics)")
        let rendered = result.diagnostics.map(\.description)
        #expect(
            rendered.contains { $0.hasSuffix("warning: default: allow forwards requests that match no route without any guard") },
            "\(rendered)")
        #expect(!rendered.contains { $0.contains("default: default:") }, "\(rendered)")
    }
}
