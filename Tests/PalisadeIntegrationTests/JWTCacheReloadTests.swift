import Foundation
import PalisadeTesting
import Testing

@testable import PalisadeCore

/// Each reload builds new jwt guards, each with its own per-loop cache of verified tokens. The
/// caches of retired guards must go with them: before, every reload followed by fresh tokens left
/// another full cache behind on every loop, for the life of the process.
@Suite("JWT cache across reloads", .serialized)
struct JWTCacheReloadTests {
    static let secret = "hs-shared-secret-for-reload-tests-0123456789"

    static func policy(generation: Int) -> String {
        """
        version: 1
        listen: 127.0.0.1:0
        upstream: { url: "{{UPSTREAM}}" }
        secrets:
          hs: { value: "\(secret)" }
        response_headers:
          x-generation: "\(generation)"
        routes:
          - name: api
            match: { prefix: /api/ }
            guards:
              - jwt: { secret: hs, algorithms: [HS256] }
        default: deny
        """
    }

    /// `count` distinct HS256 tokens minted by PyJWT in one run.
    static func tokens(_ count: Int, tag: String) throws -> [String] {
        let script = """
            import jwt, sys, time
            now = int(time.time())
            for i in range(int(sys.argv[1])):
                print(jwt.encode({"sub": "user-%d" % i, "jti": "%s-%d" % (sys.argv[2], i), "iat": now, "exp": now + 600},
                                 sys.argv[3], algorithm="HS256"))
            """
        return try Python.run(script, arguments: [String(count), tag, secret]).split(separator: "\n").map(String.init)
    }

    @Test("after several reloads each followed by new tokens, each loop holds only the live guard's cache")
    func retiredCachesAreFreed() async throws {
        try await ProxyHarness.with(yaml: Self.policy(generation: 1)) { harness in
            let perGeneration = 25
            for generation in 1...4 {
                if generation > 1 {
                    try harness.writePolicy(Self.policy(generation: generation))
                    guard case .success = harness.runtime.reload(path: harness.policyPath) else {
                        Issue.record("reload \(generation) refused")
                        return
                    }
                }
                for token in try Self.tokens(perGeneration, tag: "g\(generation)") {
                    let response = try await RawClient.get(
                        "/api/x", port: harness.proxyPort, headers: [("Authorization", "Bearer \(token)")])
                    #expect(response.status == 200)
                    #expect(response.header("x-generation") == "\(generation)")
                }
            }
            let sizes = try await harness.runtime.jwtCacheSizes()
            #expect(sizes.count == 1)
            for loop in sizes {
                // One jwt guard in force: one cache, holding only the tokens it verified.
                #expect(loop.tokenCaches == 1)
                #expect(loop.tokens == perGeneration)
            }
        }
    }
}
