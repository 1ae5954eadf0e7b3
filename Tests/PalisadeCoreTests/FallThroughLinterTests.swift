import PalisadeCore
import Testing

/// `palisade check` warns when a guarded route's requests (another method, the path with or
/// without its trailing slash) go to a route, or to `default: allow`, without its guards.
@Suite("Fall-through warnings")
struct FallThroughLinterTests {
    static func decode(_ routes: String, default action: String = "deny", extra: String = "") -> PolicyDecoder.Result {
        PolicyDecoder.decode(
            yaml: """
                version: 1
                upstream:
                  url: http://127.0.0.1:3000
                \(extra)
                routes:
                \(routes)
                default: \(action)
                """,
            file: "fall.yaml"
        )
    }

    static func fallThrough(_ result: PolicyDecoder.Result) -> [PolicyDiagnostic] {
        result.warnings.filter { $0.message.contains(" goes to ") || $0.message.contains(" go to ") }
    }

    @Test("a guarded route restricted to some methods warns when a later route takes the others")
    func otherMethods() throws {
        let result = Self.decode(
            """
              - name: internal
                match: { prefix: /internal/, methods: [GET, HEAD] }
                guards:
                  - ip: { allow: [10.0.0.0/8] }
              - name: rest
                match: { prefix: / }
            """)
        #expect(result.errors.isEmpty, "\(result.errors)")
        let warnings = Self.fallThrough(result)
        let methods = try #require(warnings.first { $0.message.contains("other methods") })
        #expect(
            methods.message
                == "route 'internal' guards only GET, HEAD; other methods on its paths go to route 'rest' without its ip guard"
        )
        #expect(methods.position.keyPath == "routes[0]")
        #expect(methods.position.line == 6, "\(methods)")
        #expect(methods.severity == .warning)
    }

    @Test("a guarded prefix with a trailing slash warns when the bare path goes to a less guarded route")
    func prefixWithoutSlash() throws {
        let result = Self.decode(
            """
              - name: internal
                match: { prefix: /internal/ }
                guards:
                  - ip: { allow: [10.0.0.0/8] }
              - name: rest
                match: { prefix: / }
            """)
        let warnings = Self.fallThrough(result)
        #expect(warnings.count == 1, "\(warnings)")
        let warning = try #require(warnings.first)
        #expect(warning.message.hasPrefix("route 'internal' guards '/internal/' but '/internal' goes to route 'rest' without its ip guard"))
        #expect(warning.position.keyPath == "routes[0]")
    }

    @Test("an exact guarded path warns when the path with a trailing slash is less guarded")
    func exactPathTrailingSlash() throws {
        let result = Self.decode(
            """
              - name: admin
                match: { path: /admin }
                guards:
                  - ip: { allow: [10.0.0.0/8] }
                  - api_key: { keys_file: /etc/palisade/keys.yaml }
              - name: rest
                match: { prefix: / }
                guards:
                  - ip: { allow: [10.0.0.0/8] }
            """)
        let warning = try #require(Self.fallThrough(result).first)
        #expect(warning.message.hasPrefix("route 'admin' guards '/admin' but '/admin/' goes to route 'rest' without its api_key guard"))
    }

    @Test("default: allow is a less guarded fall-through too")
    func defaultAllow() throws {
        let result = Self.decode(
            """
              - name: hook
                match: { path: /webhooks/github, methods: [POST] }
                guards:
                  - ip: { allow: [10.0.0.0/8] }
            """, default: "allow")
        let messages = Self.fallThrough(result).map(\.message)
        #expect(messages.contains("route 'hook' guards only POST; other methods on its paths go to default: allow without its ip guard"))
        #expect(messages.contains { $0.hasPrefix("route 'hook' guards '/webhooks/github' but '/webhooks/github/' goes to default: allow") })
    }

    @Test("no warning when what falls through is guarded alike, refused, or on another host")
    func quietCases() throws {
        let guardedAlike = Self.decode(
            """
              - name: internal-read
                match: { prefix: /internal/, methods: [GET] }
                guards:
                  - ip: { allow: [10.0.0.0/8] }
              - name: internal-other
                match: { prefix: /internal }
                guards:
                  - ip: { allow: [10.1.0.0/16] }
              - name: rest
                match: { prefix: / }
            """)
        #expect(Self.fallThrough(guardedAlike).isEmpty, "\(Self.fallThrough(guardedAlike))")

        let deniedByDefault = Self.decode(
            """
              - name: internal
                match: { prefix: /internal/, methods: [GET] }
                guards:
                  - ip: { allow: [10.0.0.0/8] }
              - name: public
                match: { prefix: /public/ }
            """)
        #expect(deniedByDefault.diagnostics.isEmpty, "\(deniedByDefault.diagnostics)")

        let otherHost = Self.decode(
            """
              - name: admin
                match: { prefix: /internal/, host: admin.example.com, methods: [GET] }
                guards:
                  - ip: { allow: [10.0.0.0/8] }
              - name: www
                match: { prefix: /, host: www.example.com }
            """)
        #expect(Self.fallThrough(otherHost).isEmpty, "\(Self.fallThrough(otherHost))")

        // A route in report mode guards nothing, so nothing can be walked around.
        let report = Self.decode(
            """
              - name: internal
                match: { prefix: /internal/, methods: [GET] }
                mode: report
                guards:
                  - ip: { allow: [10.0.0.0/8] }
              - name: rest
                match: { prefix: / }
            """)
        #expect(Self.fallThrough(report).isEmpty, "\(Self.fallThrough(report))")
    }

    @Test("with routing.case_insensitive, paths are compared folded")
    func caseInsensitive() throws {
        let result = Self.decode(
            """
              - name: internal
                match: { prefix: /Internal/ }
                guards:
                  - ip: { allow: [10.0.0.0/8] }
              - name: bare
                match: { path: /internal }
            """, extra: "routing: { case_insensitive: true }")
        let warning = try #require(Self.fallThrough(result).first)
        #expect(warning.message.hasPrefix("route 'internal' guards '/internal/' but '/internal' goes to route 'bare'"))
    }

    @Test("a path or prefix that normalisation never produces warns that the route never matches")
    func unreachablePatterns() throws {
        let result = Self.decode(
            """
              - name: doubled
                match: { prefix: //internal/ }
              - name: param
                match: { path: /a;b }
              - name: encoded
                match: { path: /%61dmin }
              - name: trailing-dot
                match: { path: /webhooks/github. }
              - name: fine-prefix
                match: { prefix: /files. }
              - name: well-known
                match: { prefix: /.well-known/ }
              - name: dot-prefix
                match: { prefix: /static/. }
            """)
        let never = result.warnings.filter { $0.message.contains("never matches") }
        #expect(never.map(\.position.keyPath) == ["routes[0]", "routes[1]", "routes[2]", "routes[3]"], "\(never)")
        #expect(
            never.first?.message
                == "route 'doubled' never matches: request paths are normalised before routing, and '//internal/' is not a normal path"
        )
    }
}
