import Foundation
import PalisadeCore
import Testing

/// Key material a jwt guard refuses when the policy loads.
@Suite("JWT configuration")
struct JWTConfigurationTests {
    static func load(_ guardYAML: String, secret: String = "0123456789abcdef0123456789abcdef") -> Result<Void, PolicyLoadError> {
        let yaml = """
            version: 1
            upstream: { url: "http://127.0.0.1:3000" }
            secrets:
              hs: { value: "\(secret)" }
            routes:
              - name: api
                match: { prefix: / }
                guards:
                  - \(guardYAML)
            """
        do {
            _ = try PlanCompiler.load(yaml: yaml, file: "jwt.yaml", generation: 1)
            return .success(())
        } catch let error as PolicyLoadError {
            return .failure(error)
        } catch {
            return .failure(PolicyLoadError(diagnostics: []))
        }
    }

    @Test("an HS secret shorter than the hash output is refused (RFC 7518 3.2)")
    func shortSecret() {
        guard case .failure(let error) = Self.load("jwt: { secret: hs, algorithms: [HS256] }", secret: "short") else {
            Issue.record("a 5-byte HS256 secret was accepted")
            return
        }
        #expect(error.description.contains("at least 32 bytes"))
        guard case .success = Self.load("jwt: { secret: hs, algorithms: [HS256] }") else {
            Issue.record("a 32-byte HS256 secret was refused")
            return
        }
        guard case .failure = Self.load("jwt: { secret: hs, algorithms: [HS512] }") else {
            Issue.record("a 32-byte HS512 secret was accepted")
            return
        }
    }

    @Test("a JWKS with one kid twice is refused")
    func duplicateKid() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("jwks-\(UUID().uuidString).json").path
        let key = #"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"a"}"#
        try #"{"keys":[\#(key),\#(key)]}"#.write(toFile: path, atomically: true, encoding: .utf8)
        guard case .failure(let error) = Self.load("jwt: { jwks: { file: \(path) }, algorithms: [EdDSA] }") else {
            Issue.record("a JWKS with a duplicate kid was accepted")
            return
        }
        #expect(error.description.contains("listed twice"))
        try #"{"keys":[\#(key)]}"#.write(toFile: path, atomically: true, encoding: .utf8)
        guard case .success = Self.load("jwt: { jwks: { file: \(path) }, algorithms: [EdDSA] }") else {
            Issue.record("a JWKS with one Ed25519 key was refused")
            return
        }
    }
}
