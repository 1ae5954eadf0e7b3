import Testing

@testable import PalisadeCore

/// The single reading of a request path: what routes match, guards see and the app is sent.
@Suite("Path normalisation")
struct PathNormalizerTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var target: String
        /// The path routes match, or nil when the target is refused.
        var path: String?
        /// The target the app is sent, when it differs from what the client sent.
        var rewritten: String?
        /// The refusal code, when refused.
        var code: String?
        var testDescription: String { target }

        static func normal(_ target: String, path: String? = nil) -> Case {
            Case(target: target, path: path ?? String(target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]))
        }
        static func rewritten(_ target: String, path: String, sent: String) -> Case {
            Case(target: target, path: path, rewritten: sent)
        }
        static func refused(_ target: String, _ code: String) -> Case { Case(target: target, code: code) }
    }

    static let cases: [Case] = [
        // Already normal: matched and forwarded as sent.
        .normal("/"),
        .normal("/internal/x"),
        .normal("/internal/"),
        .normal("/api/v1/items?sort=name&page=2"),
        .normal("/files/report.v2.pdf"),
        .normal("/.well-known/openid-configuration"),
        .normal("/search?q=a//b;c/../d"),  // the query is never normalised
        .normal("/a%20b/c%25d"),  // escapes of reserved or other characters stay as sent
        .normal("/caf%C3%A9"),
        .normal("*", path: "/"),
        // Empty segments are merged, and the app is sent the merged path.
        .rewritten("//internal/x", path: "/internal/x", sent: "/internal/x"),
        .rewritten("/internal//x?y=1", path: "/internal/x", sent: "/internal/x?y=1"),
        .rewritten("///", path: "/", sent: "/"),
        .rewritten("/a//", path: "/a/", sent: "/a/"),
        // Unreserved characters are decoded (RFC 3986 2.3), and the app is sent them decoded.
        .rewritten("/%69nternal/x", path: "/internal/x", sent: "/internal/x"),
        .rewritten("/%7Euser/a%2Db", path: "/~user/a-b", sent: "/~user/a-b"),
        .rewritten("/a%2eb", path: "/a.b", sent: "/a.b"),
        // `;` path parameters, literal or encoded: Tomcat and Spring drop them, and read `..;` as `..`.
        .refused("/internal;x/y", "path_parameter"),
        .refused("/internal%3bx/y", "path_parameter"),
        .refused("/internal%3Bx/y", "path_parameter"),
        .refused("/plain/..;/internal/x", "path_parameter"),
        .refused("/internal/x;jsessionid=1", "path_parameter"),
        // Dot segments, literal or encoded.
        .refused("/plain/../internal/x", "invalid_path"),
        .refused("/./internal/x", "invalid_path"),
        .refused("/plain/%2e%2E/internal/x", "invalid_path"),
        .refused("/plain/.%2e", "invalid_path"),
        .refused("/..", "invalid_path"),
        // Encoded separators, controls and malformed escapes.
        .refused("/plain%2f..%2finternal/x", "invalid_path"),
        .refused("/%2F%2finternal/x", "invalid_path"),
        .refused("/internal%2Fx", "invalid_path"),
        .refused("/internal%5cx", "invalid_path"),
        .refused("/internal%00x", "invalid_path"),
        .refused("/internal%0d%0ax", "invalid_path"),
        .refused("/internal%7f", "invalid_path"),
        .refused("/internal%zz", "invalid_path"),
        .refused("/internal%2", "invalid_path"),
        .refused("/internal/%", "invalid_path"),
        // Segments some frameworks trim.
        .refused("/webhooks/github.", "ambiguous_path_segment"),
        .refused("/webhooks/github./x", "ambiguous_path_segment"),
        .refused("/webhooks/github%2e", "ambiguous_path_segment"),
        .refused("/webhooks/github%20", "ambiguous_path_segment"),
        .refused("/webhooks/%20github", "ambiguous_path_segment"),
        .refused("/webhooks/github%20/x", "ambiguous_path_segment"),
        .refused("/internal.../x", "ambiguous_path_segment"),
    ]

    @Test("each target is normalised, forwarded or refused as documented", arguments: cases)
    func normalise(_ c: Case) throws {
        switch PathNormalizer.normalize(c.target) {
        case .success(let target):
            #expect(c.code == nil, "accepted, expected \(c.code ?? "")")
            #expect(String(target.path) == c.path)
            #expect(target.rewritten == c.rewritten)
        case .failure(let rejection):
            #expect(rejection.code == c.code, "refused with \(rejection.code), expected \(c.path ?? "refusal")")
            #expect(rejection.status == .badRequest)
        }
    }

    @Test("a normal path takes the fast scan and comes back as a slice of the target")
    func fastPath() {
        let target = "/api/v1/items.json?x=1"
        #expect(!PathNormalizer.needsWork(Substring("/api/v1/items.json").utf8))
        guard case .success(let normal) = PathNormalizer.normalize(target) else {
            Issue.record("refused")
            return
        }
        #expect(normal.rewritten == nil)
        // A slice of the target itself: nothing was copied.
        #expect(normal.path.base == target)
        for suspicious in ["//a", "/a;b", "/a%41", "/a./b", "/a."] {
            #expect(PathNormalizer.needsWork(Substring(suspicious).utf8), "\(suspicious)")
        }
    }
}
