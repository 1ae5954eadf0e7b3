import Foundation
import PalisadeCore
import PalisadeTesting
import Testing

/// Paths and hosts the app reads as a guarded resource never reach it through a less guarded
/// route: through the real proxy, `/internal/` guarded by `ip` (the test client, 127.0.0.1, is
/// outside the allow list) with a catch-all after it.
@Suite("Path normalisation through the proxy", .serialized)
struct PathNormalizationTests {
    static func policy(extra: String = "") -> String {
        ProxyHarness.policy(
            """
            \(extra)
            routes:
              - name: internal
                match: { prefix: /internal/ }
                guards:
                  - ip: { allow: [10.0.0.0/8] }
              - name: github
                match: { path: /webhooks/github, methods: [POST] }
                guards:
                  - ip: { allow: [10.0.0.0/8] }
              - name: admin
                match: { prefix: /, host: admin.example.com. }
                guards:
                  - ip: { allow: [10.0.0.0/8] }
              - name: everything
                match: { prefix: / }
            default: deny
            """
        )
    }

    struct Attack: Sendable, CustomTestStringConvertible {
        var name: String
        var method = "GET"
        var target: String
        var host = "127.0.0.1"
        /// 403 when the request now reaches its guarded route, 400 when it is refused as ambiguous.
        var status: Int
        var code: String
        var testDescription: String { name }
    }

    static let attacks: [Attack] = [
        Attack(name: "empty segment merged into the guarded route", target: "//internal/x", status: 403, code: "ip_denied"),
        Attack(name: "empty segments inside", target: "/internal//x", status: 403, code: "ip_denied"),
        Attack(name: "encoded unreserved letter", target: "/%69nternal/x", status: 403, code: "ip_denied"),
        Attack(name: "path parameter", target: "/internal;x/y", status: 400, code: "path_parameter"),
        Attack(name: "encoded path parameter", target: "/internal%3bx/y", status: 400, code: "path_parameter"),
        Attack(name: "encoded path parameter, upper case", target: "/internal%3Bx/y", status: 400, code: "path_parameter"),
        Attack(name: "dot-dot with a parameter", target: "/plain/..;/internal/x", status: 400, code: "path_parameter"),
        Attack(name: "trailing dot", method: "POST", target: "/webhooks/github.", status: 400, code: "ambiguous_path_segment"),
        Attack(name: "trailing escaped space", method: "POST", target: "/webhooks/github%20", status: 400, code: "ambiguous_path_segment"),
        Attack(name: "encoded slash", target: "/plain%2f..%2finternal/x", status: 400, code: "invalid_path"),
        Attack(name: "Host with a trailing dot", target: "/x", host: "admin.example.com.", status: 403, code: "ip_denied"),
        Attack(name: "Host with a trailing dot and a port", target: "/x", host: "ADMIN.example.com.:8080", status: 403, code: "ip_denied"),
        Attack(name: "Host without the dot the policy wrote", target: "/x", host: "admin.example.com", status: 403, code: "ip_denied"),
    ]

    @Test("never reaches the app unguarded", arguments: attacks)
    func attack(_ a: Attack) async throws {
        try await ProxyHarness.with(yaml: Self.policy()) { harness in
            let bytes = RawClient.request(a.method, a.target, host: a.host)
            let outcome = try await RawClient.send(bytes, port: harness.proxyPort, requestMethods: [a.method])
            let response = try #require(outcome.first, "no response: \(String(decoding: outcome.raw, as: UTF8.self))")
            #expect(harness.upstream.requests.isEmpty, "reached the app: \(harness.upstream.requests.map(\.head.uri))")
            #expect(response.status == a.status)
            #expect(response.json?["error"] as? String == a.code, "\(response.bodyText)")
        }
    }

    @Test("with routing.case_insensitive, /INTERNAL/x is guarded as /internal/x")
    func caseInsensitive() async throws {
        try await ProxyHarness.with(yaml: Self.policy(extra: "routing: { case_insensitive: true }")) { harness in
            for target in ["/INTERNAL/x", "/Internal/x", "//iNTERNAL/x", "/%49nternal/x"] {
                harness.upstream.reset()
                let response = try await RawClient.get(target, port: harness.proxyPort)
                #expect(response.status == 403, "\(target)")
                #expect(response.json?["error"] as? String == "ip_denied")
                #expect(harness.upstream.requests.isEmpty, "\(target) reached the app")
            }
            // Other paths still go on, in the case the client wrote.
            harness.upstream.reset()
            let other = try await RawClient.get("/Public/Page?Q=A", port: harness.proxyPort)
            #expect(other.status == 200)
            #expect(harness.upstream.requests.map(\.head.uri) == ["/Public/Page?Q=A"])
        }
    }

    @Test("an ordinary path with a query reaches the app unchanged")
    func ordinaryPathUnchanged() async throws {
        try await ProxyHarness.with(yaml: Self.policy()) { harness in
            let targets = [
                "/public/items.json?sort=name&page=2",
                "/public/a%20b/caf%C3%A9?q=a//b;c/../d&r=%2F",
                "/?x=1",
            ]
            for target in targets {
                harness.upstream.reset()
                let response = try await RawClient.get(target, port: harness.proxyPort)
                #expect(response.status == 200, "\(target)")
                #expect(harness.upstream.requests.map(\.head.uri) == [target])
            }
        }
    }

    @Test("a path that was normalised is sent to the app as it was routed, with its query")
    func normalisedPathForwarded() async throws {
        try await ProxyHarness.with(yaml: Self.policy()) { harness in
            let response = try await RawClient.get("//public//%7Euser/a%2Db?x=1//y;z", port: harness.proxyPort)
            #expect(response.status == 200)
            #expect(harness.upstream.requests.map(\.head.uri) == ["/public/~user/a-b?x=1//y;z"])
            // The access line records the target as the client sent it.
            let lines = await harness.accessLines()
            #expect(lines.last?["path"] as? String == "//public//%7Euser/a%2Db")
            #expect(lines.last?["route"] as? String == "everything")
        }
    }
}
